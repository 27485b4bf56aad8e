"""Fixtures for the hardening tests: servers with their own settings, a per-run marker
phrase, and a runner for `stride serve` start-ups that are meant to fail.

Servers come from `server_factory` (tests/conftest.py), so their logs land in
test-artifacts/logs/<name>.log, where the privacy test scans them. The privacy test is
moved to the end of the run so it sees every server log the run produced.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from service.config import ROOT

LOG_DIR = ROOT / "test-artifacts" / "logs"
# The one server that is *meant* to log message text (the privacy test's positive control).
OPT_IN_LOG_NAME = "hardening_log_messages_opt_in"
ERROR_KEYS = ("message", "type", "code")


def pytest_collection_modifyitems(session, config, items) -> None:
    """Run the log scan last: it checks the logs of every server the run started."""
    last = [item for item in items if item.nodeid.split("::")[0].endswith("hardening/test_privacy_logs.py")]
    if last:
        items[:] = [item for item in items if item not in last] + last


@pytest.fixture(scope="session")
def marker() -> str:
    """A phrase no article, rule or log line contains; unique per run because logs append."""
    return f"quokkamarker{uuid.uuid4().hex[:12]}"


def question(text: str) -> dict:
    return {"messages": [{"role": "user", "content": text}]}


def assert_json_error(response: httpx.Response, status: int | None = None) -> dict:
    """A 4xx/5xx a person can read: JSON {"error": {"message", "type", "code"}}."""
    if status is not None:
        assert response.status_code == status, response.text[:300]
    assert response.headers.get("content-type", "").startswith("application/json"), response.headers
    body = response.json()
    assert set(ERROR_KEYS) <= set(body["error"]), body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"].strip(), body
    return body["error"]


@pytest.fixture(scope="session")
def json_error():
    return assert_json_error


@pytest.fixture(scope="session")
def guarded_server(server_factory):
    """Rate limited to 5 answers a minute per client address."""
    return server_factory("hardening_rate_limited", STRIDE_RATE_LIMIT="5/minute")


@pytest.fixture(scope="session")
def operator_server(server_factory, tmp_path_factory):
    """Feedback stored in a writable tmp SQLite file, an admin token, a two-site allow-list."""
    db = tmp_path_factory.mktemp("feedback") / "feedback.sqlite3"
    return server_factory(
        "hardening_operator",
        STRIDE_RATE_LIMIT="",
        STRIDE_FEEDBACK_ENABLED="true",
        STRIDE_FEEDBACK_DB=str(db),
        STRIDE_ADMIN_TOKEN="s3cret-operator-token",
        STRIDE_ALLOWED_ORIGINS="https://club.example,https://www.club.example",
    )


@dataclass
class StartResult:
    returncode: int
    output: str

    @property
    def lines(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.strip()]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def start_stride():
    """`start_stride(env, pythonpath=None)`: run `stride serve --no-build` to completion (or timeout)."""

    def run(env: dict[str, str], *, pythonpath: Path | None = None, timeout: float = 60.0) -> StartResult:
        full_env = {**os.environ, "STRIDE_RATE_LIMIT": "", **env}
        if pythonpath is not None:
            full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), full_env.get("PYTHONPATH", "")]))
        port = _free_port()
        try:
            done = subprocess.run(
                [sys.executable, "-m", "stride", "serve", "--no-build", "--port", str(port)],
                cwd=ROOT,
                env=full_env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:  # it started serving instead of refusing
            pytest.fail(f"stride serve did not refuse to start within {timeout} s: {exc.stderr!r}")
        return StartResult(done.returncode, (done.stdout or "") + (done.stderr or ""))

    return run

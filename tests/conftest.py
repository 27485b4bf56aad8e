"""Shared fixtures, built once per session: the real index, the real engine, a real server.

The index is built from the real corpus with the real model (reused when the artifact on
disk is already current), and the live server is a uvicorn subprocess on a free loopback
port, so tests exercise exactly what `make serve` runs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from index.artifact import IndexUnavailable, check
from index.build import build
from service.config import ROOT, Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
LOG_DIR = ROOT / "test-artifacts" / "logs"


@pytest.fixture(scope="session")
def settings() -> Settings:
    settings = Settings(_env_file=None, rate_limit="", feedback_enabled=False)
    try:
        check(settings.index_dir, settings.corpus_dir)
    except IndexUnavailable:
        build(settings.corpus_dir, settings.index_dir)
    return settings


@pytest.fixture(scope="session")
def artifact(engine):
    return engine.artifact  # loaded (and checked) once, by the engine


@pytest.fixture(scope="session")
def engine(settings: Settings):
    from service.engine import Engine

    return Engine.load(settings)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """A real `stride` server process; `url` is its base URL."""

    def __init__(self, env: dict[str, str], name: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{name}.log"
        self._log = self.log_path.open("ab")
        full_env = {**os.environ, "STRIDE_PORT": str(self.port), "STRIDE_ALLOWED_ORIGINS": self.url, **env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stride", "serve", "--no-build", "--port", str(self.port)],
            cwd=ROOT,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout} s; see {self.log_path}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._log.close()


@pytest.fixture(scope="session")
def live_server(settings: Settings) -> Iterator[str]:
    """Base URL of a server with rate limiting off (contract and browser tests)."""
    server = LiveServer({"STRIDE_RATE_LIMIT": "", "STRIDE_FEEDBACK_ENABLED": "false"}, "live_server")
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def server_factory(settings: Settings) -> Iterator:
    """Start extra servers with their own settings (rate limits, feedback store...)."""
    servers: list[LiveServer] = []

    def start(name: str, **env: str) -> LiveServer:
        server = LiveServer(env, name)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()

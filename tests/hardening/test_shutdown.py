"""SIGTERM drains in-flight requests before the process exits, and the exit is clean (0).

The server is our own process (not a session fixture) because the test ends its life.
In flight: 24 of the slowest valid requests (just under 64 KB), each fully sent before the
signal, plus a streaming answer whose client has not read the body yet.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time

import httpx

from service.config import ROOT

LOG_DIR = ROOT / "test-artifacts" / "logs"
IN_FLIGHT = 24


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(name: str) -> tuple[subprocess.Popen, str, object]:
    port = _free_port()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = (LOG_DIR / f"{name}.log").open("ab")
    log.seek(0, os.SEEK_END)
    # A generous per-request timeout: on a busy 2-core CI box the in-flight requests share the
    # CPU, and a 503 for slowness is not what this test is about. One answer at a time: the
    # requests are read at once and then wait their turn, so they are surely still in flight
    # at the signal however fast a single answer has become.
    env = {**os.environ, "STRIDE_RATE_LIMIT": "", "STRIDE_PORT": str(port), "STRIDE_REQUEST_TIMEOUT_S": "60", "STRIDE_MAX_CONCURRENCY": "1"}
    process = subprocess.Popen([sys.executable, "-m", "stride", "serve", "--no-build", "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"server exited with {process.returncode}"
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url, log
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise AssertionError("server not ready in 60 s")


def slow_question(i: int, marker: str) -> dict:
    """Close to the slowest valid request: 15 turns of ~4,000 characters (just under 64 KB),
    the last an elliptical follow-up, so earlier turns are carried into retrieval as well."""
    words = ("my hip hurts when I run and my groin aches after long runs " * 80)[: 4000 - 40]
    turns = [{"role": "user" if t % 2 == 0 else "assistant", "content": words} for t in range(14)]
    return {"messages": [*turns, {"role": "user", "content": f"and {words[:3900]} {marker} {i}"}]}


def test_sigterm_drains_in_flight_requests(marker):
    process, url, log = _start("hardening_shutdown")
    log_start = log.tell()
    port = int(url.rsplit(":", 1)[1])
    connections: list[http.client.HTTPConnection] = []
    try:
        # A streamed answer whose body we read only after the signal.
        stream_client = httpx.Client(timeout=60)
        stream = stream_client.stream("POST", f"{url}/api/chat", json={**slow_question(99, marker), "stream": True})
        response = stream.__enter__()
        assert response.status_code == 200
        # In flight = fully sent before the signal: each request is written out on its own
        # connection now and its response read only after SIGTERM.
        for i in range(IN_FLIGHT):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            connection.request("POST", "/api/chat", body=json.dumps(slow_question(i, marker)), headers={"Content-Type": "application/json"})
            connections.append(connection)
        time.sleep(0.15)  # the server reads them all at once; it answers them one at a time
        assert process.poll() is None
        process.send_signal(signal.SIGTERM)
        body = "".join(response.iter_text())
        stream.__exit__(None, None, None)
        stream_client.close()
        results = []
        for connection in connections:
            reply = connection.getresponse()
            results.append(reply.status if json.loads(reply.read()).get("answer") else "empty")
            connection.close()
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    assert "event: done" in body, body[-300:]
    assert results == [200] * IN_FLIGHT, results
    assert code == 0, f"exit status {code} after SIGTERM"
    # The server's own log shows answers finished after it began shutting down (they were in flight).
    lines = [json.loads(line) for line in (LOG_DIR / "hardening_shutdown.log").read_bytes()[log_start:].decode().splitlines() if line.startswith("{")]
    shutdown_at = next(i for i, line in enumerate(lines) if line["msg"] == "Shutting down")
    drained = [line for line in lines[shutdown_at:] if line["msg"] == "request" and line.get("path") == "/api/chat"]
    assert drained and all(line["status"] == 200 for line in drained), lines[shutdown_at:]
    # ... and it really stopped listening.
    try:
        httpx.get(f"{url}/healthz", timeout=2)
        raise AssertionError("still serving after exit")
    except httpx.HTTPError:
        pass

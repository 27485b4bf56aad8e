"""Request body limit, per-request timeout and bounded concurrency: one slow or huge
request cannot starve the rest.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

import httpx
import pytest

SLOW = ("my hip hurts when I run and my groin aches after long runs " * 80)[:4000]


def question(text: str) -> dict:
    return {"messages": [{"role": "user", "content": text}]}


def heaviest_valid_body() -> dict:
    """Close to the 64 KB limit: 15 turns of 4,000 characters, the last an elliptical
    follow-up so the earlier turns are carried into retrieval too."""
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": SLOW} for i in range(14)]
    turns.append({"role": "user", "content": "and " + SLOW[:3990]})
    body = {"messages": turns}
    assert len(json.dumps(body)) < 64 * 1024
    return body


# -- body size ---------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["/api/chat", "/v1/chat/completions", "/api/feedback"])
def test_body_over_64_kb_is_413_json(live_server, json_error, route):
    body = json.dumps(question("hip " * 20_000)).encode()
    assert len(body) > 64 * 1024
    response = httpx.post(f"{live_server}{route}", content=body, headers={"content-type": "application/json"}, timeout=30)
    error = json_error(response, 413)
    assert "64 KB" in error["message"] and error["code"] == "request_too_large"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_chunked_body_over_64_kb_is_413_json(live_server, json_error):
    """No Content-Length to trust: the limit is enforced while reading."""

    def chunks():
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(70):
            yield b"x" * 1024
        yield b'"}]}'

    response = httpx.post(f"{live_server}/api/chat", content=chunks(), headers={"content-type": "application/json"}, timeout=30)
    json_error(response, 413)


def test_body_just_under_the_limit_is_answered(live_server):
    response = httpx.post(f"{live_server}/api/chat", json=heaviest_valid_body(), timeout=30)
    assert response.status_code == 200, response.text[:300]


# -- a slow request does not starve the others --------------------------------------------


async def _timed(client: httpx.AsyncClient, body: dict) -> tuple[int, float]:
    started = time.perf_counter()
    response = await client.post("/api/chat", json=body)
    return response.status_code, time.perf_counter() - started


def test_heavy_requests_do_not_starve_short_ones(live_server):
    """8 of the heaviest valid requests in flight; short questions and health checks still
    get through, each well within the per-request timeout."""

    async def scenario():
        async with httpx.AsyncClient(base_url=live_server, timeout=60, limits=httpx.Limits(max_connections=64)) as client:
            heavy = [asyncio.create_task(_timed(client, heaviest_valid_body())) for _ in range(8)]
            await asyncio.sleep(0.05)
            short = await asyncio.gather(*[_timed(client, question("what stretches help tight hip flexors?")) for _ in range(16)])
            started = time.perf_counter()
            health = await client.get("/healthz")
            health_s = time.perf_counter() - started
            return await asyncio.gather(*heavy), short, health.status_code, health_s

    heavy, short, health_status, health_s = asyncio.run(scenario())
    assert [status for status, _ in heavy] == [200] * 8
    assert [status for status, _ in short] == [200] * 16
    assert max(seconds for _, seconds in short) < 10.0  # the per-request timeout (2 busy cores: generous)
    assert health_status == 200 and health_s < 2.0  # the event loop is never blocked by answering


@pytest.fixture(scope="module")
def strict_server(server_factory):
    """One answer at a time, 50 ms each at most: timeouts and a full house are easy to reach."""
    return server_factory("hardening_strict_limits", STRIDE_RATE_LIMIT="", STRIDE_MAX_CONCURRENCY="1", STRIDE_REQUEST_TIMEOUT_S="0.05")


def test_per_request_timeout_is_a_503_json_with_retry_after(strict_server, json_error):
    response = httpx.post(f"{strict_server.url}/api/chat", json=heaviest_valid_body(), timeout=30)
    error = json_error(response, 503)
    assert error["code"] == "timeout" and response.headers["retry-after"] == "1"
    metrics = httpx.get(f"{strict_server.url}/metrics").text
    assert float(re.search(r"^stride_answer_timeouts_total (\S+)$", metrics, re.MULTILINE).group(1)) >= 1


def test_bounded_concurrency_sheds_load_instead_of_queueing_forever(strict_server, json_error):
    """With one slot, a burst gets fast 503s (busy or timeout) rather than an unbounded queue,
    and the server stays responsive."""

    async def burst():
        async with httpx.AsyncClient(base_url=strict_server.url, timeout=30, limits=httpx.Limits(max_connections=32)) as client:
            started = time.perf_counter()
            responses = await asyncio.gather(*[client.post("/api/chat", json=heaviest_valid_body()) for _ in range(16)])
            elapsed = time.perf_counter() - started
            health = await client.get("/readyz")
            return responses, elapsed, health

    responses, elapsed, health = asyncio.run(burst())
    codes = set()
    for response in responses:
        assert response.status_code in (200, 503), response.text[:200]
        if response.status_code == 503:
            codes.add(json_error(response)["code"])
            assert response.headers["retry-after"]
    assert codes and codes <= {"busy", "timeout"}
    assert elapsed < 20.0  # nobody waited for 16 heavy answers in a row
    assert health.status_code == 200

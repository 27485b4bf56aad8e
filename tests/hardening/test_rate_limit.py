"""Per-client rate limiting: a flood from one address gets 429 + Retry-After + a JSON
message, while another client is still served.

On loopback the two clients are told apart by source address: the flooder connects from
127.0.0.1, the neighbour binds its socket to 127.0.0.2 (the server keys on
request.client.host). The server allows 5 answers a minute per address.
"""

from __future__ import annotations

import re

import httpx


def question(text: str) -> dict:
    return {"messages": [{"role": "user", "content": text}]}


def rate_limited_total(text: str, route: str) -> float:
    match = re.search(rf'^stride_rate_limited_total{{route="{re.escape(route)}"}} (\S+)$', text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_flood_is_limited_while_a_neighbour_is_served(guarded_server, json_error, marker):
    url = guarded_server.url
    before = rate_limited_total(httpx.get(f"{url}/metrics").text, "/api/chat")
    flooder = httpx.Client(base_url=url, timeout=30)
    neighbour = httpx.Client(base_url=url, timeout=30, transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    try:
        statuses = [flooder.post("/api/chat", json=question(f"why do my hips hurt? {marker} {i}")).status_code for i in range(12)]
        assert statuses[:5] == [200] * 5, statuses
        assert set(statuses[5:]) == {429}, statuses

        limited = flooder.post("/api/chat", json=question("what stretches help?"))
        error = json_error(limited, 429)
        assert error["type"] == "rate_limit_error" and error["code"] == "rate_limited"
        retry_after = limited.headers.get("retry-after")
        assert retry_after and retry_after.isdigit() and 1 <= int(retry_after) <= 60, retry_after
        assert retry_after in error["message"]  # the person is told how long to wait
        # The OpenAI-compatible endpoint shares the budget of the address.
        json_error(flooder.post("/v1/chat/completions", json=question("hello")), 429)

        # Meanwhile a different client address is answered normally.
        for _ in range(3):
            served = neighbour.post("/api/chat", json=question("what stretches help tight hip flexors?"))
            assert served.status_code == 200, served.text
            assert served.json()["citations"]
        # Reading the articles and health checks are not rationed.
        assert flooder.get("/api/documents").status_code == 200
        assert flooder.get("/healthz").status_code == 200
    finally:
        flooder.close()
        neighbour.close()
    after = rate_limited_total(httpx.get(f"{url}/metrics").text, "/api/chat")
    assert after - before >= 8  # 7 of the flood + the follow-up


def test_feedback_has_its_own_bucket(server_factory):
    server = server_factory("rate_limit_buckets", STRIDE_RATE_LIMIT="2/minute")
    chat = {"messages": [{"role": "user", "content": "why do my hips hurt when I run"}]}
    statuses = [httpx.post(f"{server.url}/api/chat", json=chat, timeout=30).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    feedback = httpx.post(f"{server.url}/api/feedback", json={"message_id": "abc", "rating": "up"}, timeout=30)
    assert feedback.status_code == 202

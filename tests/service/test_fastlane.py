"""The /api/chat fast lane answers exactly as the FastAPI route would, for every body.

Two apps over the same engine, one with the lane and one without it; every request is
sent to both and the responses must agree byte for byte (status, body, the headers a
client reads). The live-server contract tests in test_api_chat.py run through the lane.
"""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from service.api.fastlane import ChatFastLane
from service.app import create_app

QUESTION = {"role": "user", "content": "why do my hips hurt when I run"}
# (body, content type): the lane must take some and hand the rest to the route unchanged.
CASES = [
    (json.dumps({"messages": [QUESTION]}), "application/json"),
    (json.dumps({"messages": [QUESTION], "stream": False, "extra": 1}), "application/json; charset=utf-8"),
    (json.dumps({"messages": [{"role": "user", "content": "I fell and can't put weight on my leg"}]}), "application/json"),
    (json.dumps({"messages": [{"role": "user", "content": "best banana bread recipe?"}]}), "application/json"),
    (json.dumps({"messages": [QUESTION, {"role": "assistant", "content": "..."}, {"role": "user", "content": "how do I stretch it?"}]}), None),
    (json.dumps({"messages": [QUESTION]}), "application/vnd.api+json"),
    (json.dumps({"messages": [QUESTION]}), "text/plain"),
    (json.dumps({"messages": [{"role": "assistant", "content": "hi"}]}), "application/json"),
    (json.dumps({"messages": []}), "application/json"),
    (json.dumps({"messages": [{"role": "user", "content": "   "}]}), "application/json"),
    (json.dumps({"messages": [{"role": "user", "content": "x" * 4001}]}), "application/json"),
    (json.dumps({"messages": [QUESTION] * 51}), "application/json"),
    (json.dumps({"messages": [{"role": "system", "content": "hi"}]}), "application/json"),
    (json.dumps({"messages": [{"role": "user", "content": 5}]}), "application/json"),
    (json.dumps({"messages": [QUESTION], "stream": "yes"}), "application/json"),
    (json.dumps([QUESTION]), "application/json"),
    ('{"messages": [{"role": "user", "content": "\\ud800 hip"}]}', "application/json"),
    ('{"messages": [', "application/json"),
    ("", "application/json"),
    ("\xff\xfe", "application/json"),
]
CLIENT_HEADERS = ("content-type", "content-length", "retry-after", "x-content-type-options", "content-security-policy", "referrer-policy")


@pytest.fixture(scope="module")
def clients(settings, engine):
    with_lane = create_app(settings, engine=engine)
    without = create_app(settings, engine=engine)
    without.user_middleware = [m for m in without.user_middleware if m.cls is not ChatFastLane]
    assert len(without.user_middleware) == len(with_lane.user_middleware) - 1
    return [TestClient(app, base_url="http://stride.test", raise_server_exceptions=False) for app in (with_lane, without)]


def post(client: TestClient, body: str, content_type: str | None) -> httpx.Response:
    headers = {"content-type": content_type} if content_type else {}
    request = client.build_request("POST", "/api/chat", content=body.encode("utf-8", "surrogatepass"), headers=headers)
    if content_type is None:
        request.headers.pop("content-type", None)
    return client.send(request)


@pytest.mark.parametrize(("body", "content_type"), CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_the_lane_answers_as_the_route_does(clients, body, content_type):
    lane, route = (post(c, body, content_type) for c in clients)
    assert lane.status_code == route.status_code, (lane.text, route.text)
    assert lane.content == route.content
    assert {h: lane.headers.get(h) for h in CLIENT_HEADERS} == {h: route.headers.get(h) for h in CLIENT_HEADERS}


def test_the_lane_takes_the_common_case_and_leaves_streams_to_the_route(clients, monkeypatch):
    taken = []
    original = ChatFastLane._validated
    monkeypatch.setattr(ChatFastLane, "_validated", staticmethod(lambda body: taken.append(original(body)) or taken[-1]))
    lane = clients[0]
    assert post(lane, json.dumps({"messages": [QUESTION]}), "application/json").status_code == 200
    streamed = post(lane, json.dumps({"messages": [QUESTION], "stream": True}), "application/json")
    assert streamed.headers["content-type"].startswith("text/event-stream") and "event: done" in streamed.text
    assert [t is not None and not t.stream for t in taken] == [True, False]


def test_a_client_over_its_rate_limit_gets_the_routes_429(settings, engine):
    app = create_app(settings.model_copy(update={"rate_limit": "2/minute"}), engine=engine)
    with TestClient(app, base_url="http://stride.test") as client:
        codes = [post(client, json.dumps({"messages": [QUESTION]}), "application/json").status_code for _ in range(3)]
        limited = post(client, json.dumps({"messages": [QUESTION]}), "application/json")
    assert codes == [200, 200, 429]
    assert limited.json()["error"]["code"] == "rate_limited" and int(limited.headers["retry-after"]) >= 1

"""Contract tests for /api/chat, /api/documents and health, against a real server."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from index.chunking import collapse

WHY = "why do my hips hurt when I run"


def chat(base: str, messages: list[dict], **extra) -> httpx.Response:
    return httpx.post(f"{base}/api/chat", json={"messages": messages, **extra}, timeout=30)


def user(text: str) -> dict:
    return {"role": "user", "content": text}



def parse_sse(body: str) -> list[tuple[str, object]]:
    events = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def assert_grounded(payload: dict, documents: dict[str, str]) -> None:
    ids = {c["id"] for c in payload["citations"]}
    for citation in payload["citations"]:
        original = documents[citation["doc_id"]]
        assert citation["quote"] == collapse(original[citation["start"] : citation["end"]])
        assert citation["url"] == f"/sources/{citation['doc_id']}#{citation['start']}-{citation['end']}"
    for marker in re.findall(r"\[(\d+)\]", payload["answer"]):
        assert int(marker) in ids


@pytest.fixture(scope="module")
def documents(live_server: str) -> dict[str, str]:
    listing = httpx.get(f"{live_server}/api/documents").json()
    return {d["doc_id"]: httpx.get(f"{live_server}/api/documents/{d['doc_id']}").json()["text"] for d in listing}


def test_answer_has_the_contract_shape_and_cites_several_articles(live_server, documents):
    response = chat(live_server, [user(WHY)], stream=False)
    assert response.status_code == 200
    payload = response.json()
    assert set(payload) >= {"answer", "citations", "safety", "abstained", "disclaimer", "id"}
    assert payload["abstained"] is False
    assert payload["safety"] == {"level": "none", "rules": [], "message": None}
    assert payload["disclaimer"] and payload["disclaimer"] not in payload["answer"]
    assert len({c["doc_id"] for c in payload["citations"]}) >= 2
    assert set(payload["citations"][0]) == {"id", "doc_id", "title", "publisher", "section", "quote", "start", "end", "url"}
    assert_grounded(payload, documents)
    words = len(payload["answer"].split())
    assert 20 <= words <= 220


def test_every_content_line_ends_with_a_citation_marker(live_server):
    payload = chat(live_server, [user("what stretches help tight hip flexors")]).json()
    for line in payload["answer"].splitlines():
        if line.strip() and not line.endswith(":"):
            assert re.search(r"\[\d+\]$", line), line


def test_stream_sends_typed_events_with_the_same_final_content(live_server):
    plain = chat(live_server, [user(WHY)]).json()
    with httpx.stream("POST", f"{live_server}/api/chat", json={"messages": [user(WHY)], "stream": True}, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        body = response.read().decode()
    events = parse_sse(body)
    names = [name for name, _ in events]
    assert names[0] == "safety" and names[1] == "citations" and names[-1] == "done"
    assert set(names[2:-1]) == {"delta"} and len(names) > 4
    text = "".join(data["text"] for name, data in events if name == "delta")
    done = events[-1][1]
    assert text == done["answer"] == plain["answer"]
    assert done["citations"] == events[1][1] == plain["citations"]
    assert events[0][1] == plain["safety"]


def test_follow_up_uses_the_conversation(live_server, documents):
    first = chat(live_server, [user("Should I ice my sore hip after a run?")]).json()
    follow = chat(live_server, [user("Should I ice my sore hip after a run?"), {"role": "assistant", "content": first["answer"]}, user("how long for?")]).json()
    alone = chat(live_server, [user("how long for?")]).json()
    assert follow["abstained"] is False
    assert re.search(r"minutes", follow["answer"])
    assert alone["abstained"] is True  # without the earlier turn there is nothing to answer
    assert_grounded(follow, documents)


@pytest.mark.parametrize(
    "question",
    ["What's the weather in Paris tomorrow?", "How many mg of ibuprofen should I take for my hip?", "Can you write me a 16 week marathon training plan?", "my shoulder hurts when I swim"],
)
def test_uncovered_questions_abstain_with_the_fixed_message(live_server, question):
    payload = chat(live_server, [user(question)]).json()
    assert payload["abstained"] is True
    assert payload["citations"] == []
    assert "don't cover that" in payload["answer"]


def test_emergency_answer_is_the_safety_message_only(live_server):
    payload = chat(live_server, [user("I fell on the ice, now I can't put any weight on my leg and my foot is turned out")]).json()
    assert payload["safety"]["level"] == "emergency"
    assert payload["answer"] == payload["safety"]["message"]
    assert payload["citations"] == []


BAD_BODIES = [
    ("not json", 'hello', "not valid JSON"),
    ("wrong type", json.dumps({"messages": "hi"}), "messages"),
    ("empty list", json.dumps({"messages": []}), "messages"),
    ("empty content", json.dumps({"messages": [{"role": "user", "content": ""}]}), "content"),
    ("blank content", json.dumps({"messages": [{"role": "user", "content": "   "}]}), "content"),
    ("oversize content", json.dumps({"messages": [{"role": "user", "content": "a" * 4001}]}), "4000"),
    ("last not user", json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}), "last message"),
    ("bad role", json.dumps({"messages": [{"role": "system", "content": "hi"}]}), "role"),
    ("too many", json.dumps({"messages": [{"role": "user", "content": "hi"}] * 51}), "messages"),
    ("stream not bool", json.dumps({"messages": [{"role": "user", "content": "hi"}], "stream": "yes please"}), "stream"),
]


@pytest.mark.parametrize(("name", "body", "mentions"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_input_gets_a_readable_422(live_server, name, body, mentions):
    response = httpx.post(f"{live_server}/api/chat", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, name
    error = response.json()["error"]
    assert mentions in error["message"]
    assert "Traceback" not in response.text


def test_body_over_64_kb_is_413(live_server):
    body = json.dumps({"messages": [{"role": "user", "content": "x" * 3000}] * 25})
    assert len(body) > 64 * 1024
    response = httpx.post(f"{live_server}/api/chat", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "64 KB" in response.json()["error"]["message"]


def test_unknown_route_and_method_are_json_errors(live_server):
    missing = httpx.get(f"{live_server}/api/nothing-here")
    assert missing.status_code == 404 and "/docs" in missing.json()["error"]["message"]
    wrong = httpx.get(f"{live_server}/api/chat")
    assert wrong.status_code == 405 and wrong.json()["error"]["message"]


def test_documents_list_and_detail(live_server):
    listing = httpx.get(f"{live_server}/api/documents").json()
    assert len(listing) == 5
    assert {"doc_id", "title", "publisher", "chunks"} <= set(listing[0])
    publishers = {d["publisher"] for d in listing}
    assert {"LIVESTRONG.COM", "Road Runner Sports", "The Jackson Clinics"} <= publishers
    doc = httpx.get(f"{live_server}/api/documents/{listing[0]['doc_id']}").json()
    assert doc["text"].startswith("How to Eliminate Hip")
    assert httpx.get(f"{live_server}/api/documents/nope").status_code == 404


def test_health_ready_and_docs(live_server):
    assert httpx.get(f"{live_server}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{live_server}/readyz")
    assert ready.status_code == 200 and ready.json()["index"]["counts"]["documents"] == 5
    assert ready.json()["scope_rules"] and ready.json()["safety_rules"]  # which reviewed rules files are live
    assert httpx.get(f"{live_server}/docs").status_code == 200
    paths = httpx.get(f"{live_server}/openapi.json").json()["paths"]
    assert {"/api/chat", "/v1/chat/completions", "/api/documents", "/api/feedback"} <= set(paths)


def test_feedback_is_accepted_but_not_stored_by_default(live_server):
    answer = chat(live_server, [user(WHY)]).json()
    response = httpx.post(f"{live_server}/api/feedback", json={"message_id": answer["id"], "rating": "up"})
    assert response.status_code == 202 and response.json() == {"stored": False}
    bad = httpx.post(f"{live_server}/api/feedback", json={"message_id": answer["id"], "rating": "meh"})
    assert bad.status_code == 422


def test_feedback_stored_when_enabled_without_the_address(server_factory, tmp_path_factory):
    db = tmp_path_factory.mktemp("feedback") / "feedback.sqlite3"
    server = server_factory("feedback_on", STRIDE_FEEDBACK_ENABLED="true", STRIDE_FEEDBACK_DB=str(db), STRIDE_ADMIN_TOKEN="s3cret-token", STRIDE_RATE_LIMIT="")
    response = httpx.post(f"{server.url}/api/feedback", json={"message_id": "abc123", "rating": "down", "comment": "too long"})
    assert response.json() == {"stored": True}
    export = httpx.get(f"{server.url}/api/admin/feedback", headers={"Authorization": "Bearer s3cret-token"}).json()["feedback"]
    assert [(row["message_id"], row["rating"], row["comment"]) for row in export] == [("abc123", "down", "too long")]
    assert "127.0.0.1" not in db.read_bytes().decode("latin-1")

"""Privacy: a user's words never reach a log unless the operator turns that on.

A marker phrase unique to this run is sent in questions throughout the run (rate-limit
flood, feedback, metrics, shutdown and fault tests) and here again through every kind of
request and error path of the live servers. This test runs last (see conftest.py), then
scans every file under test-artifacts/logs/ — all server logs of the run — for the
marker. Positive control: a server with STRIDE_LOG_MESSAGES=true does log it, and the
same scan finds it there, so the scan can see what it is looking for.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from service.config import ROOT

LOG_DIR = ROOT / "test-artifacts" / "logs"
OPT_IN = "hardening_log_messages_opt_in"


def files_mentioning(marker: str, files: list[Path]) -> list[str]:
    hits = []
    for path in files:
        text = path.read_bytes().decode("utf-8", "replace").lower()
        if marker.lower() in text or json.dumps(marker)[1:-1].lower() in text:
            hits.append(path.name)
    return hits


def send_everywhere(url: str, marker: str, source: str = "127.0.0.1") -> None:
    """The marker through every request and error path a client can take."""
    q = lambda text: {"messages": [{"role": "user", "content": text}]}  # noqa: E731
    with httpx.Client(base_url=url, timeout=30, transport=httpx.HTTPTransport(local_address=source)) as client:
        client.post("/api/chat", json=q(f"why do my hips hurt when I run? {marker}"))
        client.post("/api/chat", json={**q(f"what stretches help? {marker}"), "stream": True})
        client.post("/api/chat", json=q(f"I fell and can't put weight on my leg {marker}"))  # escalated
        client.post("/api/chat", json=q(f"lasagne recipe {marker}"))  # abstained
        client.post("/api/chat", json={"messages": [{"role": "user", "content": f"hip {marker}"}, {"role": "user", "content": "and how do I stretch it?"}]})
        client.post("/api/chat", json=q(f"{marker} " + "x" * 4001))  # 422 too long
        client.post("/api/chat", json={"messages": [{"role": "assistant", "content": marker}]})  # 422 last not user
        client.post("/api/chat", content=f'{{"messages": [{{"role": "user", "content": "{marker}'.encode(), headers={"content-type": "application/json"})  # bad JSON
        client.post("/api/chat", content=json.dumps(q(marker + " hip" * 20_000)).encode(), headers={"content-type": "application/json"})  # 413
        client.post("/v1/chat/completions", json={"messages": [{"role": "system", "content": f"system {marker}"}, {"role": "user", "content": f"foam rolling? {marker}"}]})
        client.post("/v1/chat/completions", json={"stream": True, "messages": [{"role": "user", "content": [{"type": "text", "text": f"shoes? {marker}"}]}]})
        client.post("/api/feedback", json={"message_id": "abc", "rating": "down", "comment": f"bad {marker}"})
        client.post("/api/feedback", json={"message_id": marker + "!", "rating": "meh"})  # 422
        client.get(f"/api/documents/{marker}")
        client.get(f"/sources/{marker}", headers={"accept": "text/html"})
        client.get(f"/{marker}?q={marker}")
        client.get("/api/admin/feedback", headers={"authorization": f"Bearer {marker}"})


def test_no_message_text_in_any_log_of_the_run(live_server, guarded_server, operator_server, server_factory, marker):
    for url in (live_server, guarded_server.url, operator_server.url):
        send_everywhere(url, marker, source="127.0.0.4")  # its own address: the rate-limited server still answers it

    # Positive control: the operator opted in, so the same marker is logged and found.
    opt_in = server_factory(OPT_IN, STRIDE_RATE_LIMIT="", STRIDE_LOG_MESSAGES="true")
    send_everywhere(opt_in.url, marker)
    httpx.get(f"{opt_in.url}/healthz")  # a final request, so earlier lines are flushed behind it

    logs = sorted(p for p in LOG_DIR.rglob("*") if p.is_file())
    scanned = [p for p in logs if p.name != f"{OPT_IN}.log"]
    assert len(scanned) >= 4, [p.name for p in logs]  # live_server, rate-limited, operator, ... at least
    assert files_mentioning(marker, [LOG_DIR / f"{OPT_IN}.log"]) == [f"{OPT_IN}.log"], "the scan cannot see logged message text"
    assert files_mentioning(marker, scanned) == [], "message text leaked into a log"


def test_logs_are_json_with_a_request_id(live_server):
    response = httpx.get(f"{live_server}/healthz", headers={"x-request-id": "trace-abc-123"})
    assert response.headers["x-request-id"] == "trace-abc-123"
    httpx.get(f"{live_server}/healthz")  # the access line is written after the response: one more request orders it
    lines = [json.loads(line) for line in (LOG_DIR / "live_server.log").read_text(encoding="utf-8").splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("msg") == "request"]
    assert requests and all(line["request_id"] not in ("", "-") for line in requests)
    assert any(line["request_id"] == "trace-abc-123" for line in requests)
    assert all({"ts", "level", "logger", "msg", "request_id"} <= set(line) for line in lines)

"""/metrics (Prometheus): request counts and latency histograms per route template, answers by
outcome, rate-limited and feedback counts, and no message content in any label.
"""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(sample.name, sample.labels, sample.value) for family in text_string_to_metric_families(text) for sample in family.samples]


def value(parsed, name: str, **labels: str) -> float:
    return sum(v for n, lab, v in parsed if n == name and all(lab.get(k) == want for k, want in labels.items()))


def test_metrics_cover_routes_outcomes_and_leak_no_content(live_server, marker):
    url = live_server
    with httpx.Client(base_url=url, timeout=30) as client:
        answered = client.post("/api/chat", json={"messages": [{"role": "user", "content": f"why do my hips hurt when I run? {marker}"}]})
        assert answered.status_code == 200 and not answered.json()["abstained"]
        abstained = client.post("/api/chat", json={"messages": [{"role": "user", "content": f"what is a good lasagne recipe? {marker}"}]})
        assert abstained.json()["abstained"]
        escalated = client.post("/api/chat", json={"messages": [{"role": "user", "content": f"I fell, I can't put any weight on my leg and my hip looks deformed {marker}"}]})
        assert escalated.json()["safety"]["level"] == "emergency"
        assert client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": f"foam rolling for hips? {marker}"}]}).status_code == 200
        assert client.post("/api/chat", json={"messages": [{"role": "assistant", "content": marker}]}).status_code == 422
        assert client.post("/api/feedback", json={"message_id": answered.json()["id"], "rating": "up", "comment": marker}).status_code == 202
        # The marker in places a careless exporter would turn into labels: paths, queries, headers.
        assert client.get(f"/{marker}").status_code == 404
        assert client.get(f"/api/documents/{marker}").status_code == 404
        assert client.get(f"/sources/{marker}?q={marker}").status_code == 404
        # (Not as X-Request-Id: a caller's own trace id is logged on purpose.)
        client.get("/healthz", headers={"user-agent": marker, "referer": f"https://{marker}.example/", "cookie": f"c={marker}"})
        text = client.get("/metrics").text

    assert marker not in text and marker.upper() not in text
    parsed = samples(text)
    routes = {lab["route"] for _, lab, _ in parsed if "route" in lab}
    assert routes <= {"/api/chat", "/v1/chat/completions", "/v1/models", "/api/feedback", "/api/admin/feedback", "/api/documents", "/api/documents/{doc_id}", "/healthz", "/readyz", "/metrics", "/", "/sources/{doc_id}", "/static/{path:path}", "/widget.js", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "unmatched"}, routes

    assert value(parsed, "stride_http_requests_total", method="POST", route="/api/chat", status="200") >= 3
    assert value(parsed, "stride_http_requests_total", method="POST", route="/api/chat", status="422") >= 1
    assert value(parsed, "stride_http_requests_total", route="unmatched", status="404") >= 1
    assert value(parsed, "stride_http_requests_total", route="/api/documents/{doc_id}", status="404") >= 1
    assert value(parsed, "stride_http_request_duration_seconds_count", route="/api/chat") >= 4
    assert value(parsed, "stride_http_request_duration_seconds_bucket", route="/api/chat", le="+Inf") >= 4
    assert value(parsed, "stride_http_request_duration_seconds_count", route="/v1/chat/completions") >= 1
    assert value(parsed, "stride_answers_total", outcome="answered") >= 2
    assert value(parsed, "stride_answers_total", outcome="abstained") >= 1
    assert value(parsed, "stride_answers_total", outcome="escalated_emergency") >= 1
    assert value(parsed, "stride_feedback_total", rating="up", stored="false") >= 1  # feedback off on this server
    for family in ("stride_rate_limited", "stride_feedback_store_failures", "stride_answer_timeouts", "stride_safety_failures"):
        assert f"# TYPE {family}" in text, family


def test_rate_limited_requests_are_counted(guarded_server):
    """The flood itself is in test_rate_limit.py; here: the family and its route label exist."""
    neighbour = httpx.Client(base_url=guarded_server.url, timeout=30, transport=httpx.HTTPTransport(local_address="127.0.0.3"))
    with neighbour:
        statuses = [neighbour.post("/api/feedback", json={"message_id": "abc", "rating": "down"}).status_code for _ in range(7)]
        text = neighbour.get("/metrics").text
    assert statuses.count(429) == 2, statuses
    assert value(samples(text), "stride_rate_limited_total", route="/api/feedback") >= 2

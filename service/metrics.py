"""Prometheus metrics. Labels are routes, statuses and outcomes — never message content."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

registry = CollectorRegistry(auto_describe=True)

http_requests = Counter("stride_http_requests", "HTTP requests by route template and status.", ["method", "route", "status"], registry=registry)
http_latency = Histogram(
    "stride_http_request_duration_seconds",
    "Time to the response's first byte, by route template.",
    ["route"],
    buckets=(0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
    registry=registry,
)
answers = Counter("stride_answers", "Answers by outcome: answered, abstained, escalated_<level>.", ["outcome"], registry=registry)
rate_limited = Counter("stride_rate_limited", "Requests refused with 429, by route.", ["route"], registry=registry)
feedback = Counter("stride_feedback", "Feedback received, by rating and whether it was stored.", ["rating", "stored"], registry=registry)
feedback_failures = Counter("stride_feedback_store_failures", "Feedback the store could not write (disk full, read-only...).", registry=registry)
safety_failures = Counter("stride_safety_failures", "Requests answered fail-closed because the safety check raised.", registry=registry)
timeouts = Counter("stride_answer_timeouts", "Answers that exceeded the per-request timeout.", registry=registry)


def outcome(level: str, abstained: bool) -> str:
    if level != "none":
        return f"escalated_{level}"
    return "abstained" if abstained else "answered"


def exposition() -> bytes:
    return generate_latest(registry)

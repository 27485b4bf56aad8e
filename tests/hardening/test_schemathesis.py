"""Schemathesis against the live /openapi.json of a real server on loopback.

Every operation in the schema, positive and negative cases. Properties: never a 5xx, and
every 4xx is a JSON error {"error": {"message", ...}} a person can read. The total number
of generated cases comes from STRIDE_FUZZ_EXAMPLES (default 300; `make fuzz` sets 2000),
split between the operations and the two generation modes. A summary (cases and statuses
per operation) is written to test-artifacts/schemathesis-summary.json.

The operations are driven with `operation.as_strategy()` under Hypothesis directly:
schemathesis' lazy pytest loader (`from_fixture`) uses a pytest-internal attribute that
pytest 9 no longer has. The test ids are the in-process app's operations, and the first
test checks the live schema offers exactly those, so "every operation" holds.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter, defaultdict

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from service.api import chat, documents, feedback, health, openai_compat, pages
from service.config import ROOT

TOTAL = int(os.environ.get("STRIDE_FUZZ_EXAMPLES", "300"))
SUMMARY_PATH = ROOT / "test-artifacts" / "schemathesis-summary.json"
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
_summary: dict[str, Counter] = defaultdict(Counter)


def _declared_operations() -> dict[tuple[str, str], bool]:
    """(METHOD, path) of every operation the app documents -> whether it takes a body.

    Negative cases need something that can be invalid: a body. A string path parameter or
    header cannot be made schema-invalid (Hypothesis reports that as unsatisfiable), so
    operations with only those get positive cases alone.
    """
    app = FastAPI()  # the routers alone: no engine, no middleware, no logging set-up
    for module in (chat, openai_compat, documents, feedback, health, pages):
        app.include_router(module.router)
    return {
        (method.upper(), path): "requestBody" in spec
        for path, methods in app.openapi()["paths"].items()
        for method, spec in methods.items()
    }


OPERATIONS = sorted(_declared_operations().items())
CASES = [((m, p), mode) for (m, p), has_body in OPERATIONS for mode in (MODES if has_body else MODES[:1])]
# Operations without inputs have exactly one request; the budget is spread over the rest.
PER_CASE = max(3, math.ceil(TOTAL / max(1, len(CASES) - 4)))


@pytest.fixture(scope="module")
def api_schema(live_server):
    return schemathesis.openapi.from_url(f"{live_server}/openapi.json")


def json_error_body(ctx, response, case) -> bool | None:
    """Every 4xx carries {"error": {"message": "..."}} as JSON (never HTML, text or a traceback)."""
    if 400 <= response.status_code < 500:
        content_type = response.headers.get("content-type", [""])[0]
        assert "json" in content_type, f"{response.status_code} is not JSON ({content_type}): {response.content[:200]!r}"
        body = json.loads(response.content)
        message = body.get("error", {}).get("message") if isinstance(body, dict) else None
        assert isinstance(message, str) and message.strip(), f"{response.status_code} without error.message: {body}"
        assert "Traceback" not in message
    return None


def _record(label: str, mode: GenerationMode, status: int) -> None:
    _summary[label]["cases"] += 1
    _summary[label][f"{mode.value}:{status}"] += 1
    SUMMARY_PATH.parent.mkdir(parents=True, exist_ok=True)
    total = sum(c["cases"] for c in _summary.values())
    SUMMARY_PATH.write_text(json.dumps({"total_cases": total, "requested": TOTAL, "operations": _summary}, indent=1, sort_keys=True), encoding="utf-8")


def test_live_schema_has_every_operation(api_schema):
    live = sorted((result.ok().method.upper(), result.ok().path) for result in api_schema.get_all_operations())
    assert live == [operation for operation, _ in OPERATIONS]


@pytest.mark.parametrize(("operation", "mode"), CASES, ids=[f"{m} {p} {mode.value}" for (m, p), mode in CASES])
def test_operation_never_500s_and_errors_are_json(api_schema, live_server, operation, mode):
    method, path = operation
    operation = api_schema[path][method]
    label = f"{method} {path}"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=PER_CASE, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case):
        response = case.call(base_url=live_server, timeout=30)
        _record(label, mode, response.status_code)
        case.validate_response(response, checks=[not_a_server_error, json_error_body])

    check()

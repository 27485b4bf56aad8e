"""Security headers on every HTML page, CORS and CSP frame-ancestors from the allow-list,
and the operator endpoint behind a constant-time token check (off without a token).
"""

from __future__ import annotations

import inspect
import re

import httpx
import pytest

from service.api import feedback as feedback_api

TOKEN = "s3cret-operator-token"  # operator_server's STRIDE_ADMIN_TOKEN
ALLOWED = ["https://club.example", "https://www.club.example"]


def csp_directives(value: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in value.split(";")) if part}


def html_pages(url: str) -> list[str]:
    doc_ids = [d["doc_id"] for d in httpx.get(f"{url}/api/documents", timeout=10).json()]
    assert doc_ids
    return ["/", *(f"/sources/{doc_id}" for doc_id in doc_ids), "/sources/no-such-article"]


def assert_strict_html_headers(response: httpx.Response, frame_ancestors: list[str]) -> None:
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, csp
    directives = csp_directives(csp)
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert sorted(directives["frame-ancestors"]) == sorted(["'self'", *frame_ancestors])
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert re.fullmatch(r"[0-9a-f]{16}", response.headers["x-request-id"])


def test_every_html_page_has_strict_headers(live_server):
    for path in html_pages(live_server):
        response = httpx.get(f"{live_server}{path}", headers={"accept": "text/html"}, timeout=10)
        assert response.status_code == (404 if path.endswith("no-such-article") else 200), path
        # live_server's allow-list is its own origin (tests/conftest.py).
        assert_strict_html_headers(response, [live_server])
        # ... and the page itself has nothing inline for the CSP to block.
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text), path
        assert " style=" not in response.text and "<style" not in response.text, path


def test_frame_ancestors_follow_the_allow_list(operator_server):
    for path in html_pages(operator_server.url):
        response = httpx.get(f"{operator_server.url}{path}", headers={"accept": "text/html"}, timeout=10)
        assert_strict_html_headers(response, ALLOWED)


def test_api_responses_forbid_framing_and_sniffing(live_server):
    for response in (httpx.get(f"{live_server}/api/documents"), httpx.get(f"{live_server}/nowhere")):
        assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
        assert response.headers["x-content-type-options"] == "nosniff"


def preflight(url: str, origin: str) -> httpx.Response:
    return httpx.options(
        f"{url}/api/chat",
        headers={"origin": origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type"},
        timeout=10,
    )


@pytest.mark.parametrize("origin", ALLOWED)
def test_cors_preflight_from_an_allowed_origin(operator_server, origin):
    response = preflight(operator_server.url, origin)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers.get("access-control-allow-credentials") is None  # no cookies, ever


@pytest.mark.parametrize("origin", ["https://evil.example", "https://club.example.evil.example", "null", "http://club.example"])
def test_cors_preflight_from_another_origin_is_not_allowed(operator_server, origin):
    response = preflight(operator_server.url, origin)
    assert "access-control-allow-origin" not in response.headers
    simple = httpx.post(f"{operator_server.url}/api/chat", json={"messages": [{"role": "user", "content": "hip pain"}]}, headers={"origin": origin}, timeout=30)
    assert "access-control-allow-origin" not in simple.headers


def test_cors_on_an_actual_request_from_an_allowed_origin(operator_server):
    response = httpx.post(f"{operator_server.url}/api/chat", json={"messages": [{"role": "user", "content": "hip pain"}]}, headers={"origin": ALLOWED[0]}, timeout=30)
    assert response.headers["access-control-allow-origin"] == ALLOWED[0]
    assert "Retry-After" in response.headers["access-control-expose-headers"]


# -- operator endpoint ---------------------------------------------------------------------


def test_admin_is_disabled_without_a_token(live_server, json_error):
    response = httpx.get(f"{live_server}/api/admin/feedback", headers={"authorization": "Bearer anything"})
    assert json_error(response, 404)["code"] == "disabled"


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Basic czNjcmV0", TOKEN.upper()])
def test_admin_refuses_a_wrong_token(operator_server, json_error, header):
    headers = {"authorization": header} if header else {}
    response = httpx.get(f"{operator_server.url}/api/admin/feedback", headers=headers)
    assert json_error(response, 401)["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


def test_admin_exports_with_the_right_token(operator_server, marker):
    url = operator_server.url
    answer = httpx.post(f"{url}/api/chat", json={"messages": [{"role": "user", "content": "why do my hips hurt when I run?"}]}, timeout=30).json()
    stored = httpx.post(f"{url}/api/feedback", json={"message_id": answer["id"], "rating": "up", "comment": f"useful {marker}"})
    assert stored.status_code == 202 and stored.json() == {"stored": True}
    response = httpx.get(f"{url}/api/admin/feedback", headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    rows = response.json()["feedback"]
    row = next(r for r in rows if r["message_id"] == answer["id"])
    assert row["rating"] == "up" and set(row) == {"id", "message_id", "rating", "comment", "created_at"}  # no address, no conversation


def test_admin_token_is_compared_in_constant_time():
    source = inspect.getsource(feedback_api.export_feedback)
    assert "hmac.compare_digest" in source and "==" not in source.replace("!=", "")

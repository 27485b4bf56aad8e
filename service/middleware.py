"""One pure-ASGI middleware for what every request needs: a request id, a body size
limit, security headers, an access log line and HTTP metrics.

Pure ASGI rather than BaseHTTPMiddleware: it adds microseconds, not a task per request,
and it leaves streaming responses alone.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from service import metrics
from service.errors import error_payload
from service.logs import request_id

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("stride.http")


class Gatekeeper:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, frame_ancestors: list[str]) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        ancestors = " ".join(["'self'", *frame_ancestors])
        self.html_csp = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            f"font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}"
        ).encode()
        self.api_csp = b"default-src 'none'; frame-ancestors 'none'"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_request_id(scope) or uuid.uuid4().hex[:16]
        token = request_id.set(rid)
        started = time.perf_counter()
        status_holder = {"status": 500, "first_byte": None}
        try:
            body_or_none = await self._bounded_body(scope, receive)
            if body_or_none is None:
                await self._reject(send, 413, f"The request body is larger than the {self.max_body_bytes // 1024} KB limit.", "request_too_large", rid)
                status_holder["status"] = 413
                return
            replay = replayer(body_or_none, receive)

            async def send_wrapper(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status_holder["status"] = message["status"]
                    status_holder["first_byte"] = time.perf_counter()
                    message["headers"] = self._headers(message.get("headers", []), rid)
                await send(message)

            await self.app(scope, replay, send_wrapper)
        finally:
            elapsed = (status_holder["first_byte"] or time.perf_counter()) - started
            route = _route_template(scope)
            metrics.http_requests.labels(scope.get("method", "-"), route, str(status_holder["status"])).inc()
            metrics.http_latency.labels(route).observe(elapsed)
            if log.isEnabledFor(logging.INFO):  # the record is only built when it will be written
                log.info("request", extra={"method": scope.get("method"), "path": route, "status": status_holder["status"], "duration_ms": round(elapsed * 1000, 2)})
            request_id.reset(token)

    async def _bounded_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The whole body (None when over the limit). Small by contract, so buffering is cheap."""
        if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            return b""
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body_bytes:
                return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _headers(self, headers: list[tuple[bytes, bytes]], rid: str) -> list[tuple[bytes, bytes]]:
        present = {name.lower() for name, _ in headers}
        content_type = next((value for name, value in headers if name.lower() == b"content-type"), b"")
        extra = [
            (b"x-request-id", rid.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
        ]
        if b"content-security-policy" not in present:
            extra.append((b"content-security-policy", self.html_csp if content_type.startswith(b"text/html") else self.api_csp))
        return [*headers, *extra]

    async def _reject(self, send: Send, status: int, message: str, code: str, rid: str) -> None:
        body = json.dumps(error_payload(status, message, code)).encode()
        headers = self._headers([(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())], rid)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1")[:64]
            return text if text.replace("-", "").isalnum() else None
    return None


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


def replayer(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands over an already-read body once, then waits as a server would."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # waits for http.disconnect, as a server would

    return replay

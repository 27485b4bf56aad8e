"""The common case of POST /api/chat, answered without FastAPI's per-request machinery.

A valid, non-streaming question is most of the traffic. FastAPI spends ~0.8 ms on each
(routing, dependency solving, parsing the body in Python, the response class) around an
answer that takes ~3-4 ms, so this ASGI layer answers that one case itself: the body
parsed and validated by pydantic-core in one call, the same `answer` helper as the route
(concurrency slot, timeout, metrics), the same payload.

Anything else goes on to FastAPI untouched, which answers it exactly as it always does:
another route or method, `"stream": true`, a body that is not valid JSON for
`ChatRequest` or not sent as JSON, a client over its rate limit, an engine still loading.
So every error a person can see still comes from one place, the route and its handlers;
`tests/service/test_fastlane.py` checks that both ways give the same responses.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse
from pydantic import ValidationError

from service.api.deps import Runtime, answer, client_key
from service.api.schemas import ChatRequest
from service.engine import Message
from service.errors import ApiError, error_response
from service.middleware import ASGIApp, Receive, Scope, Send, replayer

PATH = "/api/chat"


class ChatFastLane:
    def __init__(self, app: ASGIApp, *, runtime: Runtime, route: object) -> None:
        self.app = app
        self.runtime = runtime
        self.route = route  # the FastAPI route, so metrics and logs name it as before

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST" or not _sent_as_json(scope):
            await self.app(scope, receive, send)
            return
        body = await _read(receive)
        request = self._validated(body)
        engine = self.runtime.engine
        if request is None or request.stream or engine is None or not self._within_rate_limit(scope):
            await self.app(scope, replayer(body, receive), send)
            return
        scope["route"] = self.route
        try:
            result = await answer(self.runtime, engine, [Message(m.role, m.content) for m in request.messages])
        except ApiError as exc:  # busy or timed out: the shape the route's handler gives
            response = error_response(exc.status, exc.message, exc.code, exc.headers)
        else:
            response = JSONResponse(result.payload())  # what the route returns
        await response(scope, receive, send)

    @staticmethod
    def _validated(body: bytes) -> ChatRequest | None:
        try:
            return ChatRequest.model_validate_json(body)
        except ValidationError:
            return None

    def _within_rate_limit(self, scope: Scope) -> bool:
        """Counts the request when it is allowed (as the route's dependency would); a client
        over the limit is left to the route, which says so with a 429."""
        limiter = self.runtime.limiter
        if not limiter.enabled:
            return True
        client = scope.get("client")
        return limiter.retry_after(client_key(client[0] if client else None, "chat")) is None


def _sent_as_json(scope: Scope) -> bool:
    # FastAPI reads a body as JSON only under a JSON content type (without one it answers
    # 422); the lane takes only those, so it never parses a body the route would not.
    for name, value in scope["headers"]:
        if name == b"content-type":
            kind = value.split(b";", 1)[0].strip().lower()
            return kind == b"application/json" or (kind.startswith(b"application/") and kind.endswith(b"+json"))
    return False


async def _read(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            return b"".join(chunks)

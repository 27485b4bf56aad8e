"""POST /api/chat — the native chat endpoint, JSON or server-sent events."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse

from service.api.deps import EngineDep, RateLimited, RuntimeDep, answer
from service.api.schemas import ChatRequest, ChatResponse, ErrorResponse
from service.engine import ChatResult, Message

router = APIRouter(tags=["chat"])

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}
# Stream a sentence (up to its citation marker) or a line at a time; the pieces
# concatenate back to exactly the answer text.
_PIECE = re.compile(r"(?<=\])(?=\s)|(?<=\n)")

ERRORS = {status: {"model": ErrorResponse} for status in (413, 422, 429, 503)}


@router.post("/api/chat", response_model=ChatResponse, responses={**ERRORS, 200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE events safety, citations, delta..., done when stream is true."}}, dependencies=[RateLimited])
async def chat(body: ChatRequest, runtime: RuntimeDep, engine: EngineDep):
    """Answer the last user message of the conversation, citing the articles.

    With `"stream": true` the response is `text/event-stream`: `safety`, then `citations`,
    then `delta` events whose `text` concatenates to the answer, then `done` carrying the
    same object the JSON response would.
    """
    result = await answer(runtime, engine, [Message(m.role, m.content) for m in body.messages])
    if not body.stream:
        # Returned as a response so FastAPI doesn't re-validate what the engine built;
        # `response_model` still documents the shape.
        return JSONResponse(result.payload())
    return StreamingResponse(sse_events(result), media_type="text/event-stream", headers=SSE_HEADERS)


def sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def answer_pieces(text: str) -> list[str]:
    return [piece for piece in _PIECE.split(text) if piece]


async def sse_events(result: ChatResult) -> AsyncIterator[str]:
    payload = result.payload()
    yield sse("safety", payload["safety"])
    yield sse("citations", payload["citations"])
    for piece in answer_pieces(result.answer):
        yield sse("delta", {"text": piece})
    yield sse("done", payload)

"""POST /v1/chat/completions — OpenAI-compatible, so existing chat clients work unchanged.

The message content is the answer with a "Sources:" list appended (what a plain chat
client can show); the structured citations, safety result and abstention ride along in
an extra `stride` field (the `openai` SDK exposes it through `model_extra`).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse

from service.api.chat import ERRORS, SSE_HEADERS, answer_pieces
from service.api.deps import EngineDep, RateLimited, RuntimeDep, answer
from service.api.schemas import MAX_CHARS, OpenAIChatRequest
from service.engine import ChatResult, Message
from service.errors import ApiError

router = APIRouter(tags=["openai-compatible"])
MODEL_ID = "stride"


def with_sources(result: ChatResult) -> str:
    text = result.answer
    if result.citations:
        lines = [f"[{c.id}] {c.title}" + (f" ({c.publisher})" if c.publisher else "") + f": \u201c{c.quote}\u201d" for c in result.citations]
        text += "\n\nSources:\n" + "\n".join(lines)
    return text


def _conversation(body: OpenAIChatRequest) -> list[Message]:
    turns = [Message(t["role"], t["content"]) for t in body.conversation() if t["content"].strip()]
    if not turns or turns[-1].role != "user":
        raise ApiError(422, "Invalid request: the last message must be the user's question (role 'user').", "invalid_body")
    if any(len(t.content) > MAX_CHARS for t in turns):
        raise ApiError(422, f"Invalid request: each message may have at most {MAX_CHARS} characters.", "invalid_body")
    return turns


@router.get("/v1/models")
async def models() -> dict:
    return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "stride"}]}


@router.post("/v1/chat/completions", responses=ERRORS, dependencies=[RateLimited])
async def chat_completions(body: OpenAIChatRequest, runtime: RuntimeDep, engine: EngineDep):
    """Chat Completions: non-streaming or streaming `chat.completion.chunk`s ending in `[DONE]`."""
    result = await answer(runtime, engine, _conversation(body))
    completion_id = f"chatcmpl-{result.id}"
    created = int(time.time())
    if body.stream:
        return StreamingResponse(_chunks(result, completion_id, created), media_type="text/event-stream", headers=SSE_HEADERS)
    content = with_sources(result)
    words = len(content.split())
    # A response, as in /api/chat, so FastAPI doesn't re-encode what the engine built.
    return JSONResponse({
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": MODEL_ID,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": 0, "completion_tokens": words, "total_tokens": words},
        "stride": result.payload(),
    })


async def _chunks(result: ChatResult, completion_id: str, created: int) -> AsyncIterator[str]:
    def chunk(delta: dict, finish: str | None = None, **extra: object) -> str:
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    # Safety first, as in the native stream: a client that reads the extra field sees it before any text.
    yield chunk({"role": "assistant", "content": ""}, stride={"safety": result.payload()["safety"]})
    content = with_sources(result)
    for piece in answer_pieces(content):
        yield chunk({"content": piece})
    yield chunk({}, "stop", stride=result.payload())
    yield "data: [DONE]\n\n"

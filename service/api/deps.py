"""Shared dependencies of the routers, and the one way a route gets an answer."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from service import metrics
from service.config import Settings
from service.engine import ChatResult, Engine, Message
from service.errors import ApiError
from service.feedback import FeedbackStore
from service.ratelimit import RateLimiter

log = logging.getLogger("stride.answers")


@dataclass
class Runtime:
    """Per-process state built at start-up: the loaded engine and the request gates."""

    settings: Settings
    engine: Engine | None
    limiter: RateLimiter
    slots: asyncio.Semaphore
    feedback: FeedbackStore | None


# The dependencies are `async def` although they never await: FastAPI runs a plain `def`
# dependency in the thread pool, a thread hop (~0.1 ms, more under load) per dependency
# per request for what is an attribute lookup (bench/RESULTS.md).


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def get_runtime(request: Request) -> Runtime:
    return _runtime(request)


async def get_engine(request: Request) -> Engine:
    engine = _runtime(request).engine
    if engine is None:
        raise ApiError(503, "Stride is still starting up. Please try again in a few seconds.", "not_ready", {"Retry-After": "2"})
    return engine


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
EngineDep = Annotated[Engine, Depends(get_engine)]


async def rate_limit(request: Request) -> None:
    runtime = _runtime(request)
    if not runtime.limiter.enabled:
        return
    client = request.client.host if request.client else "unknown"
    # Feedback has its own bucket: someone who used up their questions can still rate answers.
    bucket = "feedback" if request.url.path.endswith("/feedback") else "chat"
    wait = runtime.limiter.retry_after(f"{client}|{bucket}")
    if wait is not None:
        route = getattr(request.scope.get("route"), "path", request.url.path)
        metrics.rate_limited.labels(route).inc()
        raise ApiError(429, f"Too many questions from this address. Please wait {wait} seconds and try again.", "rate_limited", {"Retry-After": str(wait)})


RateLimited = Depends(rate_limit)

# The answers' own threads: `loop.run_in_executor` on a plain pool costs less per request
# than anyio's worker threads (no capacity limiter, no cancel-scope bookkeeping), measured
# in bench/RESULTS.md. Concurrency is bounded by `Runtime.slots` before work gets here.
_ANSWER_THREADS = 40  # anyio's default, which this replaces
_executor: ThreadPoolExecutor | None = None


def _answer_pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=_ANSWER_THREADS, thread_name_prefix="stride-answer")
    return _executor


async def answer(runtime: Runtime, engine: Engine, messages: list[Message]) -> ChatResult:
    """Run the pipeline off the event loop, bounded in concurrency and time."""
    settings = runtime.settings
    try:
        if runtime.slots.locked():  # only a full house pays for a timed wait
            await asyncio.wait_for(runtime.slots.acquire(), timeout=settings.request_timeout_s)
        else:
            await runtime.slots.acquire()
    except TimeoutError:
        raise ApiError(503, "Stride is busy right now. Please try again in a moment.", "busy", {"Retry-After": "1"}) from None
    work = asyncio.get_running_loop().run_in_executor(_answer_pool(), engine.answer, messages)
    try:
        # Shielded: a timeout answers 503 at once, but a thread cannot be stopped, so the
        # slot is only given back when the answer it holds has really finished.
        result = await asyncio.wait_for(asyncio.shield(work), timeout=settings.request_timeout_s)
    except BaseException as exc:
        work.add_done_callback(lambda _: runtime.slots.release())
        if isinstance(exc, TimeoutError):
            metrics.timeouts.inc()
            raise ApiError(503, "That took too long to answer. Please try again.", "timeout", {"Retry-After": "1"}) from None
        raise
    runtime.slots.release()
    if "safety-layer-error" in result.safety.rules:
        metrics.safety_failures.inc()
    outcome = metrics.outcome(result.safety.level, result.abstained)
    metrics.answers.labels(outcome).inc()
    # Outcomes are counted in /metrics; a log line per answer is for debugging (or when the
    # operator asked for message text), so it is not even assembled otherwise.
    level = logging.INFO if settings.log_messages else logging.DEBUG
    if log.isEnabledFor(level):
        extra = {"outcome": outcome, "safety_level": result.safety.level, "rules": list(result.safety.rules), "citations": len(result.citations), "turns": len(messages)}
        if settings.log_messages:  # operator opt-in only
            extra["message_text"] = messages[-1].content
        log.log(level, "answer", extra=extra)
    return result

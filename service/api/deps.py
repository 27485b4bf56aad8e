"""Shared dependencies of the routers, and the one way a route gets an answer."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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
    # Answers run here, off the event loop. A plain executor rather than anyio's worker
    # threads: ~0.1 ms less a request (bench/RESULTS.md); `slots` already bounds how many wait.
    answering: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=4, thread_name_prefix="stride-answer"))


# The dependencies are `async def` although they never await: FastAPI runs a plain `def`
# dependency in the thread pool, a hop per dependency per request for an attribute lookup.
# The last hop (`rate_limit`) was kept at first because, without it, the SIGTERM drain test
# failed; that test now serves one request at a time and passes 14/14 without the hop,
# which saves 0.25-0.33 ms a request (interleaved A/B, bench/RESULTS.md).


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


def rate_limited(bucket: str):
    """A per-client rate-limit dependency on its own bucket: feedback has one of its own, so
    someone who used up their questions can still rate answers."""

    async def rate_limit(request: Request) -> None:
        runtime = _runtime(request)
        if not runtime.limiter.enabled:
            return
        wait = runtime.limiter.retry_after(client_key(request.client.host if request.client else None, bucket))
        if wait is not None:
            route = getattr(request.scope.get("route"), "path", request.url.path)
            metrics.rate_limited.labels(route).inc()
            raise ApiError(429, f"Too many questions from this address. Please wait {wait} seconds and try again.", "rate_limited", {"Retry-After": str(wait)})

    return Depends(rate_limit)


RateLimited = rate_limited("chat")


def client_key(host: str | None, bucket: str) -> str:
    """The rate limiter's key: one client address, one bucket."""
    return f"{host or 'unknown'}|{bucket}"


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
    # The slot is freed when the pipeline's thread is done, not when the wait gives up: a
    # thread cannot be cancelled, and a timed-out answer still running must keep counting.
    def finished(done: asyncio.Future) -> None:
        runtime.slots.release()
        if not done.cancelled():
            done.exception()  # a failure after a timeout was already answered; don't log it as unretrieved

    work = asyncio.get_running_loop().run_in_executor(runtime.answering, engine.answer, messages)
    work.add_done_callback(finished)
    try:
        result = await asyncio.wait_for(asyncio.shield(work), timeout=settings.request_timeout_s)
    except TimeoutError:
        metrics.timeouts.inc()
        raise ApiError(503, "That took too long to answer. Please try again.", "timeout", {"Retry-After": "1"}) from None
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

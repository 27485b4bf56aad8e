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
    in_flight: int = 0  # answers holding a slot


# A lone short question is answered on the event loop itself: the hop to a worker thread and
# back cost 0.4-0.7 ms of a ~4.5 ms round trip (bench/RESULTS.md), and no other request is
# waiting for the loop. An answer's cost grows with the user text it reads (~13 ms at 300
# characters, ~50 ms at 4,000), so a longer question, or any question arriving while another
# is in flight, goes to the executor, where the per-request timeout bounds it and the loop
# stays free for the others.
INLINE_MAX_CHARS = 300


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
    """Run the pipeline, bounded in concurrency and, off the event loop, in time."""
    settings = runtime.settings
    try:
        if runtime.slots.locked():  # only a full house pays for a timed wait
            await asyncio.wait_for(runtime.slots.acquire(), timeout=settings.request_timeout_s)
        else:
            await runtime.slots.acquire()
    except TimeoutError:
        raise ApiError(503, "Stride is busy right now. Please try again in a moment.", "busy", {"Retry-After": "1"}) from None
    runtime.in_flight += 1
    if runtime.in_flight == 1 and sum(len(m.content) for m in messages if m.role == "user") <= INLINE_MAX_CHARS:
        try:
            result = engine.answer(messages)
        finally:
            _release(runtime)
    else:
        result = await _answer_in_thread(runtime, engine, messages)
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


async def _answer_in_thread(runtime: Runtime, engine: Engine, messages: list[Message]) -> ChatResult:
    # The slot is freed when the pipeline's thread is done, not when the wait gives up: a
    # thread cannot be cancelled, and a timed-out answer still running must keep counting.
    def finished(done: asyncio.Future) -> None:
        _release(runtime)
        if not done.cancelled():
            done.exception()  # a failure after a timeout was already answered; don't log it as unretrieved

    work = asyncio.get_running_loop().run_in_executor(runtime.answering, engine.answer, messages)
    work.add_done_callback(finished)
    try:
        return await asyncio.wait_for(asyncio.shield(work), timeout=runtime.settings.request_timeout_s)
    except TimeoutError:
        metrics.timeouts.inc()
        raise ApiError(503, "That took too long to answer. Please try again.", "timeout", {"Retry-After": "1"}) from None


def _release(runtime: Runtime) -> None:
    runtime.in_flight -= 1
    runtime.slots.release()

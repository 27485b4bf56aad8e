"""The one way a route gets an answer: bounded in concurrency and in time, and on the event
loop itself only when it is a lone short question."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from service.api.deps import INLINE_MAX_CHARS, Runtime, answer
from service.config import Settings
from service.engine import ChatResult, Message
from service.errors import ApiError
from service.ratelimit import RateLimiter
from service.safety import SafetyResult

LONG = [Message("user", "x" * (INLINE_MAX_CHARS + 1))]
SHORT = [Message("user", "why do my hips hurt when I run")]


def _runtime(**overrides) -> Runtime:
    settings = Settings(_env_file=None, rate_limit="", **overrides)
    return Runtime(settings, None, RateLimiter(""), asyncio.Semaphore(settings.max_concurrency), None)


class SlowEngine:
    def answer(self, messages):
        time.sleep(0.3)
        raise RuntimeError("never read: the request already timed out")


class ThreadRecordingEngine:
    """Answers after `delay` seconds and notes the thread each answer ran on."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.threads: list[str] = []

    def answer(self, messages):
        self.threads.append(threading.current_thread().name)
        time.sleep(self.delay)
        return ChatResult("ok [1]", [], SafetyResult("none", (), None), abstained=False)


def test_a_timed_out_answer_keeps_its_slot_until_its_thread_is_done():
    async def scenario() -> tuple[bool, bool]:
        runtime = _runtime(request_timeout_s=0.05, max_concurrency=1)
        with pytest.raises(ApiError) as timed_out:
            await answer(runtime, SlowEngine(), LONG)  # type: ignore[arg-type]
        assert timed_out.value.code == "timeout"
        held_after_timeout = runtime.slots.locked()  # the pipeline is still running in its thread
        await asyncio.sleep(0.5)
        return held_after_timeout, runtime.slots.locked()

    held, held_later = asyncio.run(scenario())
    assert held and not held_later


def test_a_lone_short_question_is_answered_on_the_event_loop_and_a_long_one_in_a_thread():
    async def scenario(engine: ThreadRecordingEngine) -> Runtime:
        runtime = _runtime()
        await answer(runtime, engine, SHORT)  # type: ignore[arg-type]
        await answer(runtime, engine, SHORT + [Message("assistant", "y" * 4000)])  # type: ignore[arg-type]  (assistant text is not read)
        await answer(runtime, engine, LONG)  # type: ignore[arg-type]
        return runtime

    engine = ThreadRecordingEngine()
    runtime = asyncio.run(scenario(engine))
    loop_thread = threading.current_thread().name
    assert engine.threads[:2] == [loop_thread, loop_thread]
    assert engine.threads[2].startswith("stride-answer")
    assert runtime.in_flight == 0 and not runtime.slots.locked()


def test_a_short_question_arriving_while_another_is_answered_goes_to_a_thread():
    """The loop stays free while a long answer runs: the next question does not wait for it."""

    async def scenario(engine: ThreadRecordingEngine) -> tuple[list[ChatResult], Runtime]:
        runtime = _runtime()
        long_answer = asyncio.create_task(answer(runtime, engine, LONG))  # type: ignore[arg-type]
        await asyncio.sleep(0.05)  # the long one is in its thread
        results = await asyncio.gather(long_answer, answer(runtime, engine, SHORT))  # type: ignore[arg-type]
        return results, runtime

    engine = ThreadRecordingEngine(delay=0.2)
    results, runtime = asyncio.run(scenario(engine))
    assert [r.answer for r in results] == ["ok [1]", "ok [1]"]
    assert all(name.startswith("stride-answer") for name in engine.threads), engine.threads
    assert runtime.in_flight == 0 and not runtime.slots.locked()


def test_an_inline_answer_that_raises_frees_its_slot():
    class Broken:
        def answer(self, messages):
            raise RuntimeError("boom")

    async def scenario() -> Runtime:
        runtime = _runtime(max_concurrency=1)
        with pytest.raises(RuntimeError):
            await answer(runtime, Broken(), SHORT)  # type: ignore[arg-type]
        return runtime

    runtime = asyncio.run(scenario())
    assert runtime.in_flight == 0 and not runtime.slots.locked()

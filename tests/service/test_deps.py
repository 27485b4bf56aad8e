"""The one way a route gets an answer: bounded in concurrency and in time."""

from __future__ import annotations

import asyncio
import time

import pytest

from service.api.deps import Runtime, answer
from service.config import Settings
from service.errors import ApiError
from service.ratelimit import RateLimiter


class SlowEngine:
    def answer(self, messages):
        time.sleep(0.3)
        raise RuntimeError("never read: the request already timed out")


def test_a_timed_out_answer_keeps_its_slot_until_its_thread_is_done():
    async def scenario() -> tuple[bool, bool]:
        settings = Settings(_env_file=None, rate_limit="", request_timeout_s=0.05, max_concurrency=1)
        runtime = Runtime(settings, None, RateLimiter(""), asyncio.Semaphore(1), None)
        with pytest.raises(ApiError) as timed_out:
            await answer(runtime, SlowEngine(), [])  # type: ignore[arg-type]
        assert timed_out.value.code == "timeout"
        held_after_timeout = runtime.slots.locked()  # the pipeline is still running in its thread
        await asyncio.sleep(0.5)
        return held_after_timeout, runtime.slots.locked()

    held, held_later = asyncio.run(scenario())
    assert held and not held_later

"""Per-client rate limiting for the public endpoints, with the `limits` library.

Keyed by client address: a widget session id would be the caller's to choose and so
no limit at all. Moving windows, in memory (per worker process).
"""

from __future__ import annotations

import math
import time

from limits import parse_many, storage, strategies


class RateLimiter:
    def __init__(self, spec: str) -> None:
        # spec like "30/minute;300/hour"; empty disables limiting
        self._limits = parse_many(spec) if spec.strip() else []
        self._strategy = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    @property
    def enabled(self) -> bool:
        return bool(self._limits)

    def retry_after(self, key: str) -> int | None:
        """Seconds to wait if `key` is over a limit (nothing is counted then), else None after counting the hit."""
        for item in self._limits:
            if not self._strategy.test(item, "stride", key):
                reset, _remaining = self._strategy.get_window_stats(item, "stride", key)
                return max(1, math.ceil(reset - time.time()))
        for item in self._limits:
            self._strategy.hit(item, "stride", key)
        return None

"""Per-caller token buckets (in-process; each replica limits on its own)."""

from __future__ import annotations

import math
import time

from shared.problems import rate_limited


class RateLimiter:
    def __init__(self, rate_per_second: float, burst: int, max_callers: int = 100_000) -> None:
        self._rate = rate_per_second
        self._burst = float(burst)
        self._max = max_callers
        self._buckets: dict[str, tuple[float, float]] = {}

    def check(self, key: str) -> None:
        """Take one token for `key` or raise 429 with Retry-After."""
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            raise rate_limited(max(1, math.ceil((1 - tokens) / self._rate)))
        if len(self._buckets) >= self._max and key not in self._buckets:
            self._evict(now)
        self._buckets[key] = (tokens - 1, now)

    def _evict(self, now: float) -> None:
        # Buckets that refilled completely carry no state worth keeping.
        full = [k for k, (t, last) in self._buckets.items()
                if t + (now - last) * self._rate >= self._burst]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) >= self._max:
            self._buckets.clear()

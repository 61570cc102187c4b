from __future__ import annotations

import time
from collections.abc import Sequence


class EmbeddedCounters:
    """Fixed-window counters in a dict, swept of expired keys as it grows. Every method runs
    without an await, so each is atomic on the event loop."""

    def __init__(self, max_keys: int = 1_000_000) -> None:
        self._counts: dict[str, tuple[int, float]] = {}
        self._max_keys = max_keys

    async def incr(self, key: str, window_sec: int) -> int:
        return self._incr(key, window_sec, time.monotonic())

    def _incr(self, key: str, window_sec: int, now: float) -> int:
        count, expires = self._counts.get(key, (0, 0.0))
        if expires <= now:
            count, expires = 0, now + window_sec
            if len(self._counts) >= self._max_keys:
                self._sweep(now)
        count += 1
        self._counts[key] = (count, expires)
        return count

    async def get(self, key: str) -> int:
        return self._get(key, time.monotonic())

    def _get(self, key: str, now: float) -> int:
        count, expires = self._counts.get(key, (0, 0.0))
        return count if expires > now else 0

    async def ttl(self, key: str) -> float:
        count, expires = self._counts.get(key, (0, 0.0))
        left = expires - time.monotonic()
        return left if count > 0 and left > 0 else 0.0

    async def reset(self, key: str) -> None:
        self._counts.pop(key, None)

    async def reserve(self, limits: Sequence[tuple[str, int]], window_sec: int) -> bool:
        now = time.monotonic()
        if any(self._get(key, now) >= limit for key, limit in limits):
            return False
        for key, _ in limits:
            self._incr(key, window_sec, now)
        return True

    async def release(self, keys: Sequence[str]) -> None:
        now = time.monotonic()
        for key in keys:
            count, expires = self._counts.get(key, (0, 0.0))
            if count > 0 and expires > now:
                self._counts[key] = (count - 1, expires)

    def _sweep(self, now: float) -> None:
        for key in [k for k, (_, exp) in self._counts.items() if exp <= now]:
            del self._counts[key]
        if len(self._counts) >= self._max_keys:  # still full of live keys: drop the oldest half
            for key in list(self._counts)[: self._max_keys // 2]:
                del self._counts[key]

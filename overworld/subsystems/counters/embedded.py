from __future__ import annotations

import time


class EmbeddedCounters:
    """Fixed-window counters in a dict, swept of expired keys as it grows."""

    def __init__(self, max_keys: int = 1_000_000) -> None:
        self._counts: dict[str, tuple[int, float]] = {}
        self._max_keys = max_keys

    async def incr(self, key: str, window_sec: int) -> int:
        now = time.monotonic()
        count, expires = self._counts.get(key, (0, 0.0))
        if expires <= now:
            count, expires = 0, now + window_sec
            if len(self._counts) >= self._max_keys:
                self._sweep(now)
        count += 1
        self._counts[key] = (count, expires)
        return count

    async def get(self, key: str) -> int:
        count, expires = self._counts.get(key, (0, 0.0))
        return count if expires > time.monotonic() else 0

    async def reset(self, key: str) -> None:
        self._counts.pop(key, None)

    def _sweep(self, now: float) -> None:
        for key in [k for k, (_, exp) in self._counts.items() if exp <= now]:
            del self._counts[key]
        if len(self._counts) >= self._max_keys:  # still full of live keys: drop the oldest half
            for key in list(self._counts)[: self._max_keys // 2]:
                del self._counts[key]

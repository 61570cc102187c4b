from __future__ import annotations

import time
from collections.abc import Sequence

from overworld.subsystems.ratelimit.base import Key, Limit


class EmbeddedRateLimiter:
    """GCRA buckets in a dict of floats (one per key), swept of full buckets as it grows. `take`
    runs without an await, so it is atomic on the event loop."""

    def __init__(self, max_keys: int = 1_000_000) -> None:
        self._tat: dict[Key, float] = {}
        self._max_keys = max_keys

    async def take(self, limits: Sequence[Limit]) -> float:
        return self.take_at(limits, time.monotonic())

    def take_now(self, limits: Sequence[Limit]) -> float:
        return self.take_at(limits, time.monotonic())

    def take_at(self, limits: Sequence[Limit], now: float) -> float:
        tats = self._tat
        wait = 0.0
        for key, rate in limits:
            tat = tats.get(key, now)
            if tat < now:
                tat = now
            over = tat + rate.interval - rate.period - now  # > 0: no room for this one
            if over > wait:
                wait = over
        if wait > 0:
            return wait
        for key, rate in limits:
            tat = tats.get(key, now)
            tats[key] = (tat if tat > now else now) + rate.interval
        if len(tats) > self._max_keys:
            self._sweep(now)
        return 0.0

    def _sweep(self, now: float) -> None:
        for key in [k for k, tat in self._tat.items() if tat <= now]:  # full buckets
            del self._tat[key]
        if len(self._tat) > self._max_keys:  # still full of busy keys: forget the oldest half
            for key in list(self._tat)[: self._max_keys // 2]:
                del self._tat[key]

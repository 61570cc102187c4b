from __future__ import annotations

import time
from collections.abc import Sequence

from overworld.config import Rate
from overworld.subsystems.ratelimit.base import Key, Limit


class EmbeddedRateLimiter:
    """GCRA buckets in a dict of floats (one per key), swept of full buckets as it grows. `take`
    runs without an await, so it is atomic on the event loop."""

    def __init__(self, max_keys: int = 1_000_000) -> None:
        self._tat: dict[Key, float] = {}
        self._max_keys = max_keys

    async def take(self, limits: Sequence[Limit]) -> float:
        return self.take_at(limits, time.monotonic())

    def take_now(
        self,
        k1: Key,
        r1: Rate | None,
        k2: Key = "",
        r2: Rate | None = None,
        k3: Key = "",
        r3: Rate | None = None,
    ) -> float:
        # `take_at` unrolled for up to three buckets: one lookup per bucket, no list
        now = time.monotonic()
        tats = self._tat
        over = 0.0
        t1 = t2 = t3 = now
        if r1 is not None:
            t1 = tats.get(k1, now)
            t1 = (t1 if t1 > now else now) + r1.interval
            over = t1 - now - r1.period
        if r2 is not None:
            t2 = tats.get(k2, now)
            t2 = (t2 if t2 > now else now) + r2.interval
            if t2 - now - r2.period > over:
                over = t2 - now - r2.period
        if r3 is not None:
            t3 = tats.get(k3, now)
            t3 = (t3 if t3 > now else now) + r3.interval
            if t3 - now - r3.period > over:
                over = t3 - now - r3.period
        if over > 0:
            return over
        if r1 is not None:
            tats[k1] = t1
        if r2 is not None:
            tats[k2] = t2
        if r3 is not None:
            tats[k3] = t3
        if len(tats) > self._max_keys:
            self._sweep(now)
        return 0.0

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

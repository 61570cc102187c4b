from __future__ import annotations

import time
from collections.abc import Sequence

from overworld.config import Rate
from overworld.subsystems.ratelimit.base import Buckets, Limit, Spend


class EmbeddedRateLimiter:
    """GCRA buckets in tables (`Buckets`) of floats, one per key, each table swept of its full
    buckets as it grows past `max_keys`. `take_in` runs without an await, so it is atomic on the
    event loop."""

    def __init__(self, max_keys: int = 1_000_000) -> None:
        self._tables: dict[tuple[str, Rate], Buckets[float]] = {}
        self._max_keys = max_keys

    def buckets(self, name: str, rate: Rate) -> Buckets[float]:
        found = self._tables.get((name, rate))
        if found is None:
            found = self._tables[name, rate] = Buckets(name, rate)
        return found

    async def take(self, limits: Sequence[Limit]) -> float:
        return self.take_at([(self.buckets("", rate), key) for key, rate in limits], time.monotonic())

    async def take_in(self, spends: Sequence[Spend]) -> float:
        return self.take_at(spends, time.monotonic())

    def take_now(
        self,
        b1: Buckets[float] | None,
        k1: str,
        b2: Buckets[float] | None = None,
        k2: str = "",
        b3: Buckets[float] | None = None,
        k3: str = "",
    ) -> float:
        # `take_at` unrolled for up to three buckets: one lookup per bucket, no list
        now = time.monotonic()
        over = 0.0
        t1 = t2 = t3 = now
        if b1 is not None:
            t1 = b1.state.get(k1, now)
            t1 = (t1 if t1 > now else now) + b1.interval
            over = t1 - now - b1.period
        if b2 is not None:
            t2 = b2.state.get(k2, now)
            t2 = (t2 if t2 > now else now) + b2.interval
            if t2 - now - b2.period > over:
                over = t2 - now - b2.period
        if b3 is not None:
            t3 = b3.state.get(k3, now)
            t3 = (t3 if t3 > now else now) + b3.interval
            if t3 - now - b3.period > over:
                over = t3 - now - b3.period
        if over > 0:
            return over
        if b1 is not None:
            b1.state[k1] = t1
            if len(b1.state) > self._max_keys:
                self._sweep(b1, now)
        if b2 is not None:
            b2.state[k2] = t2
            if len(b2.state) > self._max_keys:
                self._sweep(b2, now)
        if b3 is not None:
            b3.state[k3] = t3
            if len(b3.state) > self._max_keys:
                self._sweep(b3, now)
        return 0.0

    def take_at(self, spends: Sequence[Spend], now: float) -> float:
        wait = 0.0
        for table, key in spends:
            tat = table.state.get(key, now)
            if tat < now:
                tat = now
            over = tat + table.interval - table.period - now  # > 0: no room for this one
            if over > wait:
                wait = over
        if wait > 0:
            return wait
        for table, key in spends:
            tat = table.state.get(key, now)
            table.state[key] = (tat if tat > now else now) + table.interval
            if len(table.state) > self._max_keys:
                self._sweep(table, now)
        return 0.0

    def _sweep(self, table: Buckets[float], now: float) -> None:
        tats = table.state
        for key in [k for k, tat in tats.items() if tat <= now]:  # full buckets
            del tats[key]
        if len(tats) > self._max_keys:  # still full of busy keys: forget the oldest half
            for key in list(tats)[: self._max_keys // 2]:
                del tats[key]

from __future__ import annotations

import time
from collections.abc import Sequence

from overworld.config import Rate
from overworld.subsystems.ratelimit.base import Buckets, Limit, Spend, spends_in_tables, spends_of

_monotonic = time.monotonic
_NEW = float("-inf")  # the TAT of a key a table does not hold yet (a full bucket)


class EmbeddedRateLimiter:
    """GCRA buckets in tables (`Buckets`) of floats, one per key, each table swept of its full
    buckets when a new key would take it past `max_keys`. `take_in` runs without an await, so it
    is atomic on the event loop."""

    def __init__(self, max_keys: int = 1_000_000) -> None:
        self._tables: dict[tuple[str, Rate], Buckets[float]] = {}
        self._max_keys = max_keys

    def buckets(self, name: str, rate: Rate) -> Buckets[float]:
        found = self._tables.get((name, rate))
        if found is None:
            found = self._tables[name, rate] = Buckets(name, rate)
        return found

    async def take(self, limits: Sequence[Limit]) -> float:
        return self.take_at(spends_in_tables(self, limits), _monotonic())

    async def take_in(self, spends: Sequence[Spend]) -> float:
        return self.take_at(spends, _monotonic())

    def take_now(
        self,
        b1: Buckets[float] | None,
        k1: str,
        b2: Buckets[float] | None = None,
        k2: str = "",
        b3: Buckets[float] | None = None,
        k3: str = "",
    ) -> float:
        # `take_at` unrolled for up to three buckets, in as few steps as it takes (each costs a
        # request more than its count suggests: this code is out of the CPU's caches between two
        # requests): one lookup per bucket, the table's size looked at only when a key is new,
        # and a refusal (rare) handed to `take_at`, which works out the wait over every bucket
        now = _monotonic()
        t1 = t2 = t3 = now
        if b1 is not None:
            t1 = b1.state.get(k1, _NEW)
            if t1 < now:
                if t1 == _NEW and len(b1.state) >= self._max_keys:
                    self._sweep(b1, now)
                t1 = now
            t1 += b1.interval
            if t1 - now > b1.period:
                return self.take_at(spends_of(b1, k1, b2, k2, b3, k3), now)
        if b2 is not None:
            t2 = b2.state.get(k2, _NEW)
            if t2 < now:
                if t2 == _NEW and len(b2.state) >= self._max_keys:
                    self._sweep(b2, now)
                t2 = now
            t2 += b2.interval
            if t2 - now > b2.period:
                return self.take_at(spends_of(b1, k1, b2, k2, b3, k3), now)
        if b3 is not None:
            t3 = b3.state.get(k3, _NEW)
            if t3 < now:
                if t3 == _NEW and len(b3.state) >= self._max_keys:
                    self._sweep(b3, now)
                t3 = now
            t3 += b3.interval
            if t3 - now > b3.period:
                return self.take_at(spends_of(b1, k1, b2, k2, b3, k3), now)
        if b1 is not None:
            b1.state[k1] = t1
        if b2 is not None:
            b2.state[k2] = t2
        if b3 is not None:
            b3.state[k3] = t3
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
            tat = table.state.get(key)
            if tat is None and len(table.state) >= self._max_keys:
                self._sweep(table, now)
            table.state[key] = (tat if tat is not None and tat > now else now) + table.interval
        return 0.0

    def _sweep(self, table: Buckets[float], now: float) -> None:
        tats = table.state
        for key in [k for k, tat in tats.items() if tat <= now]:  # full buckets
            del tats[key]
        if len(tats) >= self._max_keys:  # still full of busy keys: forget the oldest half
            for key in list(tats)[: self._max_keys // 2]:
                del tats[key]

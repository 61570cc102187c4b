"""Rate limits shared through Redis, without a round trip per request.

Each node borrows events from the shared GCRA bucket of a key in batches (a Lua script moves the
key's TAT on by as many intervals as it grants, on Redis's clock) and spends them locally; only
when a key's local batch is spent does a request wait for Redis. The nodes together never pass a
key's rate (every event a node spends was taken from the shared bucket first); what batches cost
is the other way: events one node holds unspent are refused elsewhere meanwhile. So a batch is
half the key's count for counts of 100 and more (a user's default 100/s: one Redis call per 50
of that user's calls of one kind, which mostly reach one node anyway), a fifth below, one under
10: a small limit (sign-ups, a test's) is exact.
Borrowed events a node does not spend within `_LEASE_SEC` (30 s) are dropped: a key admits fewer
events, never more, and a caller slower than its budget does not go back to Redis every second.

One borrow per key is under way at a time on a node: requests that need the same key meanwhile
wait for it and spend what it brought (a burst does not send a script per request, nor leave
borrowed events behind). And the borrows that requests need in the same turn of the event loop,
whatever their keys, go to Redis together as one script call: a borrow costs the node a few
hundred µs of CPU (redis-py, asyncio) however many keys it carries, and many players each calling
now and then (each of their keys borrowing anew once its lease is out) would otherwise cost one
call each. A batch is also topped up before it runs out: once a quarter of it is left, the key
joins the top-ups gathered over the next `REFILL_WINDOW_SEC` (20 ms), one script call for them
all, so a steady caller does not wait for Redis and the node sends a few calls a second however
many keys are busy. (A node then holds up to a batch and a quarter of a key unspent.)

A refusal is remembered locally until the time Redis said to wait, so a client that keeps sending
while limited costs no Redis calls. If Redis does not answer (an error, or no answer within
`timeout_sec`), the limiter logs it once and, for `retry_sec`, every node limits on its own with
the embedded limiter: the limits stay per node rather than shared, the server stays up (fails
open, docs/security.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from overworld.config import Rate
from overworld.subsystems.ratelimit.base import Buckets, Limit, Spend, spends_in_tables
from overworld.subsystems.ratelimit.embedded import EmbeddedRateLimiter

log = structlog.get_logger(__name__)

# ARGV: for each key, the events wanted, the interval and the period (milliseconds). For each key
# the reply holds the events granted and, when none, the milliseconds until one would be.
_BORROW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local out = {}
for i, key in ipairs(KEYS) do
  local want = tonumber(ARGV[3 * i - 2])
  local interval = tonumber(ARGV[3 * i - 1])
  local period = tonumber(ARGV[3 * i])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local room = math.floor((now + period - tat) / interval + 1e-9)
  if room > want then room = want end
  if room > 0 then
    tat = tat + room * interval
    redis.call('SET', key, string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 1)
    out[#out + 1] = room
    out[#out + 1] = 0
  else
    out[#out + 1] = 0
    out[#out + 1] = math.ceil(tat + interval - period - now)
  end
end
return out
"""
_LEASE_SEC = 30.0
# Keys whose batch runs low within this long are topped up by one script call.
REFILL_WINDOW_SEC = 0.02


def batch(rate: Rate) -> int:
    """The events a node borrows at once for a key of this rate."""
    return max(1, rate.count // 2 if rate.count >= 100 else rate.count // 5)


class RedisRateLimiter:
    def __init__(
        self, client: aioredis.Redis, prefix: str, timeout_sec: float = 1.0, retry_sec: float = 2.0
    ) -> None:
        self._prefix = f"{prefix}:rl:"
        self._borrow = client.register_script(_BORROW)
        self._timeout = timeout_sec
        self._retry = retry_sec
        # Each table's state: key -> [events left, until (monotonic), refused until (monotonic),
        # refill below]
        self._tables: dict[tuple[str, Rate], Buckets[list[float]]] = {}
        self._fallback = EmbeddedRateLimiter()
        self._down_until = 0.0
        self._down = False
        self._inflight: dict[Spend, asyncio.Future[None]] = {}  # the borrow under way for a bucket
        self._next: set[Spend] = set()  # the buckets of this turn's borrow, sent at its end
        self._next_done: asyncio.Future[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._refill: set[Spend] = set()  # buckets running low, borrowed for together shortly
        self._refill_timer: asyncio.TimerHandle | None = None

    def buckets(self, name: str, rate: Rate) -> Buckets[list[float]]:
        found = self._tables.get((name, rate))
        if found is None:
            found = self._tables[name, rate] = Buckets(name, rate, self._fallback.buckets(name, rate))
        return found

    def take_now(
        self,
        b1: Buckets[list[float]] | None,
        k1: str,
        b2: Buckets[list[float]] | None = None,
        k2: str = "",
        b3: Buckets[list[float]] | None = None,
        k3: str = "",
    ) -> float | None:
        now = time.monotonic()
        if now < self._down_until:
            return self._fallback.take_now(_spare(b1), k1, _spare(b2), k2, _spare(b3), k3)
        e1 = e2 = e3 = None
        if b1 is not None:
            e1 = b1.state.get(k1)
            if e1 is None or e1[1] <= now:
                return None
            if e1[0] < 1:
                return e1[2] - now if e1[2] > now else None
        if b2 is not None:
            e2 = b2.state.get(k2)
            if e2 is None or e2[1] <= now:
                return None
            if e2[0] < 1:
                return e2[2] - now if e2[2] > now else None
        if b3 is not None:
            e3 = b3.state.get(k3)
            if e3 is None or e3[1] <= now:
                return None
            if e3[0] < 1:
                return e3[2] - now if e3[2] > now else None
        # one event of each batch; a batch running low (a quarter left) is topped up in the
        # background before it runs out (`_refill_soon`)
        if e1 is not None:
            e1[0] -= 1
            if e1[0] < e1[3] and b1 is not None:
                self._refill_soon((b1, k1))
        if e2 is not None:
            e2[0] -= 1
            if e2[0] < e2[3] and b2 is not None:
                self._refill_soon((b2, k2))
        if e3 is not None:
            e3[0] -= 1
            if e3[0] < e3[3] and b3 is not None:
                self._refill_soon((b3, k3))
        return 0.0

    def _spend(self, spends: Sequence[Spend]) -> None:
        """Count one event of each bucket's local batch (`take_now`'s second half, for a list)."""
        for spend in spends:
            entry = spend[0].state[spend[1]]
            entry[0] -= 1
            if entry[0] < entry[3]:
                self._refill_soon(spend)

    def _refill_soon(self, spend: Spend) -> None:
        if spend in self._refill or spend in self._inflight:
            return
        self._refill.add(spend)
        if self._refill_timer is None:
            self._refill_timer = asyncio.get_running_loop().call_later(REFILL_WINDOW_SEC, self._send_refills)

    def _send_refills(self) -> None:
        self._refill_timer = None
        spends = [spend for spend in self._refill if spend not in self._inflight]
        self._refill.clear()
        if spends:
            self._borrow_soon(spends)  # with whatever else this turn borrows

    async def take(self, limits: Sequence[Limit]) -> float:
        return await self.take_in(spends_in_tables(self, limits))

    async def take_in(self, spends: Sequence[Spend]) -> float:
        now = time.monotonic()
        if now < self._down_until:
            return self._fallback.take_at(_spares(spends), now)
        for _ in range(8):
            missing: list[Spend] = []
            for spend in spends:
                entry: list[float] | None = spend[0].state.get(spend[1])
                if entry is None or entry[0] < 1 or entry[1] <= now:
                    if entry is not None and entry[2] > now:
                        return entry[2] - now  # refused a moment ago: no need to ask Redis
                    missing.append(spend)
            if missing:
                inflight = self._inflight
                borrowing = {inflight[spend] for spend in missing if spend in inflight}
                rest = [spend for spend in missing if spend not in inflight]
                if rest:
                    borrowing.add(self._borrow_soon(rest))
                await asyncio.wait(borrowing)  # then look again: others may have spent it
                now = time.monotonic()
                if now < self._down_until:
                    return self._fallback.take_at(_spares(spends), now)
                continue
            self._spend(spends)
            return 0.0
        return max(table.interval for table, _ in spends)  # contended: let the client come back

    def _borrow_soon(self, missing: list[Spend]) -> asyncio.Future[None]:
        """Add `missing` to this turn's borrow (one script call for every bucket asked for in the
        turn, sent once the turn's callbacks have run); its future is done when the answer is in
        the tables, or Redis has failed (then `_down_until` says so)."""
        done = self._next_done
        if done is None:
            loop = asyncio.get_running_loop()
            done = self._next_done = loop.create_future()
            loop.call_soon(self._send_borrow)
        for spend in missing:
            self._next.add(spend)
            self._inflight[spend] = done
        return done

    def _send_borrow(self) -> None:
        spends, done = list(self._next), self._next_done
        self._next, self._next_done = set(), None
        if done is None:
            return
        task = asyncio.get_running_loop().create_task(self._borrow_all(spends, done))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _borrow_all(self, spends: list[Spend], done: asyncio.Future[None]) -> None:
        try:
            await self._borrow_for(spends)
        except (RedisError, OSError, TimeoutError) as exc:
            self._redis_down(exc)
        else:
            if self._down:
                self._down = False
                log.info("rate limits shared through Redis again")
        finally:
            for spend in spends:
                if self._inflight.get(spend) is done:
                    del self._inflight[spend]
            done.set_result(None)

    async def _borrow_for(self, missing: list[Spend]) -> None:
        keys: list[str] = []
        args: list[float | int] = []
        for table, key in missing:
            keys.append(self._prefix + table.key_name(key))
            rate = table.rate
            args += [batch(rate), rate.interval * 1000, rate.period * 1000]
        async with asyncio.timeout(self._timeout):
            reply = await self._borrow(keys=keys, args=args)
        now = time.monotonic()
        for i, (table, key) in enumerate(missing):
            granted, wait_ms = int(reply[2 * i]), int(reply[2 * i + 1])
            local = table.state
            entry = local.get(key)
            if granted:
                rate = table.rate
                lease = max(_LEASE_SEC, rate.period)
                left = entry[0] if entry is not None and entry[1] > now else 0
                local[key] = [left + granted, now + lease, 0.0, batch(rate) // 4]
            else:
                until = now + max(wait_ms, 1) / 1000
                if entry is None:
                    local[key] = [0, 0.0, until, 0]
                else:
                    entry[2] = until
            if len(local) > _MAX_LOCAL:
                _sweep(local, now)

    def _redis_down(self, exc: BaseException) -> None:
        self._down_until = time.monotonic() + self._retry
        if not self._down:
            self._down = True
            log.warning(
                "rate limits: Redis did not answer; each node limits on its own until it does",
                error=repr(exc),
            )


_MAX_LOCAL = 100_000  # a table's local batches, past which the spent and refused-long-ago go


def _sweep(local: dict[str, list[float]], now: float) -> None:
    for key in [k for k, e in local.items() if e[1] <= now and e[2] <= now]:
        del local[key]


def _spare(table: Buckets[Any] | None) -> Buckets[Any] | None:
    return None if table is None else table.spare


def _spares(spends: Sequence[Spend]) -> list[Spend]:
    """The fallback's tables' buckets for `spends` (the embedded limiter's, while Redis is out)."""
    return [(table.spare, key) for table, key in spends if table.spare is not None]

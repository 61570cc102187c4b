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
borrowed events behind).

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

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from overworld.config import Rate
from overworld.subsystems.ratelimit.base import Key, Limit
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
        # key -> [events left, until (monotonic), refused until (monotonic)]
        self._local: dict[Key, list[float]] = {}
        self._fallback = EmbeddedRateLimiter()
        self._down_until = 0.0
        self._down = False
        self._inflight: dict[Key, asyncio.Future[None]] = {}  # the borrow under way for a key

    def take_now(self, limits: Sequence[Limit]) -> float | None:
        now = time.monotonic()
        if now < self._down_until:
            return self._fallback.take_at(limits, now)
        local = self._local
        for key, _ in limits:
            entry = local.get(key)
            if entry is None or entry[1] <= now:
                return None
            if entry[0] < 1:
                return entry[2] - now if entry[2] > now else None
        for key, _ in limits:
            local[key][0] -= 1
        return 0.0

    async def take(self, limits: Sequence[Limit]) -> float:
        now = time.monotonic()
        if now < self._down_until:
            return self._fallback.take_at(limits, now)
        local = self._local
        for _ in range(8):
            missing: list[Limit] = []
            for limit in limits:
                entry = local.get(limit[0])
                if entry is None or entry[0] < 1 or entry[1] <= now:
                    if entry is not None and entry[2] > now:
                        return entry[2] - now  # refused a moment ago: no need to ask Redis
                    missing.append(limit)
            if missing:
                borrowing = [self._inflight[key] for key, _ in missing if key in self._inflight]
                if borrowing:  # one borrow per key at a time on this node: wait for it, then look
                    await asyncio.wait(borrowing)
                    now = time.monotonic()
                    continue
                done = asyncio.get_running_loop().create_future()
                for key, _ in missing:
                    self._inflight[key] = done
                try:
                    wait = await self._borrow_for(missing)
                except (RedisError, OSError, TimeoutError) as exc:
                    return self._redis_down(exc, limits)
                finally:
                    for key, _ in missing:
                        self._inflight.pop(key, None)
                    done.set_result(None)
                if self._down:
                    self._down = False
                    log.info("rate limits shared through Redis again")
                if wait:
                    return wait
                now = time.monotonic()
                continue  # check again: another request may have spent what was borrowed
            for key, _ in limits:
                local[key][0] -= 1
            return 0.0
        return max(rate.interval for _, rate in limits)  # contended: let the client come back

    async def _borrow_for(self, missing: list[Limit]) -> float:
        keys: list[str] = []
        args: list[float | int] = []
        for key, rate in missing:
            keys.append(self._prefix + (key if isinstance(key, str) else ":".join(key)))
            args += [batch(rate), rate.interval * 1000, rate.period * 1000]
        async with asyncio.timeout(self._timeout):
            reply = await self._borrow(keys=keys, args=args)
        now = time.monotonic()
        local = self._local
        wait = 0.0
        for i, (key, rate) in enumerate(missing):
            granted, wait_ms = int(reply[2 * i]), int(reply[2 * i + 1])
            entry = local.get(key)
            if granted:
                lease = max(_LEASE_SEC, rate.period)
                left = entry[0] if entry is not None and entry[1] > now else 0
                local[key] = [left + granted, now + lease, 0.0]
            else:
                until = now + max(wait_ms, 1) / 1000
                if entry is None:
                    local[key] = [0, 0.0, until]
                else:
                    entry[2] = until
                wait = max(wait, until - now)
        if len(local) > 100_000:
            self._sweep(now)
        return wait

    def _redis_down(self, exc: BaseException, limits: Sequence[Limit]) -> float:
        now = time.monotonic()
        self._down_until = now + self._retry
        if not self._down:
            self._down = True
            log.warning(
                "rate limits: Redis did not answer; each node limits on its own until it does",
                error=repr(exc),
            )
        return self._fallback.take_at(limits, now)

    def _sweep(self, now: float) -> None:
        for key in [k for k, e in self._local.items() if e[1] <= now and e[2] <= now]:
            del self._local[key]

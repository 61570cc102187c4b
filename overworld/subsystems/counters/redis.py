from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

# INCR, and start the expiry on the first increment only (a key without one: new), in one
# round trip. (Not `n == 1`: a count released back to zero keeps its window.)
_INCR = """
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""

# Counters.reserve: ARGV[1] is the window, ARGV[i + 1] the limit of KEYS[i]. A script runs alone,
# so no other reservation on any node comes between the checks and the increments.
_RESERVE = """
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i + 1]) then return 0 end
end
for _, key in ipairs(KEYS) do
  redis.call('INCR', key)
  if redis.call('PTTL', key) < 0 then redis.call('EXPIRE', key, ARGV[1]) end
end
return 1
"""

# Counters.release: DECR keeps a key's expiry; a key that is gone (or at zero) stays so.
_RELEASE = """
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
return 0
"""


# Counters.ttl: the count and the milliseconds left of its window, read together.
_TTL = """
return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('PTTL', KEYS[1])}
"""


class RedisCounters:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = f"{prefix}:ctr:"
        self._incr = client.register_script(_INCR)
        self._reserve = client.register_script(_RESERVE)
        self._release = client.register_script(_RELEASE)
        self._ttl = client.register_script(_TTL)

    async def incr(self, key: str, window_sec: int) -> int:
        return int(await self._incr(keys=[self._prefix + key], args=[window_sec]))

    async def get(self, key: str) -> int:
        value = await self._redis.get(self._prefix + key)
        return int(value) if value else 0

    async def ttl(self, key: str) -> float:
        count, left_ms = await self._ttl(keys=[self._prefix + key])
        return int(left_ms) / 1000 if int(count) > 0 and int(left_ms) > 0 else 0.0

    async def reset(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)

    async def reserve(self, limits: Sequence[tuple[str, int]], window_sec: int) -> bool:
        keys = [self._prefix + key for key, _ in limits]
        args = [window_sec, *(limit for _, limit in limits)]
        return bool(await self._reserve(keys=keys, args=args))

    async def release(self, keys: Sequence[str]) -> None:
        if keys:
            await self._release(keys=[self._prefix + key for key in keys])

from __future__ import annotations

import redis.asyncio as aioredis

# INCR, and start the expiry on the first increment only, in one round trip.
_INCR = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


class RedisCounters:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = f"{prefix}:ctr:"
        self._incr = client.register_script(_INCR)

    async def incr(self, key: str, window_sec: int) -> int:
        return int(await self._incr(keys=[self._prefix + key], args=[window_sec]))

    async def get(self, key: str) -> int:
        value = await self._redis.get(self._prefix + key)
        return int(value) if value else 0

    async def reset(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)

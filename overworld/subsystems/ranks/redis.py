from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis

from overworld.subsystems.ranks.base import RankEntry, pack, unpack

# Members are the 32-byte big-endian sort keys, all with score 0, so ZRANK orders them by bytes,
# which is the numeric order of the keys. A hash maps each owner to its member and generation.
_SET = """
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old then
  if tonumber(ARGV[3]) <= tonumber(string.sub(old, 33)) then
    return redis.call('ZRANK', KEYS[1], string.sub(old, 1, 32)) + 1
  end
  redis.call('ZREM', KEYS[1], string.sub(old, 1, 32))
end
redis.call('ZADD', KEYS[1], 0, ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ARGV[3])
return redis.call('ZRANK', KEYS[1], ARGV[2]) + 1
"""
_DELETE = """
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old then
  redis.call('ZREM', KEYS[1], string.sub(old, 1, 32))
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return 0
"""
_RANKS = """
local out = {}
for i, owner in ipairs(ARGV) do
  local old = redis.call('HGET', KEYS[2], owner)
  if old then
    out[i] = redis.call('ZRANK', KEYS[1], string.sub(old, 1, 32)) + 1
  else
    out[i] = 0
  end
end
return out
"""
# Swap a freshly built period in: the temporary keys replace the live ones, and the period is
# marked built, in one step.
_SWAP = """
redis.call('DEL', KEYS[1], KEYS[2])
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('RENAME', KEYS[3], KEYS[1]) end
if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('RENAME', KEYS[4], KEYS[2]) end
redis.call('SET', KEYS[5], '1')
return redis.call('ZCARD', KEYS[1])
"""
# Load a chunk of a rebuild: ARGV[1] the 32-byte members back to back, ARGV[2] the owner ids
# (36 characters each), ARGV[3] the generations (20 digits each, zero-padded). Three arguments
# instead of four per entry: redis-py encodes each argument in Python, which was most of a rebuild.
_LOAD = """
local members, owners, gens = ARGV[1], ARGV[2], ARGV[3]
local n = #members / 32
local zargs, hargs = {}, {}
local function flush()
  if #zargs > 0 then
    redis.call('ZADD', KEYS[1], unpack(zargs))
    redis.call('HSET', KEYS[2], unpack(hargs))
    zargs, hargs = {}, {}
  end
end
for i = 0, n - 1 do
  local m = string.sub(members, i * 32 + 1, i * 32 + 32)
  zargs[#zargs + 1] = 0
  zargs[#zargs + 1] = m
  hargs[#hargs + 1] = string.sub(owners, i * 36 + 1, i * 36 + 36)
  hargs[#hargs + 1] = m .. string.sub(gens, i * 20 + 1, i * 20 + 20)
  if #zargs >= 4000 then flush() end
end
flush()
return n
"""
# Release a rebuild lock only if it still holds our token: a rebuild that outlived the lock's TTL
# must not delete the lock another node has taken since.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
_CHUNK = 20_000


def _member(key: int) -> bytes:
    return key.to_bytes(32, "big")


class RedisRankIndex:
    """Shared by every node: a sorted set and a hash per period, updated by Lua scripts so that
    each change (generation check, move, rank) is one atomic round trip."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = f"{prefix}:rk:"
        self._set = client.register_script(_SET)
        self._delete = client.register_script(_DELETE)
        self._ranks = client.register_script(_RANKS)
        self._swap = client.register_script(_SWAP)
        self._load = client.register_script(_LOAD)
        self._unlock = client.register_script(_UNLOCK)

    def _keys(self, key: str) -> tuple[str, str]:
        base = f"{self._prefix}{{{key}}}"
        return base + ":z", base + ":o"

    def _marker(self, key: str) -> str:
        return f"{self._prefix}{{{key}}}:b"

    async def rebuild(self, key: str, descending: bool, rows: Iterable[Sequence[Any]]) -> int:
        zset, owners = self._keys(key)
        tmp_z, tmp_o = zset + ":tmp", owners + ":tmp"
        await self._redis.delete(tmp_z, tmp_o)
        members: list[bytes] = []
        ids: list[str] = []
        gens: list[str] = []
        pending: list[Any] = []
        for owner, score, subscore, generation in rows:
            members.append(_member(pack(descending, owner, score, subscore)))
            ids.append(owner)
            gens.append(f"{generation:020d}")
            if len(members) >= _CHUNK:
                pending.append(self._load_chunk(tmp_z, tmp_o, members, ids, gens))
                members, ids, gens = [], [], []
                if len(pending) >= 2:  # keep Redis busy while the next chunk is packed
                    await pending.pop(0)
        if members:
            pending.append(self._load_chunk(tmp_z, tmp_o, members, ids, gens))
        for load in pending:
            await load
        return int(await self._swap(keys=[zset, owners, tmp_z, tmp_o, self._marker(key)]))

    def _load_chunk(
        self, tmp_z: str, tmp_o: str, members: list[bytes], ids: list[str], gens: list[str]
    ) -> asyncio.Task[Any]:
        if any(len(i) != 36 for i in ids):
            raise ValueError("owner ids must be canonical UUIDs")
        args: list[bytes | str] = [b"".join(members), "".join(ids), "".join(gens)]
        return asyncio.ensure_future(self._load(keys=[tmp_z, tmp_o], args=args))

    async def set(
        self, key: str, descending: bool, owner_id: str, score: int, subscore: int, generation: int
    ) -> int:
        member = _member(pack(descending, owner_id, score, subscore))
        return int(await self._set(keys=list(self._keys(key)), args=[owner_id, member, generation]))

    async def delete(self, key: str, owner_id: str) -> None:
        await self._delete(keys=list(self._keys(key)), args=[owner_id])

    async def rank(self, key: str, owner_id: str) -> int:
        return (await self.ranks(key, [owner_id])).get(owner_id, 0)

    async def ranks(self, key: str, owner_ids: Sequence[str]) -> Mapping[str, int]:
        if not owner_ids:
            return {}
        found = await self._ranks(keys=list(self._keys(key)), args=list(owner_ids))
        return {owner: int(rank) for owner, rank in zip(owner_ids, found, strict=True) if rank}

    async def count(self, key: str) -> int:
        return int(await self._redis.zcard(self._keys(key)[0]))

    async def range(self, key: str, descending: bool, first: int, last: int) -> list[RankEntry]:
        if last < first:
            return []
        first = max(first, 1)
        members: list[bytes] = await self._redis.zrange(  # type: ignore[assignment]
            self._keys(key)[0], first - 1, last - 1
        )
        entries = []
        for offset, raw in enumerate(members):
            owner, score, subscore = unpack(descending, int.from_bytes(raw, "big"))
            entries.append(RankEntry(owner, score, subscore, first + offset))
        return entries

    async def drop(self, key: str) -> None:
        zset, owners = self._keys(key)
        await self._redis.delete(zset, owners, self._marker(key))

    async def built(self, key: str) -> bool:
        return bool(await self._redis.exists(self._marker(key)))

    async def lock(self, key: str, owner: str, ttl_ms: int) -> bool:
        """Take the right to rebuild a period (one node at a time)."""
        return bool(await self._redis.set(self._lock(key), owner, nx=True, px=ttl_ms))

    async def unlock(self, key: str, owner: str) -> None:
        """Give the lock back if `owner` still holds it (it may have expired and been taken)."""
        await self._unlock(keys=[self._lock(key)], args=[owner])

    def _lock(self, key: str) -> str:
        return f"{self._marker(key)}:lock"

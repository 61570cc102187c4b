"""The cluster's `PartyIndex`: one Redis hash per title, `<prefix>:party:<title id>`, field = party
id, value = the entry as JSON. Every node reads it; only a party's home node writes its entry.

A listing reads the title's hash (`HGETALL`). Entries already decoded are kept by their raw value,
so an unchanged party's label is parsed once, not at every listing.
"""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis

from overworld.parties.index import PartyEntry


class RedisPartyIndex:
    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis: Any = redis  # replies are bytes (no decode_responses); redis-py types them wide
        self._prefix = prefix
        self._decoded: dict[str, dict[bytes, PartyEntry]] = {}  # title id -> raw value -> entry

    def _key(self, title_id: str) -> str:
        return f"{self._prefix}:party:{title_id}"

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        self._decoded.clear()

    async def put(self, entry: PartyEntry) -> None:
        await self._redis.hset(self._key(entry.title_id), entry.party_id, orjson.dumps(entry.as_dict()))

    async def remove(self, title_id: str, party_id: str) -> None:
        await self._redis.hdel(self._key(title_id), party_id)

    async def entries(self, title_id: str) -> list[PartyEntry]:
        raw: dict[bytes, bytes] = await self._redis.hgetall(self._key(title_id))
        known = self._decoded.get(title_id, {})
        decoded: dict[bytes, PartyEntry] = {}
        for value in raw.values():
            entry = known.get(value)
            if entry is None:
                try:
                    entry = PartyEntry.from_dict(orjson.loads(value))
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                    continue
            decoded[value] = entry
        if decoded:
            self._decoded[title_id] = decoded
        else:
            self._decoded.pop(title_id, None)
        return list(decoded.values())

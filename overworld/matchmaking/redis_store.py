"""The cluster's ticket store: tickets in Redis, one matcher at a time by lease.

Keys (under `<prefix>:mm:`): `<title>:t` a hash of the title's tickets (`seq|json`),
`<title>:stats` the matcher's latest stats of the title (JSON),
`<title>:o:<owner>` the set of an owner's ticket ids (its limit), `titles` the titles with
tickets, `log` a stream of every add and removal, `seq` the arrival counter, `lease` the
matcher's lease. Adding, removing and claiming are Lua scripts, so each is atomic: a ticket is
claimed by at most one match, and a ticket removed by its owner is never matched afterwards.

The node holding the lease (`SET NX PX`, renewed on every pass by a compare-and-extend script)
is the matcher: when it takes the lease it loads every ticket into its engine, then follows the
log from the point of the snapshot. Another node takes over within `lease_ms` of the holder's
death; a node that loses the lease drops its copy.
"""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis
import structlog

from overworld.matchmaking.engine import Engine
from overworld.matchmaking.models import MatchmakerStats, Ticket
from overworld.matchmaking.store import TooManyTickets

log = structlog.get_logger(__name__)
LOG_MAX = 200_000

_ADD = """
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[3]) then return -1 end
local seq = redis.call('INCR', KEYS[4])
local value = seq .. '|' .. ARGV[2]
redis.call('HSET', KEYS[1], ARGV[1], value)
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[5], ARGV[4])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'o', 'a', 't', ARGV[4], 'v', value)
return seq
"""

# KEYS: tickets hash, log. ARGV: title, owner-set key prefix, expected owner ("" any), ids...
_REMOVE = """
local removed = {}
for i = 4, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if v then
    local d = cjson.decode(string.sub(v, string.find(v, '|', 1, true) + 1))
    if ARGV[3] == '' or d['k'] == ARGV[3] then
      redis.call('HDEL', KEYS[1], ARGV[i])
      redis.call('SREM', ARGV[2] .. d['k'], ARGV[i])
      redis.call('XADD', KEYS[2], 'MAXLEN', '~', 200000, '*', 'o', 'r', 't', ARGV[1], 'i', ARGV[i])
      removed[#removed + 1] = ARGV[i]
    end
  end
end
return removed
"""

# KEYS: tickets hash, log. ARGV: title, owner-set key prefix, ids... All present, or nothing
# (then the missing ids are returned).
_CLAIM = """
local missing = {}
for i = 3, #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then missing[#missing + 1] = ARGV[i] end
end
if #missing > 0 then return missing end
for i = 3, #ARGV do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  local d = cjson.decode(string.sub(v, string.find(v, '|', 1, true) + 1))
  redis.call('HDEL', KEYS[1], ARGV[i])
  redis.call('SREM', ARGV[2] .. d['k'], ARGV[i])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', 200000, '*', 'o', 'r', 't', ARGV[1], 'i', ARGV[i])
end
return missing
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""


def _decode(value: bytes | str) -> Ticket:
    raw = value.decode() if isinstance(value, bytes) else value
    seq, _, body = raw.partition("|")
    d = orjson.loads(body)
    d["seq"] = int(seq)
    return Ticket.from_dict(d)


class RedisTicketStore:
    def __init__(
        self, redis: aioredis.Redis, prefix: str, node: str, engine: Engine, lease_ms: int = 3000
    ) -> None:
        self.engine = engine
        self._redis: Any = redis  # replies are parsed below; redis-py types them as wide unions
        self._p = f"{prefix}:mm"
        self._node = node
        self._lease_ms = lease_ms
        self._leading = False
        self._last_id = "0-0"
        self._add = redis.register_script(_ADD)
        self._remove = redis.register_script(_REMOVE)
        self._claim = redis.register_script(_CLAIM)
        self._renew = redis.register_script(_RENEW)

    def _tickets(self, title_id: str) -> str:
        return f"{self._p}:{title_id}:t"

    def _owners(self, title_id: str) -> str:
        return f"{self._p}:{title_id}:o:"

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        if self._leading:
            # Hand over at once rather than after the lease runs out.
            release = (
                "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
            )
            await self._redis.eval(release, 1, f"{self._p}:lease", self._node)
            self._leading = False

    async def add(self, ticket: Ticket, limit: int) -> None:
        d = ticket.as_dict()
        d.pop("seq")
        keys = [
            self._tickets(ticket.title_id), self._owners(ticket.title_id) + ticket.session_key,
            f"{self._p}:log", f"{self._p}:seq", f"{self._p}:titles",
        ]  # fmt: skip
        seq = await self._add(keys=keys, args=[ticket.id, orjson.dumps(d), limit, ticket.title_id, LOG_MAX])
        if int(seq) < 0:
            raise TooManyTickets()
        ticket.seq = int(seq)

    async def remove(self, title_id: str, ticket_id: str, owner: str) -> bool:
        removed = await self._remove(
            keys=[self._tickets(title_id), f"{self._p}:log"],
            args=[title_id, self._owners(title_id), owner, ticket_id],
        )
        return bool(removed)

    async def remove_owner(self, title_id: str, owner: str) -> list[str]:
        ids = [
            i.decode() if isinstance(i, bytes) else i
            for i in await self._redis.smembers(self._owners(title_id) + owner)
        ]
        if not ids:
            return []
        removed = await self._remove(
            keys=[self._tickets(title_id), f"{self._p}:log"],
            args=[title_id, self._owners(title_id), owner, *ids],
        )
        return [i.decode() if isinstance(i, bytes) else i for i in removed]

    async def claim(self, title_id: str, ticket_ids: list[str]) -> list[str]:
        missing = await self._claim(
            keys=[self._tickets(title_id), f"{self._p}:log"],
            args=[title_id, self._owners(title_id), *ticket_ids],
        )
        return [i.decode() if isinstance(i, bytes) else i for i in missing]

    async def lead(self) -> bool:
        lease = f"{self._p}:lease"
        if self._leading:
            if not await self._renew(keys=[lease], args=[self._node, self._lease_ms]):
                log.warning("matchmaker lease lost", node=self._node)
                self._leading = False
                self.engine.pools.clear()
                return False
            await self._follow()
            return True
        if not await self._redis.set(lease, self._node, nx=True, px=self._lease_ms):
            return False
        self._leading = True
        await self._load()
        log.info("matchmaker lease taken", node=self._node, tickets=len(self.engine))
        return True

    async def put_stats(self, title_id: str, stats: MatchmakerStats) -> None:
        await self._redis.set(f"{self._p}:{title_id}:stats", orjson.dumps(stats.as_dict()))

    async def stats(self, title_id: str) -> MatchmakerStats | None:
        raw = await self._redis.get(f"{self._p}:{title_id}:stats")
        if raw is None:
            return None
        try:
            return MatchmakerStats.from_dict(orjson.loads(raw))
        except (orjson.JSONDecodeError, TypeError, ValueError):
            return None

    async def _load(self) -> None:
        """Snapshot every ticket into a fresh engine, then follow the log from the snapshot."""
        self.engine.pools.clear()
        last = await self._redis.xrevrange(f"{self._p}:log", count=1)
        self._last_id = last[0][0].decode() if last else "0-0"
        tickets: list[Ticket] = []
        for title in await self._redis.smembers(f"{self._p}:titles"):
            title_id = title.decode() if isinstance(title, bytes) else title
            for value in (await self._redis.hgetall(self._tickets(title_id))).values():
                tickets.append(_decode(value))
        tickets.sort(key=lambda t: t.seq)
        for t in tickets:
            self.engine.add(t)
        await self._follow()

    async def _follow(self) -> None:
        engine = self.engine
        while True:
            batch = await self._redis.xread({f"{self._p}:log": self._last_id}, count=10_000)
            if not batch:
                return
            entries = batch[0][1]
            for _entry_id, fields in entries:
                op = fields[b"o"]
                title_id = fields[b"t"].decode()
                if op == b"a":
                    engine.add(_decode(fields[b"v"]))
                else:
                    engine.remove(title_id, fields[b"i"].decode())
            self._last_id = entries[-1][0].decode()
            if len(entries) < 10_000:
                return

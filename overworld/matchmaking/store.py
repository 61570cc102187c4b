"""Where waiting tickets live: the `TicketStore` interface and its embedded implementation.

Every node adds and removes tickets through the store; one node, the *matcher*, keeps a copy in
an `Engine` and runs the passes. Embedded, the store is the engine itself and this node is
always the matcher. On a cluster (`overworld.matchmaking.redis_store`), tickets live in Redis,
the matcher is whichever node holds the lease, and claiming a match's tickets is atomic.
"""

from __future__ import annotations

from typing import Protocol

from overworld.matchmaking.engine import Engine
from overworld.matchmaking.models import MatchmakerStats, Ticket


class TooManyTickets(Exception):
    pass


class TicketStore(Protocol):
    engine: Engine

    async def start(self) -> None: ...
    async def close(self) -> None: ...

    async def add(self, ticket: Ticket, limit: int) -> None:
        """Store `ticket` (its `seq` is set here); `TooManyTickets` when its owner
        (`session_key`) already has `limit` tickets."""
        ...

    async def remove(self, title_id: str, ticket_id: str, owner: str) -> bool:
        """Remove a ticket if it exists and (unless `owner` is "") belongs to `owner`."""
        ...

    async def remove_owner(self, title_id: str, owner: str) -> list[str]:
        """Remove every ticket of an owner (a session that left, a party that changed)."""
        ...

    async def claim(self, title_id: str, ticket_ids: list[str]) -> list[str]:
        """Take these tickets out of the pool, all or none: the ids of those already gone (then
        nothing is taken), or [] when all were taken."""
        ...

    async def lead(self) -> bool:
        """Whether this node is the matcher now (renewing its lease), with `engine` up to date."""
        ...

    async def put_stats(self, title_id: str, stats: MatchmakerStats) -> None:
        """The matcher's latest stats of a title, for every node to read."""
        ...

    async def stats(self, title_id: str) -> MatchmakerStats | None:
        """The title's latest stats (None before the matcher published any)."""
        ...


class EmbeddedTicketStore:
    """Tickets in this process: the engine is the store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._seq = 0
        self._tickets: dict[tuple[str, str], Ticket] = {}  # (title, id): every waiting ticket
        self._owned: dict[tuple[str, str], set[str]] = {}
        self._stats: dict[str, MatchmakerStats] = {}

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def add(self, ticket: Ticket, limit: int) -> None:
        owned = self._owned.setdefault((ticket.title_id, ticket.session_key), set())
        if len(owned) >= limit:
            raise TooManyTickets()
        self._seq += 1
        ticket.seq = self._seq
        owned.add(ticket.id)
        self._tickets[(ticket.title_id, ticket.id)] = ticket
        self.engine.add(ticket)

    def _forget(self, t: Ticket) -> None:
        key = (t.title_id, t.session_key)
        owned = self._owned.get(key)
        if owned is not None:
            owned.discard(t.id)
            if not owned:
                del self._owned[key]

    async def remove(self, title_id: str, ticket_id: str, owner: str) -> bool:
        t = self._tickets.get((title_id, ticket_id))
        if t is None or (owner and t.session_key != owner):
            return False
        del self._tickets[(title_id, ticket_id)]
        self.engine.remove(title_id, ticket_id)
        self._forget(t)
        return True

    async def remove_owner(self, title_id: str, owner: str) -> list[str]:
        ids = list(self._owned.pop((title_id, owner), ()))
        for ticket_id in ids:
            self._tickets.pop((title_id, ticket_id), None)
            self.engine.remove(title_id, ticket_id)
        return ids

    async def claim(self, title_id: str, ticket_ids: list[str]) -> list[str]:
        missing = [i for i in ticket_ids if (title_id, i) not in self._tickets]
        if missing:
            return missing
        for i in ticket_ids:
            t = self._tickets.pop((title_id, i))
            self.engine.remove(title_id, i)
            self._forget(t)
        return []

    async def lead(self) -> bool:
        return True

    async def put_stats(self, title_id: str, stats: MatchmakerStats) -> None:
        self._stats[title_id] = stats

    async def stats(self, title_id: str) -> MatchmakerStats | None:
        return self._stats.get(title_id)

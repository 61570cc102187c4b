"""The matchmaker's TicketStore contract (overworld/matchmaking/store.py), run against the
embedded store and the Redis one.

A deployment is a list of nodes' stores: embedded, the one store (its node is always the
matcher, its engine the store itself); on Redis, two `RedisTicketStore`s on one prefix, each
with its own connection and engine. Every node adds, removes and claims; `lead()` says which is
the matcher, whose engine then holds exactly the waiting tickets, oldest first. Which node holds
the lease, and what happens when it goes, is tested on Redis only, saying so.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from overworld.matchmaking.engine import Engine
from overworld.matchmaking.models import MatchmakerStats, Member, Ticket
from overworld.matchmaking.store import EmbeddedTicketStore, TicketStore, TooManyTickets
from overworld.query import parse
from tests.subsystems.support import (
    IMPLEMENTATIONS,
    RedisSpace,
    deployed,
    redis_only,
)

pytestmark = pytest.mark.anyio
LEASE_MS = 300
TITLE, OTHER_TITLE = "title-1", "title-2"


class Deployment:
    def __init__(self, space: RedisSpace | None) -> None:
        self.space = space
        self.prefix = space.prefix() if space is not None else ""
        self.started: list[TicketStore] = []

    async def nodes(self, count: int = 2) -> list[TicketStore]:
        """The started stores of this deployment's nodes: one when embedded, `count` on Redis."""
        if self.space is None:
            stores: list[TicketStore] = [EmbeddedTicketStore(Engine())]
        else:
            from overworld.matchmaking.redis_store import RedisTicketStore

            stores = [
                RedisTicketStore(self.space.client(), self.prefix, f"node-{i}", Engine(), lease_ms=LEASE_MS)
                for i in range(len(self.started), len(self.started) + count)
            ]
        for store in stores:
            await store.start()
        self.started.extend(stores)
        return stores

    async def close(self) -> None:
        for store in self.started:
            await store.close()


@pytest.fixture(params=IMPLEMENTATIONS)
async def deployment(request: pytest.FixtureRequest) -> AsyncIterator[Deployment]:
    async with deployed(request, Deployment, "mmtest") as running:
        yield running


def ticket(owner: str, title_id: str = TITLE, players: int = 1, **changes: Any) -> Ticket:
    members = [Member(f"{owner}-s{i}", str(uuid.uuid4()), f"{owner}-{i}", "node-0") for i in range(players)]
    fields: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "title_id": title_id,
        "seq": 0,
        "created": time.time(),
        "query": parse("+properties.mode:duel"),
        "min_count": 2,
        "max_count": 4,
        "count_multiple": 1,
        "s": {"mode": "duel", "queue": "ranked"},
        "n": {"skill": 1500.0},
        "members": members,
        "session_key": owner,
        **changes,
    }
    return Ticket(**fields)


async def matcher(nodes: list[TicketStore]) -> TicketStore:
    """The node that leads now (asking every node, as each does before a pass)."""
    leaders = [store for store in nodes if await store.lead()]
    assert len(leaders) == 1, f"{len(leaders)} matchers"
    return leaders[0]


Waiting = dict[str, list[dict[str, Any]]]  # title -> its tickets, oldest first


async def waiting(nodes: list[TicketStore]) -> Waiting:
    """What the matcher's engine holds after `lead()`: every waiting ticket, in its order."""
    return engine_holds(await matcher(nodes))


def engine_holds(store: TicketStore) -> Waiting:
    return {
        title_id: [t.as_dict() for t in [*pool.tickets.values(), *pool.backfills.values()]]
        for title_id, pool in store.engine.pools.items()
        if len(pool) or pool.backfills
    }


def as_waiting(*tickets: Ticket) -> Waiting:
    out: Waiting = {}
    for t in sorted(tickets, key=lambda t: t.seq):
        out.setdefault(t.title_id, []).append(t.as_dict())
    return out


async def test_added_tickets_wait_in_arrival_order_in_the_matchers_engine(deployment):
    nodes = await deployment.nodes()
    added = [ticket(f"owner-{i}") for i in range(6)]
    for i, t in enumerate(added):
        await nodes[i % len(nodes)].add(t, limit=3)
    seqs = [t.seq for t in added]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) and seqs[0] > 0
    assert await waiting(nodes) == as_waiting(*added)
    # Added once the matcher holds its copy: followed, still in order.
    later = [ticket("late-1"), ticket("late-2", players=3)]
    for t in later:
        await nodes[-1].add(t, limit=3)
    assert later[0].seq > seqs[-1] and later[1].seq > later[0].seq
    assert await waiting(nodes) == as_waiting(*added, *later)


async def test_an_owner_has_at_most_limit_tickets_per_title(deployment):
    nodes = await deployment.nodes()
    first, second = ticket("party-1"), ticket("party-1")
    await nodes[0].add(first, limit=2)
    await nodes[-1].add(second, limit=2)
    refused = ticket("party-1")
    with pytest.raises(TooManyTickets):
        await nodes[0].add(refused, limit=2)
    with pytest.raises(TooManyTickets):
        await nodes[-1].add(ticket("party-1"), limit=1)
    with pytest.raises(TooManyTickets):
        await nodes[0].add(ticket("anyone"), limit=0)
    # Another owner, and the same owner in another title, have their own counts.
    elsewhere, other_owner = ticket("party-1", title_id=OTHER_TITLE), ticket("party-2")
    await nodes[0].add(elsewhere, limit=2)
    await nodes[0].add(other_owner, limit=2)
    assert await waiting(nodes) == as_waiting(first, second, elsewhere, other_owner)
    # A ticket that leaves (removed, claimed) frees its place.
    assert await nodes[-1].remove(TITLE, first.id, "party-1")
    await nodes[0].add(refused, limit=2)
    assert await nodes[0].claim(TITLE, [second.id]) == []
    again = ticket("party-1")
    await nodes[-1].add(again, limit=2)
    assert await waiting(nodes) == as_waiting(elsewhere, other_owner, refused, again)


async def test_the_limit_holds_when_every_node_adds_at_once(deployment):
    nodes = await deployment.nodes(count=3)
    attempts = [ticket("party-1") for _ in range(12)]

    async def add(i: int, t: Ticket) -> bool:
        try:
            await nodes[i % len(nodes)].add(t, limit=2)
        except TooManyTickets:
            return False
        return True

    added = await asyncio.gather(*(add(i, t) for i, t in enumerate(attempts)))
    assert sum(added) == 2
    assert await waiting(nodes) == as_waiting(*(t for t, ok in zip(attempts, added, strict=True) if ok))


async def test_a_ticket_is_removed_by_its_owner_or_by_anyone_as_the_server(deployment):
    nodes = await deployment.nodes()
    mine, theirs = ticket("session-a"), ticket("session-b")
    await nodes[0].add(mine, limit=3)
    await nodes[0].add(theirs, limit=3)
    assert await nodes[-1].remove(TITLE, mine.id, "session-b") is False  # not its owner
    assert await nodes[-1].remove(OTHER_TITLE, mine.id, "session-a") is False  # not in that title
    assert await nodes[-1].remove(TITLE, str(uuid.uuid4()), "session-a") is False
    assert await waiting(nodes) == as_waiting(mine, theirs)
    assert await nodes[-1].remove(TITLE, mine.id, "session-a") is True
    assert await nodes[0].remove(TITLE, mine.id, "session-a") is False  # already gone
    assert await nodes[0].remove(TITLE, theirs.id, "") is True  # "": whoever owns it
    assert await waiting(nodes) == {}
    assert await nodes[0].claim(TITLE, [mine.id, theirs.id]) == [mine.id, theirs.id]


async def test_remove_owner_removes_every_ticket_of_the_owner_and_no_other(deployment):
    nodes = await deployment.nodes()
    gone = [ticket("party-x"), ticket("party-x", players=2), ticket("party-x")]
    stays = [ticket("party-y"), ticket("party-x", title_id=OTHER_TITLE)]
    for i, t in enumerate([*gone, *stays]):
        await nodes[i % len(nodes)].add(t, limit=5)
    removed = await nodes[-1].remove_owner(TITLE, "party-x")
    assert sorted(removed) == sorted(t.id for t in gone)
    assert await nodes[0].remove_owner(TITLE, "party-x") == []
    assert await nodes[0].remove_owner(TITLE, "nobody") == []
    assert await waiting(nodes) == as_waiting(*stays)
    for t in gone:
        assert await nodes[0].remove(TITLE, t.id, "") is False
    await nodes[0].add(ticket("party-x"), limit=1)  # its count is back to none


async def test_claim_takes_all_tickets_or_none(deployment):
    nodes = await deployment.nodes()
    a, b, c = ticket("s-a"), ticket("s-b"), ticket("s-c")
    for t in (a, b, c):
        await nodes[0].add(t, limit=3)
    assert await nodes[-1].remove(TITLE, b.id, "s-b")
    missing = str(uuid.uuid4())
    # b is gone (and an id that never was): nothing is taken.
    assert await nodes[-1].claim(TITLE, [a.id, b.id, c.id, missing]) == [b.id, missing]
    assert await nodes[-1].claim(OTHER_TITLE, [a.id, c.id]) == [a.id, c.id]  # not that title's
    assert await waiting(nodes) == as_waiting(a, c)
    assert await nodes[0].claim(TITLE, []) == []
    assert await nodes[-1].claim(TITLE, [a.id, c.id]) == []
    assert await waiting(nodes) == {}
    # Claimed: gone for removal, for its owner's count, and for another claim.
    assert await nodes[0].claim(TITLE, [a.id]) == [a.id]
    assert await nodes[0].remove(TITLE, c.id, "") is False
    assert await nodes[0].remove_owner(TITLE, "s-a") == []


async def test_a_ticket_is_claimed_once_however_many_nodes_race_for_it(deployment):
    nodes = await deployment.nodes(count=3)
    pool = [ticket(f"s-{i}") for i in range(8)]
    for t in pool:
        await nodes[0].add(t, limit=1)
    ids = [t.id for t in pool]
    # Overlapping matches, claimed at once from every node (embedded: one node, many claims).
    attempts = [ids[i : i + 3] for i in range(0, 6)] * 2
    results = await asyncio.gather(
        *(nodes[i % len(nodes)].claim(TITLE, group) for i, group in enumerate(attempts))
    )
    won = [group for group, missing in zip(attempts, results, strict=True) if missing == []]
    for group, missing in zip(attempts, results, strict=True):
        assert missing == [] or set(missing) <= set(group)
    claimed = [i for group in won for i in group]
    assert len(claimed) == len(set(claimed)), "a ticket claimed by two matches"
    assert won, "no match claimed its tickets"
    assert await waiting(nodes) == as_waiting(*(t for t in pool if t.id not in claimed))


async def test_a_claimed_ticket_added_again_waits_anew(deployment):
    """As a backfill request that still has room goes back to the pool."""
    nodes = await deployment.nodes()
    backfill = ticket("match-1", backfill="match-1.node-0", players=0, max_count=3)
    solo = ticket("s-1")
    await nodes[0].add(backfill, limit=1 << 30)
    await nodes[0].add(solo, limit=1)
    first_seq = backfill.seq
    assert await nodes[-1].claim(TITLE, [solo.id, backfill.id]) == []
    backfill.max_count, backfill.intervals = 2, 0
    await nodes[-1].add(backfill, limit=1 << 30)
    assert backfill.seq > first_seq
    assert await waiting(nodes) == as_waiting(backfill)
    assert await nodes[0].claim(TITLE, [backfill.id]) == []


async def test_the_matcher_takes_tickets_out_of_its_engine_and_puts_back_those_left(deployment):
    """A pass takes a match's tickets out of the engine, then claims them; the engine follows
    the store after that whether or not the claim succeeded."""
    nodes = await deployment.nodes()
    a, b, c = ticket("s-a"), ticket("s-b"), ticket("s-c")
    for t in (a, b, c):
        await nodes[-1].add(t, limit=1)
    leader = await matcher(nodes)
    for t in (a, b, c):
        assert leader.engine.remove(TITLE, t.id) is not None  # what `Engine.run` does
    assert await nodes[0].remove(TITLE, b.id, "s-b")  # its owner leaves meanwhile
    assert await leader.claim(TITLE, [a.id, b.id]) == [b.id]
    leader.engine.add(a)  # the match did not form: a waits on
    assert await leader.claim(TITLE, [c.id]) == []
    assert await waiting(nodes) == as_waiting(a)


@redis_only("the embedded store is its deployment's only node: it is always the matcher")
async def test_one_matcher_at_a_time_and_a_closing_one_hands_over_at_once(deployment):
    a, b = await deployment.nodes()
    queued = [ticket(f"s-{i}") for i in range(5)]
    for t in queued:
        await b.add(t, limit=1)
    assert await a.lead() is True
    for _ in range(3):  # a renews its lease on every pass; b stays out
        assert await b.lead() is False
        assert await a.lead() is True
    assert engine_holds(b) == {}  # only the matcher keeps a copy
    assert await a.remove(TITLE, queued[0].id, "")
    await a.close()  # gives up the lease
    assert await b.lead() is True  # at once, not after the lease runs out
    assert engine_holds(b) == as_waiting(*queued[1:])


@redis_only("the embedded store is its deployment's only node: it never loses the lead")
async def test_a_matcher_that_stops_renewing_is_replaced_and_drops_its_copy(deployment):
    a, b = await deployment.nodes()
    queued = [ticket(f"s-{i}") for i in range(3)]
    for t in queued:
        await a.add(t, limit=1)
    # Taken before a's lease is set (inside `lead`, which may then take a while to load a's copy
    # on a busy machine): b cannot take over earlier than a lease after it.
    started = time.monotonic()
    assert await a.lead() is True and engine_holds(a) == as_waiting(*queued)
    # a stalls (no pass renews its lease): b takes over once the lease has run out.
    while not await b.lead():
        assert time.monotonic() - started < 10 * LEASE_MS / 1000, "b never took over"
        await asyncio.sleep(LEASE_MS / 1000 / 10)
    assert time.monotonic() - started >= LEASE_MS / 1000 * 0.5
    assert engine_holds(b) == as_waiting(*queued)
    # a's next pass: it learns it lost the lead, and drops its copy.
    assert await a.lead() is False
    assert engine_holds(a) == {}
    assert await b.claim(TITLE, [queued[0].id]) == []
    assert await waiting([a, b]) == as_waiting(*queued[1:])


async def test_the_matchers_stats_are_read_on_every_node(deployment):
    nodes = await deployment.nodes()
    for store in nodes:
        assert await store.stats(TITLE) is None
    leader = await matcher(nodes)
    stats = MatchmakerStats(3, 1_700_000_000.5, [(1_700_000_001.0, 1_700_000_002.25)])
    await leader.put_stats(TITLE, stats)
    for store in nodes:
        assert await store.stats(TITLE) == stats
        assert await store.stats(OTHER_TITLE) is None
    await leader.put_stats(TITLE, MatchmakerStats())
    for store in nodes:
        assert await store.stats(TITLE) == MatchmakerStats(0, None, [])

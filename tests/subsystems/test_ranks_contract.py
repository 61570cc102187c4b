"""The RankIndex contract (overworld/subsystems/ranks/base.py), run against the embedded index
and the Redis one: order, ties, generations, ranges, rebuilds, periods. Every case is checked
against a plain sort of the same entries."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator

import pytest

from overworld.subsystems.ranks import EmbeddedRankIndex, RankIndex
from overworld.subsystems.ranks.base import pack, unpack
from tests.subsystems.support import IMPLEMENTATIONS, redis_space
from tests.support import REDIS_URL, unique

pytestmark = pytest.mark.anyio
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


@pytest.fixture(params=IMPLEMENTATIONS)
async def index(request: pytest.FixtureRequest) -> AsyncIterator[RankIndex]:
    if request.param == "embedded":
        yield EmbeddedRankIndex()
        return
    from overworld.subsystems.ranks.redis import RedisRankIndex

    async with redis_space("rktest") as space:
        yield RedisRankIndex(space.client(), space.prefix())


def expected_order(entries: dict[str, tuple[int, int]], descending: bool) -> list[str]:
    """Nakama's order: score, then subscore, then owner id, all in the board's direction."""
    return sorted(entries, key=lambda o: (entries[o][0], entries[o][1], uuid.UUID(o).int), reverse=descending)


def owners(n: int) -> list[str]:
    return [str(uuid.UUID(int=random.getrandbits(128))) for _ in range(n)]


def test_packing_round_trips_extremes_and_orders_as_nakama():
    for descending in (False, True):
        values = [INT64_MIN, -1, 0, 1, INT64_MAX]
        entries = {o: (random.choice(values), random.choice(values)) for o in owners(200)}
        for owner, (score, subscore) in entries.items():
            assert unpack(descending, pack(descending, owner, score, subscore)) == (owner, score, subscore)
        by_key = sorted(entries, key=lambda o: pack(descending, o, *entries[o]))
        assert by_key == expected_order(entries, descending)


@pytest.mark.parametrize("descending", [True, False])
async def test_random_operations_match_a_plain_sort(index: RankIndex, descending: bool):
    rng = random.Random(7)
    key = unique("p")
    entries: dict[str, tuple[int, int]] = {}
    generations: dict[str, int] = {}
    pool = owners(60)
    for _ in range(400):
        owner = rng.choice(pool)
        if rng.random() < 0.15 and owner in entries:
            await index.delete(key, owner)
            del entries[owner]
            generations.pop(owner, None)
            continue
        score, subscore = rng.randint(0, 5), rng.randint(0, 2)  # many ties
        generations[owner] = generations.get(owner, 0) + 1
        entries[owner] = (score, subscore)
        rank = await index.set(key, descending, owner, score, subscore, generations[owner])
        assert rank == expected_order(entries, descending).index(owner) + 1
    order = expected_order(entries, descending)
    assert await index.count(key) == len(order)
    ranks = await index.ranks(key, [*pool, str(uuid.uuid4())])
    assert ranks == {o: order.index(o) + 1 for o in order}
    page = await index.range(key, descending, 3, 12)
    assert [e.owner_id for e in page] == order[2:12]
    assert [e.rank for e in page] == list(range(3, 3 + len(page)))
    assert all((e.score, e.subscore) == entries[e.owner_id] for e in page)


async def test_an_older_generation_never_replaces_a_newer_one(index: RankIndex):
    key = unique("p")
    a, b = owners(2)
    await index.set(key, True, b, 50, 0, 1)
    assert await index.set(key, True, a, 100, 0, 2) == 1
    # A late update with the generation before: ignored, rank unchanged.
    assert await index.set(key, True, a, 10, 0, 1) == 1
    assert await index.rank(key, a) == 1
    assert await index.set(key, True, a, 10, 0, 2) == 1  # nor the same generation again
    assert await index.set(key, True, a, 10, 0, 3) == 2


async def test_rebuild_replaces_entries_and_marks_the_period_built(index: RankIndex):
    key = unique("p")
    assert not await index.built(key)
    stale = owners(1)[0]
    await index.set(key, False, stale, 1, 1, 1)
    rows = [(o, i % 7, i % 3, 1) for i, o in enumerate(owners(12_000))]
    assert await index.rebuild(key, False, rows) == len(rows)
    assert await index.built(key)
    assert await index.rank(key, stale) == 0
    entries = {o: (s, ss) for o, s, ss, _ in rows}
    order = expected_order(entries, False)
    probe = [order[0], order[5000], order[-1]]
    assert await index.ranks(key, probe) == {o: order.index(o) + 1 for o in probe}
    await index.drop(key)
    assert await index.count(key) == 0 and not await index.built(key)


async def test_periods_are_independent(index: RankIndex):
    a, b = unique("p"), unique("p")
    owner = owners(1)[0]
    await index.set(a, True, owner, 5, 0, 1)
    assert await index.rank(b, owner) == 0
    assert await index.count(b) == 0
    await index.delete(b, owner)
    assert await index.rank(a, owner) == 1


async def test_unlock_by_the_holder_lets_the_next_rebuilder_in(index: RankIndex):
    key = unique("p")
    assert await index.lock(key, "a", 60_000)
    await index.unlock(key, "a")
    assert await index.lock(key, "b", 60_000)
    await index.unlock(key, "b")


async def test_a_lapsed_rebuild_lock_is_not_released_from_under_its_next_holder():
    """Node A's rebuild outlives its lock's TTL and node B takes the lock; A's unlock at the end
    of its rebuild must leave B's lock in place."""
    if not REDIS_URL:
        pytest.skip("Redis tests need OVERWORLD_TEST_REDIS_URL")
    import anyio
    import redis.asyncio as aioredis

    from overworld.subsystems.ranks.redis import RedisRankIndex

    client_a, client_b = aioredis.from_url(REDIS_URL), aioredis.from_url(REDIS_URL)
    prefix = unique("rktest")
    node_a, node_b = RedisRankIndex(client_a, prefix), RedisRankIndex(client_b, prefix)
    key = unique("p")
    try:
        assert await node_a.lock(key, "a", 20)
        assert not await node_b.lock(key, "b", 60_000)
        await anyio.sleep(0.2)  # A's lock lapses (Redis expires a key on access once it is due)
        assert await node_b.lock(key, "b", 60_000)
        await node_a.unlock(key, "a")
        assert not await node_a.lock(key, "a2", 60_000)  # still B's
        await node_b.unlock(key, "b")
        assert await node_a.lock(key, "a2", 60_000)
        await node_a.unlock(key, "a2")
    finally:
        keys = [k async for k in client_a.scan_iter(f"{prefix}:*")]
        if keys:
            await client_a.delete(*keys)
        await client_a.aclose()
        await client_b.aclose()


async def test_only_a_rebuild_marks_a_period_built_and_drop_forgets_it(index: RankIndex):
    key = unique("p")
    a, b = owners(2)
    # Entries set into a period that was never built (a write before its index was built)
    # leave it unbuilt: it still has to be built from the database.
    assert await index.set(key, True, a, 5, 0, 1) == 1
    await index.delete(key, a)
    assert await index.set(key, True, b, 5, 0, 1) == 1
    assert not await index.built(key)
    assert await index.rebuild(key, True, []) == 0  # an empty period is built too
    assert await index.built(key) and await index.count(key) == 0 and await index.rank(key, b) == 0
    assert await index.set(key, True, a, 5, 0, 1) == 1
    await index.delete(key, a)  # its last entry gone: still built
    assert await index.built(key)
    await index.drop(key)
    assert not await index.built(key)
    await index.drop(key)  # twice: nothing to do


async def test_ranges_and_lookups_at_the_edges(index: RankIndex):
    key, never = unique("p"), unique("p")
    entries = {o: (10 - i, 0) for i, o in enumerate(owners(5))}
    for owner, (score, subscore) in entries.items():
        await index.set(key, True, owner, score, subscore, 1)
    order = expected_order(entries, True)
    assert [e.owner_id for e in await index.range(key, True, -3, 2)] == order[:2]  # from rank 1
    page = await index.range(key, True, 4, 100)  # up to the last
    assert [(e.owner_id, e.rank) for e in page] == [(order[3], 4), (order[4], 5)]
    assert await index.range(key, True, 6, 10) == []
    assert await index.range(key, True, 3, 2) == []
    assert await index.range(never, True, 1, 10) == []
    assert await index.ranks(key, []) == {}
    assert await index.ranks(never, order) == {}
    assert await index.rank(never, order[0]) == 0 and await index.count(never) == 0
    await index.delete(never, order[0])  # nothing to delete
    await index.delete(key, owners(1)[0])
    assert await index.count(key) == 5

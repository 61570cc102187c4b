"""The Counters contract (overworld/subsystems/counters/base.py), run against the embedded
counters and the Redis ones: counts per key, shared by every node, in fixed windows that start
on a key's first increment.

A deployment is a list of nodes' counters: embedded, the one instance; on Redis, two
`RedisCounters` on one prefix, each with its own connection. Windows are real (one second):
the tests wait, bounded, for a count to disappear. LoginLockout over both is in test_lockout.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from overworld.subsystems.counters import Counters, EmbeddedCounters
from tests.subsystems.support import IMPLEMENTATIONS, redis_space

pytestmark = pytest.mark.anyio


@pytest.fixture(params=IMPLEMENTATIONS)
async def nodes(request: pytest.FixtureRequest) -> AsyncIterator[list[Counters]]:
    if request.param == "embedded":
        yield [EmbeddedCounters()]
        return
    from overworld.subsystems.counters.redis import RedisCounters

    async with redis_space("cttest") as space:
        prefix = space.prefix()
        yield [RedisCounters(space.client(), prefix) for _ in range(2)]


async def until_zero(get: Callable[[], Awaitable[int]], within: float = 5.0) -> float:
    """Wait, polling, until `get()` is 0; the seconds it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while await get():
        assert loop.time() - started < within, "the count did not expire"
        await asyncio.sleep(0.05)
    return loop.time() - started


async def test_each_key_counts_its_increments_on_every_node(nodes):
    for i in range(1, 7):
        assert await nodes[i % len(nodes)].incr("login:alice", 60) == i
    assert await nodes[0].incr("login:bob", 60) == 1
    for node in nodes:
        assert await node.get("login:alice") == 6
        assert await node.get("login:bob") == 1
        assert await node.get("login:nobody") == 0
    odd = "addr:2001:db8::1/*?[é]"
    assert await nodes[-1].incr(odd, 60) == 1 and await nodes[0].get(odd) == 1


async def test_concurrent_increments_each_get_their_own_count(nodes):
    counts = await asyncio.gather(*(nodes[i % len(nodes)].incr("burst", 60) for i in range(50)))
    assert sorted(counts) == list(range(1, 51))
    assert await nodes[0].get("burst") == 50


async def test_reset_forgets_a_key_everywhere(nodes):
    for _ in range(3):
        await nodes[0].incr("k", 60)
    await nodes[0].incr("other", 60)
    await nodes[-1].reset("k")
    await nodes[-1].reset("never-counted")
    assert [await n.get("k") for n in nodes] == [0] * len(nodes)
    assert await nodes[0].get("other") == 1
    assert await nodes[0].incr("k", 60) == 1  # a new window, counting from one


async def test_a_count_disappears_when_its_window_ends(nodes):
    assert await nodes[0].incr("k", 1) == 1
    assert await nodes[-1].incr("k", 1) == 2
    assert await nodes[0].incr("long", 60) == 1
    waited = await until_zero(lambda: nodes[-1].get("k"))
    assert 0.5 < waited < 3
    assert await nodes[0].incr("k", 1) == 1  # a new window
    assert await nodes[0].get("long") == 1


async def test_the_window_starts_on_the_first_increment_and_later_ones_do_not_move_it(nodes):
    assert await nodes[0].incr("k", 1) == 1
    assert await nodes[-1].incr("k", 3600) == 2  # a longer window asked later: still the first one
    await until_zero(lambda: nodes[0].get("k"))
    assert await nodes[-1].incr("k", 3600) == 1


async def test_reserve_never_passes_a_limit_however_many_reserve_at_once(nodes):
    results = await asyncio.gather(*(nodes[i % len(nodes)].reserve([("guess", 5)], 60) for i in range(100)))
    assert sum(results) == 5
    assert await nodes[0].get("guess") == 5
    assert not await nodes[-1].reserve([("guess", 5)], 60)
    assert await nodes[0].get("guess") == 5  # a refused reservation counts nothing


async def test_reserve_is_all_or_nothing_across_its_keys(nodes):
    assert await nodes[0].reserve([("pair", 2), ("account", 3)], 60)
    assert await nodes[-1].reserve([("pair", 2), ("account", 3)], 60)
    # "pair" is full: nothing is added to "account" either.
    assert not await nodes[0].reserve([("pair", 2), ("account", 3)], 60)
    assert [await nodes[0].get("pair"), await nodes[0].get("account")] == [2, 2]
    assert await nodes[-1].reserve([("other-pair", 2), ("account", 3)], 60)
    assert not await nodes[0].reserve([("third-pair", 2), ("account", 3)], 60)
    assert await nodes[0].get("third-pair") == 0


async def test_release_gives_one_back_and_keeps_the_window(nodes):
    assert await nodes[0].reserve([("k", 1)], 1)
    await nodes[-1].release(["k", "never-counted"])
    assert await nodes[0].get("k") == 0 and await nodes[0].get("never-counted") == 0
    await nodes[0].release(["k"])  # never below zero
    assert await nodes[-1].reserve([("k", 1)], 3600)
    assert await nodes[0].get("k") == 1
    await until_zero(lambda: nodes[0].get("k"))  # the first window (1 s), not the later one


async def test_ttl_is_what_is_left_of_a_keys_window(nodes):
    assert await nodes[0].ttl("absent") == 0.0
    await nodes[0].incr("windowed", 30)
    for node in nodes:
        left = await node.ttl("windowed")
        assert 20 < left <= 30
    await nodes[-1].reset("windowed")
    assert await nodes[0].ttl("windowed") == 0.0

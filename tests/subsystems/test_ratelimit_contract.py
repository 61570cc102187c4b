"""The RateLimiter contract (overworld/subsystems/ratelimit/base.py), run against the embedded
limiter and the Redis one: GCRA buckets per key, all-or-nothing across the keys of one take, and
shared by every node.

A deployment is a list of nodes' limiters: embedded, the one instance; on Redis, two
`RedisRateLimiter`s on one prefix, each with its own connection (and its own local batches).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from overworld.config import Rate, parse_rate
from overworld.subsystems.ratelimit import EmbeddedRateLimiter, RateLimiter
from overworld.subsystems.ratelimit.base import spends_of
from tests.subsystems.support import IMPLEMENTATIONS, redis_space

pytestmark = pytest.mark.anyio


@pytest.fixture(params=IMPLEMENTATIONS)
async def nodes(request: pytest.FixtureRequest) -> AsyncIterator[list[RateLimiter]]:
    if request.param == "embedded":
        yield [EmbeddedRateLimiter()]
        return
    from overworld.subsystems.ratelimit.redis import RedisRateLimiter

    async with redis_space("rltest") as space:
        prefix = space.prefix()
        yield [RedisRateLimiter(space.client(), prefix) for _ in range(2)]


async def allowed(limiter: RateLimiter, key: str, rate: Rate, n: int) -> int:
    return sum([await limiter.take([(key, rate)]) == 0.0 for _ in range(n)])


def test_rates_are_written_as_count_per_period():
    assert parse_rate("100/s") == Rate(100, 1)
    assert parse_rate("30/m") == Rate(30, 60)
    assert parse_rate(" 600 / 10m ") == Rate(600, 600)
    assert parse_rate("5/2h") == Rate(5, 7200)
    assert parse_rate("off") is None and parse_rate("0/s") is None
    assert str(Rate(30, 3600)) == "30/h" and str(Rate(600, 600)) == "600/10m" and str(Rate(5, 1)) == "5/s"
    for bad in ("100", "x/s", "10/0s", "10/w", "-1/s"):
        with pytest.raises(ValueError, match=r"is not a rate|period is zero"):
            parse_rate(bad)


async def test_a_bucket_lets_its_count_through_at_once_then_refuses_with_the_wait(nodes):
    rate = Rate(5, 60)
    assert await allowed(nodes[0], "k", rate, 5) == 5
    wait = await nodes[0].take([("k", rate)])
    assert 0 < wait <= 12.5  # one interval (60 s / 5), give or take the clock
    assert await nodes[0].take([("other", rate)]) == 0.0  # another key has its own bucket


async def test_a_bucket_refills_at_its_rate(nodes):
    rate = Rate(2, 1)  # two at once, one more every half second
    assert await allowed(nodes[0], "k", rate, 3) == 2
    started = time.monotonic()
    while await nodes[0].take([("k", rate)]) > 0:
        assert time.monotonic() - started < 10, "the bucket did not refill"
        await asyncio.sleep(0.05)
    assert time.monotonic() - started >= 0.3  # no sooner than (about) one interval


async def test_every_node_spends_the_same_bucket(nodes):
    rate = Rate(6, 60)
    results = [await nodes[i % len(nodes)].take([("shared", rate)]) for i in range(12)]
    assert sum(r == 0.0 for r in results) == 6
    assert results[:6] == [0.0] * 6 and all(r > 0 for r in results[6:])


async def test_one_take_spends_every_bucket_or_none(nodes):
    small, big = Rate(1, 60), Rate(10, 60)
    assert await nodes[0].take([("user", small), ("title", big)]) == 0.0
    # The user's bucket is empty: the title's is not spent by the refusals (on one node; on Redis
    # another node would hold a batch of the title's borrowed alongside, the documented slack).
    for _ in range(5):
        assert await nodes[0].take([("user", small), ("title", big)]) > 0
    assert await allowed(nodes[0], "title", big, 20) == 9


async def test_concurrent_takes_never_pass_the_count(nodes):
    rate = Rate(10, 60)
    results = await asyncio.gather(*(nodes[i % len(nodes)].take([("burst", rate)]) for i in range(60)))
    allowed = sum(r == 0.0 for r in results)
    # Never more; on Redis a node may hold a borrowed batch (a fifth: 2) it had no taker left for.
    assert (
        allowed == 10 if isinstance(nodes[0], EmbeddedRateLimiter) else 10 - 2 * len(nodes) <= allowed <= 10
    )


async def test_a_large_count_is_shared_within_one_batch_per_node(nodes):
    """On Redis each node borrows half the count at a time (counts of 100 and more): the nodes
    together never pass the count, and leave at most a batch per node unspent."""
    rate = Rate(200, 3600)
    total = 0
    for _ in range(250):
        for node in nodes:
            total += await node.take([("big", rate)]) == 0.0
    assert total <= 200 and (total == 200 if len(nodes) == 1 else total >= 200 - 100 * (len(nodes) - 1))


async def test_without_redis_each_node_limits_on_its_own():
    """Redis unreachable: the Redis limiter fails open to this node's own buckets."""
    import redis.asyncio as aioredis

    from overworld.subsystems.ratelimit.redis import RedisRateLimiter
    from tests.support import free_port

    client = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    limiter = RedisRateLimiter(client, "down")
    try:
        rate = Rate(3, 60)
        results = [await limiter.take([("k", rate)]) for _ in range(5)]
        assert results[:3] == [0.0] * 3 and all(r > 0 for r in results[3:])  # open, not unlimited
        # the hot path meanwhile decides on the same buckets, this node's own
        table = limiter.buckets("", rate)
        assert (limiter.take_now(table, "k") or 0.0) > 0
        assert limiter.take_now(table, "other") == 0.0
    finally:
        await client.aclose()


async def test_a_table_is_found_by_name_and_rate_and_every_node_spends_its_buckets(nodes):
    """`buckets(name, rate)` is the same table for the same name and rate, and another for another
    name (another title's, another call's) or rate: one key is a bucket of each. A table of one
    name on every node spends the same buckets."""
    rate = Rate(4, 60)
    mine = nodes[0].buckets("title-1:u:rpc", rate)
    assert nodes[0].buckets("title-1:u:rpc", rate) is mine
    theirs = nodes[0].buckets("title-2:u:rpc", rate)
    assert theirs is not mine and nodes[0].buckets("title-1:u:rpc", Rate(5, 60)) is not mine
    results = [await nodes[i % len(nodes)].take_in([(nodes[i % len(nodes)].buckets("title-1:u:rpc", rate), "p")])
               for i in range(6)]  # fmt: skip
    assert results[:4] == [0.0] * 4 and all(r > 0 for r in results[4:])
    assert await nodes[0].take_in([(theirs, "p")]) == 0.0  # the same key in another table: not spent
    assert await nodes[0].take_in([(mine, "q")]) == 0.0  # another key in the same table: not spent


def test_a_buckets_name_across_nodes_joins_the_tables_and_the_key():
    """What a Redis key is called: the table's name and the key with ":" (the policy's tables are
    "<title>:<scope>:<call>", keyed by the address or user id, the title's by ""), and `take`'s
    keys, in the table called "", are their own names."""
    rate = Rate(1, 1)
    assert EmbeddedRateLimiter().buckets("t1:u:rpc", rate).key_name("user-9") == "t1:u:rpc:user-9"
    assert EmbeddedRateLimiter().buckets("t1:t:rpc", rate).key_name("") == "t1:t:rpc"
    assert EmbeddedRateLimiter().buckets("", rate).key_name("t1:signup:192.0.2.1") == "t1:signup:192.0.2.1"


async def test_a_redis_bucket_is_the_key_its_name_says():
    from overworld.subsystems.ratelimit.redis import RedisRateLimiter

    async with redis_space("rltest") as space:
        prefix = space.prefix()
        client = space.client()
        limiter = RedisRateLimiter(client, prefix)
        assert await limiter.take_in([(limiter.buckets("t1:u:rpc", Rate(10, 60)), "user-9")]) == 0.0
        assert await limiter.take_in([(limiter.buckets("t1:t:rpc", Rate(10, 60)), "")]) == 0.0
        assert sorted(k.decode() for k in await client.keys(f"{prefix}:*")) == [
            f"{prefix}:rl:t1:t:rpc",
            f"{prefix}:rl:t1:u:rpc:user-9",
        ]


async def test_an_embedded_table_sweeps_its_full_buckets_then_its_oldest_busy_ones():
    """Past `max_keys` buckets in a table, the full ones (idle long enough to have refilled) go;
    if the table is still too big, the older half of it. Other tables keep theirs."""
    limiter = EmbeddedRateLimiter(max_keys=10)
    quick, slow = limiter.buckets("quick", Rate(1000, 1)), limiter.buckets("slow", Rate(1, 60))
    for i in range(10):
        assert await limiter.take_in([(quick, f"k{i}"), (slow, f"k{i}")]) == 0.0
    await asyncio.sleep(0.02)  # quick's buckets have refilled: full
    assert await limiter.take_in([(quick, "k10"), (slow, "k10")]) == 0.0
    assert list(quick.state) == ["k10"]  # the ten full ones swept
    assert list(slow.state) == [f"k{i}" for i in range(5, 11)]  # none full: the oldest five went
    assert await limiter.take_in([(slow, "k9")]) > 0  # a busy bucket that stayed still refuses


async def test_take_now_decides_at_once_or_hands_over_to_take(nodes):
    """`take_now` is the hot path: a decision without awaiting, or None when only `take` can
    decide (the Redis limiter before it has borrowed for a key); never a different answer."""
    rate = Rate(3, 60)
    table = nodes[0].buckets("", rate)  # `take`'s keys are the buckets of the table called ""
    results: list[float] = []
    for _ in range(5):
        now = nodes[0].take_now(table, "hot")
        results.append(await nodes[0].take([("hot", rate)]) if now is None else now)
    assert [r == 0.0 for r in results] == [True, True, True, False, False]
    if isinstance(nodes[0], EmbeddedRateLimiter):
        assert nodes[0].take_now(table, "cold") == 0.0
    else:
        assert nodes[0].take_now(table, "cold") is None  # nothing borrowed yet
        assert nodes[0].take_now(table, "hot") > 0  # a refusal remembered: no round trip


async def take_now_or_take(
    limiter: RateLimiter,
    k1: str,
    r1: Rate | None,
    k2: str = "",
    r2: Rate | None = None,
    k3: str = "",
    r3: Rate | None = None,
) -> float:
    """What the policy does: `take_now`, and `take_in` when it cannot decide alone (each key a
    bucket of a table of its own rate)."""
    b1, b2, b3 = (None if r is None else limiter.buckets("t", r) for r in (r1, r2, r3))
    now = limiter.take_now(b1, k1, b2, k2, b3, k3)
    return await limiter.take_in(spends_of(b1, k1, b2, k2, b3, k3)) if now is None else now


async def test_take_now_takes_up_to_three_buckets_all_or_nothing(nodes):
    """The hot path's buckets are its arguments (address, user, title): any of them may be left
    out (rate None); one that is full refuses the others too, and they count nothing then."""
    small, big, title = Rate(2, 60), Rate(100, 60), Rate(1000, 60)
    results = [await take_now_or_take(nodes[0], "s", small, "b", big, "t", title) for _ in range(3)]
    assert results[:2] == [0.0, 0.0] and results[2] > 0  # "s" is full: "b" and "t" not counted
    assert [await take_now_or_take(nodes[0], "b", big) == 0.0 for _ in range(99)].count(True) == 98
    assert await take_now_or_take(nodes[0], "", None, "", None, "t", title) == 0.0  # the title's alone
    assert await take_now_or_take(nodes[0], "", None, "s2", small) == 0.0  # the user's alone
    assert await take_now_or_take(nodes[0], "s2", small, "", None, "t", title) == 0.0
    assert await take_now_or_take(nodes[0], "", None, "s2", small) > 0


def count_borrows(limiter: Any) -> list[int]:
    """The keys of each script call `limiter` (a RedisRateLimiter) makes from now on."""
    script = limiter._borrow
    calls: list[int] = []

    async def counting(keys: list[str], args: list[float | int]) -> object:
        calls.append(len(keys))
        return await script(keys=keys, args=args)

    limiter._borrow = counting
    return calls


async def test_the_borrows_of_one_turn_go_to_redis_in_one_call():
    """Many players' first calls in the same turn of the event loop: one script call borrows for
    all their keys (and the shared one once), and each call is decided by what it brought."""
    from overworld.subsystems.ratelimit.redis import RedisRateLimiter

    async with redis_space("rltest") as space:
        limiter = RedisRateLimiter(space.client(), space.prefix())
        calls = count_borrows(limiter)
        user, title = Rate(100, 1), Rate(1000, 1)
        results = await asyncio.gather(*(limiter.take([(f"u{i}", user), ("t", title)]) for i in range(50)))
        assert results == [0.0] * 50
        assert calls == [51]  # 50 users' keys and the title's, in one call
        # a refusal in the batch reaches its own caller only
        tight = Rate(1, 60)
        assert await limiter.take([("once", tight)]) == 0.0
        results = await asyncio.gather(
            limiter.take([("once-more", tight)]),
            limiter.take([("u0", user)]),
            limiter.take([("once", tight)]),
        )
        assert results[0] == 0.0 and results[1] == 0.0 and results[2] > 0


async def test_a_batch_running_low_is_topped_up_before_it_runs_out():
    """A quarter of a key's batch left: the key is borrowed for again in the background, with the
    other keys running low in the next 20 ms, in one script call; a steady caller never waits."""
    from overworld.subsystems.ratelimit.redis import RedisRateLimiter

    async with redis_space("rltest") as space:
        limiter = RedisRateLimiter(space.client(), space.prefix())
        calls = count_borrows(limiter)
        rate = Rate(100, 1)  # batches of 50, topped up below 12 left
        assert await limiter.take([("a", rate)]) == 0.0 and await limiter.take([("b", rate)]) == 0.0
        assert calls == [1, 1]
        table = limiter.buckets("", rate)
        for _ in range(38):  # 11 left of each: both low
            assert limiter.take_now(table, "a") == 0.0 and limiter.take_now(table, "b") == 0.0
        assert calls == [1, 1]  # not yet: the top-ups wait for the window
        await asyncio.sleep(0.1)
        assert calls == [1, 1, 2]  # both keys in one call
        decided = [limiter.take_now(table, "a") for _ in range(55)]
        assert decided == [0.0] * 55  # 11 + 50: never handed over to `take`, never refused

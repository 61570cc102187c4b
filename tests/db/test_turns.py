"""TurnBatcher: the items of one turn of the event loop go to `flush` together, each caller gets
its own outcome, and a failure of the whole batch reaches every caller of it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from overworld.accounts.lookups import LookupBatcher
from overworld.db import Row
from overworld.db.turns import TurnBatcher
from overworld.privacy.tombstones import TombstoneLookups

pytestmark = pytest.mark.anyio


async def test_the_items_of_one_turn_are_flushed_together_each_with_its_own_outcome():
    batches: list[list[int]] = []

    async def flush(items: list[int]) -> list[int | BaseException]:
        batches.append(items)
        await asyncio.sleep(0)
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]

    batcher: TurnBatcher[int, int] = TurnBatcher(flush, max_batch=4)
    outcomes = await asyncio.gather(*(batcher.submit(i) for i in range(6)), return_exceptions=True)
    assert batches == [[0, 1, 2, 3], [4, 5]]  # one turn, split at max_batch
    assert outcomes[0::2] == [0, 20, 40]
    assert [str(e) for e in outcomes[1::2]] == ["odd 1", "odd 3", "odd 5"]
    assert await batcher.submit(8) == 80 and batches[-1] == [8]  # a later turn: a batch of its own


async def test_a_failed_flush_reaches_every_caller_of_its_batch_and_the_next_batch_works():
    fail = True

    async def flush(items: list[str]) -> list[str | BaseException]:
        if fail:
            raise ConnectionError("database gone")
        return [i.upper() for i in items]

    batcher: TurnBatcher[str, str] = TurnBatcher(flush)
    outcomes = await asyncio.gather(batcher.submit("a"), batcher.submit("b"), return_exceptions=True)
    assert [type(o) for o in outcomes] == [ConnectionError, ConnectionError]
    fail = False
    assert await asyncio.gather(batcher.submit("a"), batcher.submit("b")) == ["A", "B"]


async def _staggered(submit: Callable[[int], Awaitable[object]], count: int) -> list[object]:
    """`count` calls, each made in a turn of the event loop of its own, as a burst's requests are."""

    async def one(i: int) -> object:
        for _ in range(i):
            await asyncio.sleep(0)
        return await submit(i)

    return await asyncio.gather(*(one(i) for i in range(count)))


async def test_with_one_batch_in_flight_the_items_that_arrive_meanwhile_make_the_next_batch():
    batches: list[list[int]] = []

    async def flush(items: list[int]) -> list[int | BaseException]:
        batches.append(items)
        await asyncio.sleep(0.1)  # long enough for the other calls to arrive
        return [i * 10 for i in items]

    unlimited: TurnBatcher[int, int] = TurnBatcher(flush)
    assert await _staggered(unlimited.submit, 30) == [i * 10 for i in range(30)]
    assert len(batches) == 30  # a turn each: a batch each
    batches.clear()
    one_at_a_time: TurnBatcher[int, int] = TurnBatcher(flush, max_in_flight=1)
    assert await _staggered(one_at_a_time.submit, 30) == [i * 10 for i in range(30)]
    assert batches == [[0], list(range(1, 30))]


async def test_the_sign_up_lookups_and_erasure_checks_run_one_query_at_a_time():
    """A burst's sign-ups each arrive in a turn of their own; one query in flight makes them share."""

    class SlowDb:
        sql = type("Sql", (), {"batch_writes": True})()

        def __init__(self) -> None:
            self.queries = 0

        async def fetch(self, sql: str, *args: object) -> list[Row]:
            self.queries += 1
            await asyncio.sleep(0.1)  # long enough for the other calls to arrive
            return []

    db = SlowDb()
    lookups = LookupBatcher(db, "SELECT ...")  # type: ignore[arg-type]
    assert await _staggered(lambda i: lookups.find("t", [f"device-{i}"]), 30) == [None] * 30
    tombstones = TombstoneLookups(db)  # type: ignore[arg-type]
    assert await _staggered(lambda i: tombstones.find("t", [f"digest-{i}"]), 30) == [{}] * 30
    assert db.queries == 4  # the first call alone, then the 29 that came while it ran; twice

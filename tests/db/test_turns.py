"""TurnBatcher: the items of one turn of the event loop go to `flush` together, each caller gets
its own outcome, and a failure of the whole batch reaches every caller of it."""

from __future__ import annotations

import asyncio

import pytest

from overworld.db.turns import TurnBatcher

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

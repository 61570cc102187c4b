"""Concurrent record writes (batched into multi-row upserts on PostgreSQL): every operator applies
each write exactly once, the best score of one owner's concurrent writes is never lost, and the
rank index agrees with the database afterwards."""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest

from overworld.leaderboards.service import period_key
from overworld.node import Node
from overworld.runtime import ServerApi
from tests.support import unique

pytestmark = pytest.mark.anyio


async def _board(node: Node, operator: str, order: str = "desc") -> str:
    nk = ServerApi(node.runtime, node.default_title, "tests")
    board = unique("lb")
    assert await nk.leaderboard_create(board, sort_order=order, operator=operator)
    return board


async def _index_agrees(node: Node, board: str) -> None:
    title = node.default_title.id
    b = await node.leaderboards.board(title, board)
    assert b is not None
    expiry = node.leaderboards.expiry_of(b, 0)
    rows = await node.leaderboards.store.page(title, board, expiry, b.descending, 1000)
    key = period_key(b, expiry)
    ranks = await node.leaderboards.ranks.ranks(key, [r[0] for r in rows])
    assert [ranks[r[0]] for r in rows] == list(range(1, len(rows) + 1))
    assert await node.leaderboards.ranks.count(key) == len(rows)


@pytest.mark.parametrize("order", ["desc", "asc"])
async def test_concurrent_best_writes_keep_each_owners_best(node: Node, order: str):
    board = await _board(node, "best", order)
    title = node.default_title.id
    owners = [str(uuid.uuid4()) for _ in range(5)]
    submitted: dict[str, list[int]] = {o: [] for o in owners}
    writes = []
    for _ in range(30):
        for o in owners:
            score = random.randrange(1, 1_000_000)
            submitted[o].append(score)
            writes.append(node.leaderboards.write(title, board, None, o, "u", score))
    random.shuffle(writes)
    results = await asyncio.gather(*writes)
    pick = max if order == "desc" else min
    for o in owners:
        record = (
            await node.leaderboards.list_records(
                await node.leaderboards.board(title, board), [o], None, "", None
            )
        ).owner_records[0]
        assert record.score == pick(submitted[o])
    # Every answer is the owner's record after its write: never worse than what it submitted.
    for r in results:
        assert r.score in submitted[r.owner_id] and r.rank >= 1
    await _index_agrees(node, board)
    if node.db.dialect == "postgresql":
        batcher = node.leaderboards.store.batcher
        assert batcher is not None and batcher.statements < len(writes)


async def test_concurrent_increments_are_all_counted(node: Node):
    board = await _board(node, "incr")
    title = node.default_title.id
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    await asyncio.gather(
        *(node.leaderboards.write(title, board, None, a, None, 2, 1) for _ in range(40)),
        *(node.leaderboards.write(title, board, None, b, None, 3) for _ in range(10)),
    )
    lb = await node.leaderboards.board(title, board)
    assert lb is not None
    records = {
        r.owner_id: r
        for r in (await node.leaderboards.list_records(lb, [a, b], None, "", None)).owner_records
    }
    assert (records[a].score, records[a].subscore, records[a].num_score) == (80, 40, 40)
    assert (records[b].score, records[b].num_score) == (30, 10)
    await _index_agrees(node, board)


async def test_concurrent_set_writes_leave_database_and_index_in_step(node: Node):
    board = await _board(node, "set")
    title = node.default_title.id
    owner = str(uuid.uuid4())
    results = await asyncio.gather(
        *(node.leaderboards.write(title, board, None, owner, None, s) for s in range(1, 21))
    )
    lb = await node.leaderboards.board(title, board)
    assert lb is not None
    final = (await node.leaderboards.list_records(lb, [owner], None, "", None)).owner_records[0]
    assert final.num_score == 20
    # The last write applied is the one with the highest num_score among the answers.
    assert max(results, key=lambda r: r.num_score).score == final.score
    await _index_agrees(node, board)


async def test_metadata_and_username_are_kept_or_replaced_as_alone(node: Node):
    board = await _board(node, "best")
    title = node.default_title.id
    owner = str(uuid.uuid4())
    await node.leaderboards.write(title, board, None, owner, "first", 5, metadata='{"a": 1}')
    r1, r2 = await asyncio.gather(
        node.leaderboards.write(title, board, None, owner, None, 9),
        node.leaderboards.write(title, board, None, str(uuid.uuid4()), "other", 1, metadata='{"b": 2}'),
    )
    assert (r1.score, r1.metadata, r1.username) == (9, '{"a": 1}', "first")
    assert (r2.metadata, r2.username) == ('{"b": 2}', "other")


async def test_first_writes_of_one_owner_in_two_batches_both_succeed(node: Node):
    """Writes with and without metadata go in separate statements: when the second statement's
    upsert is not an improvement and the first inserted the row after its snapshot, the record
    is read again instead of the write failing."""
    board = await _board(node, "best", "desc")
    title = node.default_title.id
    for _ in range(50):
        owner = str(uuid.uuid4())
        results = await asyncio.gather(
            node.leaderboards.write(title, board, None, owner, "u", 100, metadata='{"a":1}'),
            node.leaderboards.write(title, board, None, owner, "u", 50),
            return_exceptions=True,
        )
        assert not [r for r in results if isinstance(r, BaseException)], results
        page = await node.leaderboards.list_records(
            await node.leaderboards.board(title, board), [owner], None, "", None
        )
        assert [r.score for r in page.owner_records] == [100]

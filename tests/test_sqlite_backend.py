"""The SQLite backend's group commit: grouped writes commit together, each caller is answered
only after its write is durable, and one failing write never takes the others down."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from overworld.db import IntegrityError
from overworld.db.sqlite import SqliteDatabase

pytestmark = pytest.mark.anyio


@pytest.fixture
async def db(tmp_path):
    database = SqliteDatabase.connect(f"sqlite:///{tmp_path / 'g.db'}")
    await database.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    yield database
    await database.close()


def committed_rows(db: SqliteDatabase) -> list[tuple[int, str]]:
    other = sqlite3.connect(db.path)  # a separate connection sees only committed data
    try:
        return sorted(other.execute("SELECT id, v FROM t").fetchall())
    finally:
        other.close()


async def test_concurrent_writes_share_commits_and_are_durable_when_acknowledged(db):
    before = db.commits

    async def insert(i: int) -> None:
        await db.execute("INSERT INTO t (id, v) VALUES ($1, $2)", i, f"row{i}")
        assert (i, f"row{i}") in committed_rows(db)  # acknowledged means committed

    await asyncio.gather(*[insert(i) for i in range(50)])
    assert len(committed_rows(db)) == 50
    assert db.commits - before < 10  # 50 writes, a handful of commits


async def test_a_failing_write_or_transaction_leaves_the_rest_of_its_group(db):
    await db.execute("INSERT INTO t (id, v) VALUES (1, 'one')")

    async def clash() -> None:
        await db.execute("INSERT INTO t (id, v) VALUES (1, 'again')")

    async def failing_transaction() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t (id, v) VALUES (100, 'rolled back')")
            raise RuntimeError("changed my mind")

    async def good(i: int) -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t (id, v) VALUES ($1, 'kept')", i)

    results = await asyncio.gather(clash(), failing_transaction(), good(2), good(3), return_exceptions=True)
    assert isinstance(results[0], IntegrityError)
    assert isinstance(results[1], RuntimeError)
    assert results[2:] == [None, None]
    assert committed_rows(db) == [(1, "one"), (2, "kept"), (3, "kept")]


async def test_a_transaction_that_waits_mid_way_is_not_committed_half_done(db):
    gate = asyncio.Event()

    async def slow() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t (id, v) VALUES (10, 'first half')")
            await gate.wait()  # other coroutines run, the group's flush comes due
            await tx.execute("INSERT INTO t (id, v) VALUES (11, 'second half')")

    task = asyncio.create_task(slow())
    await asyncio.sleep(0.01)
    assert committed_rows(db) == []
    gate.set()
    await task
    assert committed_rows(db) == [(10, "first half"), (11, "second half")]

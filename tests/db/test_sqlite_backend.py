"""The SQLite backend's group commit: grouped writes commit together, each caller is answered
only after its write is durable, and one failing write never takes the others down."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

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


async def test_a_returning_write_is_read_before_its_group_commits(db):
    # SQLite cannot commit while a statement's rows are unread: the rows of RETURNING writes
    # (alone or with others in one group) come back and the writes are durable.
    rows = await asyncio.gather(
        db.fetchrow("INSERT INTO t (id, v) VALUES (1, 'one') RETURNING id, v"),
        db.fetch("INSERT INTO t (id, v) VALUES (2, 'two'), (3, 'three') RETURNING id"),
        db.execute("INSERT INTO t (id, v) VALUES (4, 'four')"),
    )
    assert tuple(rows[0]) == (1, "one")
    assert sorted(r[0] for r in rows[1]) == [2, 3]
    assert rows[2] == 1
    assert committed_rows(db) == [(1, "one"), (2, "two"), (3, "three"), (4, "four")]


# Closing while the periodic checkpoint runs in its worker thread (issue 11). Each script runs in a
# subprocess, so that a crash of the interpreter fails the test instead of ending the test run.

_CLOSE_DURING_CHECKPOINT = """
import asyncio, sys, threading, time
from overworld.db.sqlite import SqliteDatabase

async def main(path):
    db = SqliteDatabase.connect("sqlite:///" + path)
    await db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    for _ in range(200):
        await db.execute("INSERT INTO t (v) VALUES ($1)", "x" * 4000)
    db.start(interval=0.001)
    inside = threading.Event()
    finished = []

    def hold():  # runs on the checkpoint's thread, in the middle of its statement
        if not inside.is_set():
            inside.set()
            time.sleep(0.3)
            finished.append(time.monotonic())
        return 0

    db._checkpointer.set_progress_handler(hold, 1)
    while not inside.is_set():
        await asyncio.sleep(0.001)
    await db.close()  # the checkpoint thread is still inside sqlite3 on its connection
    closed = time.monotonic()
    assert finished and finished[0] <= closed, "close() did not wait for the running checkpoint"
    print("closed after the checkpoint")

asyncio.run(main(sys.argv[1]))
"""

_REPRO = """
import asyncio, os, random, sys, tempfile
from overworld.db.sqlite import SqliteDatabase

async def once(folder, n):
    db = SqliteDatabase.connect("sqlite:///" + os.path.join(folder, "x%d.db" % n))
    await db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    db.start(interval=0.0005)
    for _ in range(400):
        await db.execute("INSERT INTO t (v) VALUES ($1)", "x" * 4000)
    await asyncio.sleep(random.random() * 0.002)
    await db.close()

async def main(folder, rounds):
    for n in range(rounds):
        await once(folder, n)
    print("rounds", rounds)

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def _python(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )


def test_close_waits_for_a_checkpoint_running_in_its_thread(tmp_path):
    result = _python(_CLOSE_DURING_CHECKPOINT, str(tmp_path / "c.db"))
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    assert "closed after the checkpoint" in result.stdout
    # The final TRUNCATE checkpoint still ran: the WAL is empty and every row is in the file.
    wal = tmp_path / "c.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    conn = sqlite3.connect(tmp_path / "c.db")
    try:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (200,)
    finally:
        conn.close()


def test_closing_during_checkpoints_never_crashes(tmp_path):
    # The repro, sharpened (bigger WAL, shorter interval): before the fix it crashed the
    # interpreter in about half the runs of 60 rounds.
    for run_number in range(2):
        folder = tmp_path / str(run_number)
        folder.mkdir()
        result = _python(_REPRO, str(folder), "60")
        assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
        assert "rounds 60" in result.stdout

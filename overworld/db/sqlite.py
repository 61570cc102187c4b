"""SQLite backend for the embedded default.

Statements run directly on the event loop thread: a primary-key read or a single-row write in
WAL mode takes microseconds, far less than a hop to a worker thread (see the measurements in
the README). One connection writes; another reads, so a read never sees a transaction that is
still open. Queries must stay small and bounded (every list is paged), which keeps the loop free.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from overworld.db.database import AccountChanges, Dialect, IntegrityError, Row, SqlDialect, Step

_PLACEHOLDER = re.compile(r"\$(\d+)")
T = TypeVar("T")
SQLITE_SQL = SqlDialect(
    lock_rows="",  # one transaction writes at a time
    share_rows="",
    ilike="LIKE",  # ignores ASCII case
    greatest="MAX",
    least="MIN",
    batch_writes=False,  # the group commit does it
)


def _translate(sql: str, cache: dict[str, tuple[str, bool]]) -> tuple[str, bool]:
    hit = cache.get(sql)
    if hit is None:
        text = _PLACEHOLDER.sub(r"?\1", sql)
        is_read = text.lstrip()[:6].upper() == "SELECT"
        hit = cache[sql] = (text, is_read)
    return hit


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, cached_statements=512)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA cache_size=-65536")  # 64 MiB of page cache per connection
    conn.execute("PRAGMA mmap_size=268435456")  # reads straight from the page cache of the OS
    return conn


class _SqliteExecutor:
    def __init__(
        self, writer: sqlite3.Connection, reader: sqlite3.Connection, sql_cache: dict[str, tuple[str, bool]]
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._sql = sql_cache

    def _run(self, conn: sqlite3.Connection | None, sql: str, args: Sequence[Any]) -> sqlite3.Cursor:
        text, is_read = _translate(sql, self._sql)
        target = conn or (self._reader if is_read else self._writer)
        try:
            return target.execute(text, args)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from None


class SqliteDatabase(_SqliteExecutor):
    """Writes are grouped: every write (a statement, or a transaction as a savepoint) that runs
    in the same turn of the event loop joins one SQLite transaction, committed once at the end of
    that turn. A caller's `await` returns only after the commit, so nothing is acknowledged before
    it is durable; under load one commit serves dozens of writes (measured 99 -> 40 us a sign-up).
    """

    dialect: Dialect = "sqlite"
    sql: SqlDialect = SQLITE_SQL

    def __init__(self, url: str, path: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(_connect(path), _connect(path), {})
        self.url = url
        self.path = path
        self._tx_lock = asyncio.Lock()
        self._group: asyncio.Future[None] | None = None
        self._flush_deferred = False
        self._savepoints = 0
        self.commits = 0
        # Checkpoints (copying the WAL back into the database file) run on a worker thread with
        # their own connection, not inside a commit on the event loop (measured 137 -> 86 us a
        # sign-up). Started by `start()`; without it SQLite checkpoints by itself as usual.
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpoint_lock = threading.Lock()
        self._checkpoint_stop = asyncio.Event()
        self._checkpoint_task: asyncio.Task[None] | None = None
        # Accounts changed by the open group (temp triggers fill it), told after its COMMIT.
        self._account_listener: AccountChanges | None = None
        self._changed_accounts: set[tuple[str, str]] = set()

    def start(self, interval: float = 1.0) -> None:
        self._writer.execute("PRAGMA wal_autocheckpoint=0")
        self._checkpointer = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._checkpointer.execute("PRAGMA busy_timeout=5000")
        self._checkpoint_task = asyncio.get_running_loop().create_task(self._checkpoints(interval))

    async def _checkpoints(self, interval: float) -> None:
        # Stopped cooperatively by `close()` (never cancelled there): cancelling the task would
        # not stop a checkpoint already running in its thread, and `close()` must not close the
        # connection under it. The lock makes that hold even if the task is cancelled by others.
        loop = asyncio.get_running_loop()
        while True:
            try:
                await asyncio.wait_for(self._checkpoint_stop.wait(), interval)
                return
            except TimeoutError:
                pass
            await asyncio.shield(loop.run_in_executor(None, self._checkpoint))

    def _checkpoint(self) -> None:
        """Runs in a worker thread: one checkpoint on the checkpointer's connection, unless
        `close()` has closed it."""
        with self._checkpoint_lock:
            if self._checkpointer is None:
                return
            try:
                self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:  # busy or locked: the next round catches up
                return

    def _close_checkpointer(self) -> None:
        with self._checkpoint_lock:  # waits for a checkpoint still running in a worker thread
            conn, self._checkpointer = self._checkpointer, None
            if conn is not None:
                conn.close()

    async def watch_accounts(self, listener: AccountChanges) -> None:
        # TEMP triggers live in this connection only: every write of this process goes through it.
        self._account_listener = listener
        self._writer.create_function("ow_account_changed", 2, self._account_changed, deterministic=False)
        for name, event, table, row in (
            ("ow_users_updated", "UPDATE", "users", "old.title_id, old.id"),
            ("ow_users_deleted", "DELETE", "users", "old.title_id, old.id"),
            ("ow_devices_updated", "UPDATE", "user_devices", "old.title_id, old.user_id"),
            ("ow_devices_deleted", "DELETE", "user_devices", "old.title_id, old.user_id"),
        ):
            self._writer.execute(
                f"CREATE TEMP TRIGGER IF NOT EXISTS {name} AFTER {event} ON main.{table}"
                f" BEGIN SELECT ow_account_changed({row}); END"
            )

    def _account_changed(self, title_id: str, user_id: str) -> None:
        self._changed_accounts.add((title_id, user_id))

    def _tell_changes(self) -> None:
        changed, self._changed_accounts = self._changed_accounts, set()
        if self._account_listener is not None:
            for title_id, user_id in changed:
                self._account_listener.changed(title_id, user_id)

    @classmethod
    def connect(cls, url: str) -> SqliteDatabase:
        return cls(url, url.removeprefix("sqlite:///"))

    async def _wait_for_writer(self) -> None:
        # A transaction holds the writer across awaits; plain statements queue behind it.
        if self._tx_lock.locked():
            async with self._tx_lock:
                pass

    def _join_group(self) -> asyncio.Future[None]:
        if self._group is None:
            self._writer.execute("BEGIN IMMEDIATE")
            loop = asyncio.get_running_loop()
            self._group = loop.create_future()
            loop.call_soon(self._flush)
        return self._group

    def _flush(self) -> None:
        if self._tx_lock.locked():  # a transaction body is between two awaits: commit after it
            self._flush_deferred = True
            return
        group, self._group = self._group, None
        if group is None:
            return
        try:
            self._writer.execute("COMMIT")
            self.commits += 1
        except Exception as exc:
            if self._writer.in_transaction:
                self._writer.execute("ROLLBACK")
            self._changed_accounts.clear()
            if not group.done():
                group.set_exception(exc)
            return
        if self._changed_accounts:
            self._tell_changes()
        if not group.done():
            group.set_result(None)

    async def _write(self, sql: str, args: Sequence[Any], read: Callable[[sqlite3.Cursor], T]) -> T:
        """Run a write in the current group; `read` takes what the caller needs from its cursor
        before the group commits (SQLite cannot commit while a statement's rows, such as those of
        RETURNING, are unread)."""
        await self._wait_for_writer()
        committed = self._join_group()
        try:
            result = read(self._run(self._writer, sql, args))
        except IntegrityError:
            # The clashing row may belong to a write of this group, not yet visible to readers:
            # let it commit first, so that the caller's next read finds it.
            await _settled(committed)
            raise
        await asyncio.shield(committed)
        return result

    async def write_steps(self, steps: Sequence[Step]) -> None:
        """Run `steps` as one all-or-nothing unit of the current group, without a SAVEPOINT
        (which costs about a quarter of a sign-up): if a step fails, the `undo` statements of
        the steps before it run (newest first), then the error is raised. All of it happens in
        one turn of the loop, before the group commits, so no reader ever sees a part."""
        await self._wait_for_writer()
        committed = self._join_group()
        done: list[Step] = []
        try:
            for step in steps:
                self._run(self._writer, step[0], step[1])
                done.append(step)
        except Exception:
            for _, _, undo_sql, undo_args in reversed(done):
                self._run(self._writer, undo_sql, undo_args)
            await _settled(committed)  # see _write
            raise
        await asyncio.shield(committed)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        if _translate(sql, self._sql)[1]:
            return self._run(None, sql, args).fetchall()
        return await self._write(sql, args, sqlite3.Cursor.fetchall)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        if _translate(sql, self._sql)[1]:
            return _first(self._run(None, sql, args))
        return await self._write(sql, args, _first)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]

    async def execute(self, sql: str, *args: Any) -> int:
        return await self._write(sql, args, _rowcount)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteTx]:
        clash: IntegrityError | None = None
        async with self._tx_lock:
            committed = self._join_group()
            self._savepoints += 1
            name = f"sp{self._savepoints}"
            self._writer.execute(f"SAVEPOINT {name}")
            try:
                yield SqliteTx(self._writer, self._reader, self._sql)
            except IntegrityError as exc:
                self._writer.execute(f"ROLLBACK TO {name}")
                self._writer.execute(f"RELEASE {name}")
                clash = exc
            except BaseException:
                self._writer.execute(f"ROLLBACK TO {name}")
                self._writer.execute(f"RELEASE {name}")
                raise
            else:
                self._writer.execute(f"RELEASE {name}")
            finally:
                if self._flush_deferred:
                    self._flush_deferred = False
                    asyncio.get_running_loop().call_soon(self._flush)
        if clash is not None:
            await _settled(committed)  # see _write
            raise clash
        await asyncio.shield(committed)

    async def ping(self) -> None:
        self._reader.execute("SELECT 1").fetchone()

    async def close(self) -> None:
        if self._group is not None:
            self._flush()
        task, self._checkpoint_task = self._checkpoint_task, None
        if task is not None:
            self._checkpoint_stop.set()
            # The loop ends after the checkpoint it may be running; shielded so that a cancelled
            # close() still lets the thread finish before anything here is closed.
            await asyncio.gather(asyncio.shield(task), return_exceptions=True)
        if self._checkpointer is not None:
            # Off the loop: the lock is free at once unless a checkpoint thread still holds it.
            await asyncio.to_thread(self._close_checkpointer)
        self._writer.execute("PRAGMA optimize")  # keep the planner's statistics current
        self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._writer.close()
        self._reader.close()

    def pool_stats(self) -> dict[str, int]:
        waiters = getattr(self._tx_lock, "_waiters", None)  # transactions queued for the writer
        in_use = 1 if self._tx_lock.locked() else 0
        return {"size": 2, "in_use": in_use, "waiting": len(waiters) if waiters else 0}


def _first(cursor: sqlite3.Cursor) -> Row | None:
    # Close the cursor: an unfinished statement keeps its read transaction (and so an old
    # snapshot) open, and stops WAL checkpoints.
    row = cursor.fetchone()
    cursor.close()
    return row


def _rowcount(cursor: sqlite3.Cursor) -> int:
    return int(cursor.rowcount)


async def _settled(future: asyncio.Future[None]) -> None:
    try:
        await asyncio.shield(future)
    except Exception:  # the group's own failure is reported to its members
        return


class SqliteTx(_SqliteExecutor):
    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return self._run(self._writer, sql, args).fetchall()

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        return _first(self._run(self._writer, sql, args))

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = _first(self._run(self._writer, sql, args))
        return None if row is None else row[0]

    async def execute(self, sql: str, *args: Any) -> int:
        return self._run(self._writer, sql, args).rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        text, _ = _translate(sql, self._sql)
        try:
            self._writer.executemany(text, rows)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from None

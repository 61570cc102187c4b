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
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from overworld.db.database import Dialect, IntegrityError, Row

_PLACEHOLDER = re.compile(r"\$(\d+)")


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
    dialect: Dialect = "sqlite"

    def __init__(self, url: str, path: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(_connect(path), _connect(path), {})
        self.url = url
        self.path = path
        self._tx_lock = asyncio.Lock()

    @classmethod
    def connect(cls, url: str) -> SqliteDatabase:
        return cls(url, url.removeprefix("sqlite:///"))

    async def _wait_for_writer(self) -> None:
        # A transaction holds the writer across awaits; plain statements queue behind it.
        if self._tx_lock.locked():
            async with self._tx_lock:
                pass

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        if not _translate(sql, self._sql)[1]:
            await self._wait_for_writer()
        return self._run(None, sql, args).fetchall()

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        if not _translate(sql, self._sql)[1]:
            await self._wait_for_writer()
        return self._run(None, sql, args).fetchone()

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]

    async def execute(self, sql: str, *args: Any) -> int:
        await self._wait_for_writer()
        return self._run(self._writer, sql, args).rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteTx]:
        async with self._tx_lock:
            self._writer.execute("BEGIN IMMEDIATE")
            tx = SqliteTx(self._writer, self._reader, self._sql)
            try:
                yield tx
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            else:
                self._writer.execute("COMMIT")

    async def ping(self) -> None:
        self._reader.execute("SELECT 1").fetchone()

    async def close(self) -> None:
        self._writer.close()
        self._reader.close()

    def pool_stats(self) -> dict[str, int]:
        return {"size": 2, "in_use": 1 if self._tx_lock.locked() else 0}


class SqliteTx(_SqliteExecutor):
    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return self._run(self._writer, sql, args).fetchall()

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        return self._run(self._writer, sql, args).fetchone()

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = self._run(self._writer, sql, args).fetchone()
        return None if row is None else row[0]

    async def execute(self, sql: str, *args: Any) -> int:
        return self._run(self._writer, sql, args).rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        text, _ = _translate(sql, self._sql)
        try:
            self._writer.executemany(text, rows)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from None

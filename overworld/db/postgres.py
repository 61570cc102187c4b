"""PostgreSQL backend: an asyncpg pool; statements are prepared and cached per connection."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from overworld.db.database import Dialect, IntegrityError, Row


def _integrity(exc: asyncpg.IntegrityConstraintViolationError) -> IntegrityError:
    return IntegrityError(f"{exc.constraint_name or ''} {exc.detail or ''} {exc}")


class _PgExecutor:
    _conn: Any

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        try:
            rows: list[Row] = await self._conn.fetch(sql, *args)
            return rows
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise _integrity(exc) from None

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        try:
            return await self._conn.fetchrow(sql, *args)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise _integrity(exc) from None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        try:
            return await self._conn.fetchval(sql, *args)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise _integrity(exc) from None

    async def execute(self, sql: str, *args: Any) -> int:
        try:
            status: str = await self._conn.execute(sql, *args)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise _integrity(exc) from None
        # "INSERT 0 1", "UPDATE 3", "DELETE 0"
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            await self._conn.executemany(sql, rows)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise _integrity(exc) from None


async def _keep_session(_: asyncpg.Connection) -> None:
    """Skip asyncpg's server-side reset on release (`RESET ALL; UNLISTEN *; ...`): one more round
    trip per query that measured as a third of a sign-up's time. Overworld never changes session
    state on pooled connections (no SET, LISTEN or session advisory locks), so there is none to undo.
    """


class PostgresTx(_PgExecutor):
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn


class PostgresDatabase(_PgExecutor):
    dialect: Dialect = "postgresql"

    def __init__(self, url: str, pool: asyncpg.Pool) -> None:
        self.url = url
        self._conn = pool
        self._pool = pool

    @classmethod
    async def connect(cls, url: str, pool_size: int = 20) -> PostgresDatabase:
        pool = await asyncpg.create_pool(
            url,
            min_size=min(4, pool_size),
            max_size=pool_size,
            statement_cache_size=1024,
            command_timeout=30,
            reset=_keep_session,
        )
        return cls(url, pool)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresTx]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield PostgresTx(conn)

    async def ping(self) -> None:
        await self._pool.fetchval("SELECT 1")

    async def close(self) -> None:
        await self._pool.close()

    def pool_stats(self) -> dict[str, int]:
        size = self._pool.get_size()
        return {"size": size, "in_use": size - self._pool.get_idle_size()}

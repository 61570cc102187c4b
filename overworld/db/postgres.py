"""PostgreSQL backend: an asyncpg pool; statements are prepared and cached per connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import structlog

from overworld.db.database import AccountChanges, Dialect, IntegrityError, Row, SqlDialect, Step
from overworld.errors import InvalidArgument

log = structlog.get_logger(__name__)
ACCOUNTS_CHANNEL = "overworld_accounts"  # NOTIFY'd by the triggers of migration 0007


POSTGRES_SQL = SqlDialect(
    lock_rows=" FOR UPDATE",
    share_rows=" FOR KEY SHARE",
    ilike="ILIKE",
    greatest="GREATEST",
    least="LEAST",
    batch_writes=True,
)

_TRANSLATED = (asyncpg.IntegrityConstraintViolationError, asyncpg.CharacterNotInRepertoireError)
NUL_TEXT = "Text values must not contain NUL (\\u0000) characters."


def _translate(exc: Exception) -> Exception:
    """A driver error callers can act on: a constraint violation, or (PostgreSQL text cannot hold
    NUL, which JSON and URLs can carry) an InvalidArgument naming the problem instead of a 500."""
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return _integrity(exc)
    return InvalidArgument(NUL_TEXT)


def _integrity(exc: asyncpg.IntegrityConstraintViolationError) -> IntegrityError:
    return IntegrityError(f"{exc.constraint_name or ''} {exc.detail or ''} {exc}")


class _PgExecutor:
    _conn: Any
    _gate: asyncio.Semaphore | None = None

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        try:
            rows: list[Row] = await self._conn.fetch(sql, *args)
            return rows
        except _TRANSLATED as exc:
            raise _translate(exc) from None

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        try:
            return await self._conn.fetchrow(sql, *args)
        except _TRANSLATED as exc:
            raise _translate(exc) from None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        try:
            return await self._conn.fetchval(sql, *args)
        except _TRANSLATED as exc:
            raise _translate(exc) from None

    async def execute(self, sql: str, *args: Any) -> int:
        try:
            status: str = await self._conn.execute(sql, *args)
        except _TRANSLATED as exc:
            raise _translate(exc) from None
        # "INSERT 0 1", "UPDATE 3", "DELETE 0"
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            await self._conn.executemany(sql, rows)
        except _TRANSLATED as exc:
            raise _translate(exc) from None


async def _keep_session(_: asyncpg.Connection) -> None:
    """Skip asyncpg's server-side reset on release (`RESET ALL; UNLISTEN *; ...`): one more round
    trip per query that measured as a third of a sign-up's time. Overworld never changes session
    state on pooled connections (no SET, LISTEN or session advisory locks), so there is none to undo.
    """


class PostgresTx(_PgExecutor):
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    def transaction(self) -> Any:
        """The connection's transaction (asyncpg's context manager)."""
        return self._conn.transaction()


class PostgresDatabase(_PgExecutor):
    dialect: Dialect = "postgresql"
    sql: SqlDialect = POSTGRES_SQL

    def __init__(self, url: str, pool: asyncpg.Pool, pool_size: int) -> None:
        self.url = url
        self._conn = pool
        self._pool = pool
        # asyncpg hands a freed connection to whichever waiter runs first, so under a burst a
        # request can wait behind many that came later. A FIFO semaphore in front keeps the order
        # (measured: p99 27 -> 9 ms, 64 requests on 20 connections).
        self._gate = asyncio.Semaphore(pool_size)
        self._stats_task: asyncio.Task[None] | None = None
        self._account_listener: AccountChanges | None = None
        self._listen_conn: asyncpg.Connection | None = None
        self._listen_task: asyncio.Task[None] | None = None
        self._closing = False

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._connection() as conn:
            return await conn.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        async with self._connection() as conn:
            return await conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with self._connection() as conn:
            return await conn.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> int:
        async with self._connection() as conn:
            return await conn.execute(sql, *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self._connection() as conn:
            await conn.executemany(sql, rows)

    def _fifo(self) -> asyncio.Semaphore:
        if self._gate is None:
            raise RuntimeError("the database is not started")
        return self._gate

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[PostgresTx]:
        """A pooled connection, in FIFO order. One whose protocol state asyncpg no longer trusts
        (InternalClientError) is closed instead of going back to the pool, and the failure is
        reported as the lost connection it is (an outage: UNAVAILABLE, not a server error).

        This happens when the server ends a session (a fast shutdown or restart,
        `pg_terminate_backend`): an idle connection that reads the server's FATAL goodbye is left
        waiting for a sync that never comes, and until the driver sees the socket close the
        pool hands it out again, where its next statement fails with "cannot switch to state
        ...; another operation (2) is in progress" (tests/db/test_postgres_backend.py)."""
        async with self._fifo(), self._pool.acquire() as conn:
            try:
                yield PostgresTx(conn)
            except asyncpg.InternalClientError as exc:
                conn.terminate()
                raise asyncpg.ConnectionDoesNotExistError(
                    f"database connection unusable after the server ended it: {exc}"
                ) from exc

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
        return cls(url, pool, pool_size)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresTx]:
        async with self._connection() as tx, tx.transaction():
            yield tx

    async def write_steps(self, steps: Sequence[Step]) -> None:
        """The steps' statements in one transaction (the undo statements are SQLite's)."""
        async with self.transaction() as tx:
            for sql, args, _, _ in steps:
                await tx.execute(sql, *args)

    def start(self, interval: float = 5.0) -> None:
        self._stats_task = asyncio.get_running_loop().create_task(self._keep_statistics(interval))

    async def _keep_statistics(self, interval: float) -> None:
        """ANALYZE tables that changed a lot since their last statistics.

        Prepared statements get generic plans; planned on tables without statistics (a new
        database, or autovacuum off) a primary-key lookup can become a scan. Autovacuum does
        this too when it is on, but not within a new database's first minute, which is when a
        launch-day burst arrives. With several nodes, the first to look resets the counter.
        """
        while True:
            await asyncio.sleep(interval)
            try:
                rows = await self.fetch(
                    "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema()"
                    " AND n_mod_since_analyze > 1000 + n_live_tup / 5"
                )
                for row in rows:
                    await self.execute(f'ANALYZE "{row["relname"]}"')
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never fatal: the next round tries again
                log.warning("statistics upkeep failed", error=str(exc))

    async def watch_accounts(self, listener: AccountChanges) -> None:
        self._account_listener = listener
        await self._listen()

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self.url)
        await conn.add_listener(ACCOUNTS_CHANNEL, self._on_notify)
        conn.add_termination_listener(self._on_listen_lost)
        self._listen_conn = conn

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        title_id, _, user_id = payload.partition(" ")
        if self._account_listener is not None:
            self._account_listener.changed(title_id, user_id)

    def _on_listen_lost(self, _conn: object) -> None:
        if self._closing or self._account_listener is None:
            return
        log.warning("account change feed lost; reconnecting")
        self._account_listener.feed(False)  # changes may be missed until it is back
        self._listen_task = asyncio.get_running_loop().create_task(self._relisten())

    async def _relisten(self) -> None:
        while not self._closing:
            try:
                await self._listen()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("account change feed reconnect failed", error=str(exc))
                await asyncio.sleep(1.0)
                continue
            if self._account_listener is None:
                return
            self._account_listener.feed(True)
            return

    async def ping(self) -> None:
        async with self._pool.acquire() as conn:  # not behind the FIFO gate: /readyz during a burst
            try:
                await conn.fetchval("SELECT 1")
            except asyncpg.InternalClientError as exc:
                conn.terminate()
                raise asyncpg.ConnectionDoesNotExistError(f"database connection unusable: {exc}") from exc

    async def close(self) -> None:
        self._closing = True
        if self._listen_task is not None:
            self._listen_task.cancel()
            await asyncio.gather(self._listen_task, return_exceptions=True)
        if self._listen_conn is not None:
            await self._listen_conn.close()
        if self._stats_task is not None:
            self._stats_task.cancel()
            await asyncio.gather(self._stats_task, return_exceptions=True)
        await self._pool.close()

    def pool_stats(self) -> dict[str, int]:
        size = self._pool.get_size()
        return {"size": size, "in_use": size - self._pool.get_idle_size(), "waiting": _waiters(self._fifo())}


def _waiters(gate: asyncio.Semaphore) -> int:
    """Tasks queued at the FIFO gate for a connection (read at scrape time only: no cost per query)."""
    waiters = getattr(gate, "_waiters", None)
    return len(waiters) if waiters else 0

"""The database interface the services use.

SQL is written once with PostgreSQL's numbered placeholders (`$1`, `$2`, ...); the SQLite
implementation rewrites them to SQLite's `?1`, `?2`. Rows support access by column name and by
index on both backends. Domain SQL lives in each domain's `store.py`; what differs between the
backends is answered here, once per backend, by `Database.sql` (a `SqlDialect`): stores use its
fragments and flags and never branch on the backend's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Row = Any  # sqlite3.Row or asyncpg.Record: both index by name and position.
Dialect = Literal["sqlite", "postgresql"]
# A write of `Database.write_steps`: (statement, arguments, the statement that undoes it, its arguments).
Step = tuple[str, Sequence[Any], str, Sequence[Any]]


@dataclass(frozen=True, slots=True)
class SqlDialect:
    """The SQL that differs between the backends, and what a store must know to pick a strategy."""

    lock_rows: str
    """Appended to a SELECT inside a transaction to lock the rows it reads until the transaction
    ends: " FOR UPDATE" on PostgreSQL; "" on SQLite, where one transaction writes at a time."""

    share_rows: str
    """Appended to a SELECT inside a transaction to hold the rows it reads against deletion (and
    key changes) until the transaction ends, without blocking other holders or plain updates:
    " FOR KEY SHARE" on PostgreSQL (what a foreign key check takes); "" on SQLite."""

    ilike: str
    """The operator of a LIKE that ignores case: ILIKE on PostgreSQL; LIKE on SQLite (which
    ignores ASCII case)."""

    greatest: str
    """The function of the largest of its arguments: GREATEST on PostgreSQL, MAX on SQLite."""

    least: str
    """The function of the smallest of its arguments: LEAST on PostgreSQL, MIN on SQLite."""

    batch_writes: bool
    """Whether writes that arrive together are worth sending as one multi-row statement with array
    parameters (`unnest($1::text[])`, `= ANY($1)`), which only PostgreSQL has: there every statement
    is a round trip and every commit a WAL flush. SQLite commits the writes of one turn of the event
    loop together by itself."""


class IntegrityError(Exception):
    """A constraint was violated; `detail` names the constraint or the columns involved."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def involves(self, column: str) -> bool:
        return column in self.detail


class Executor(Protocol):
    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...
    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...
    async def fetchval(self, sql: str, *args: Any) -> Any: ...
    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; returns the number of rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...


class AccountChanges(Protocol):
    """Told of committed changes to accounts (see `Database.watch_accounts`)."""

    def changed(self, title_id: str, user_id: str) -> None: ...
    def feed(self, live: bool) -> None:
        """False: changes may be missed from now on (the feed was lost); True: the feed is back."""
        ...


class Tx(Executor, Protocol):
    """A transaction: statements run on one connection and commit together."""


class Database(Executor, Protocol):
    dialect: Dialect
    sql: SqlDialect
    url: str

    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...
    async def write_steps(self, steps: Sequence[Step]) -> None:
        """Run the steps' statements as one all-or-nothing unit; if one fails, the error is raised
        and none of them stays. SQLite runs them in the current group commit without a SAVEPOINT,
        undoing the earlier steps if a later one fails (so every step but the last needs its undo
        statement); PostgreSQL runs them in a transaction."""
        ...

    def start(self) -> None:
        """Start background upkeep (SQLite checkpoints, PostgreSQL statistics); needs a running loop."""
        ...

    async def watch_accounts(self, listener: AccountChanges) -> None:
        """Tell `listener` of every committed UPDATE or DELETE of a `users` row and every UPDATE
        or DELETE of a `user_devices` row, by any writer (on PostgreSQL: on any node, through a
        trigger's NOTIFY, migration 0007; on SQLite: this process, after the group commit)."""
        ...

    async def ping(self) -> None: ...
    async def close(self) -> None: ...
    def pool_stats(self) -> dict[str, int]: ...


async def open_database(url: str, pool_size: int = 20) -> Database:
    if url.startswith(("postgres://", "postgresql://")):
        from overworld.db.postgres import PostgresDatabase

        return await PostgresDatabase.connect(url, pool_size=pool_size)
    if url.startswith("sqlite:///"):
        from overworld.db.sqlite import SqliteDatabase

        return SqliteDatabase.connect(url)
    raise ValueError(f"unsupported database url {url!r}: use sqlite:///path or postgresql://...")

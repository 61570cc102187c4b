"""Schema migrations with Alembic, for both backends.

`upgrade()` brings a database to the newest revision; on PostgreSQL it holds an advisory lock
so that nodes starting together migrate one at a time. `status()` tells whether a database is
current, for `/readyz`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine
from sqlalchemy.ext.asyncio import create_async_engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"  # overworld/migrations
_ADVISORY_LOCK = 0x0F3E_4A11  # arbitrary, constant: "overworld migrations"


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError("the migrations have no head revision")
    return head


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None
    head: str

    @property
    def is_current(self) -> bool:
        return self.current == self.head


def _sqlalchemy_url(url: str) -> str:
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


def _upgrade_sync(connection: Connection, revision: str) -> None:
    command.upgrade(_config(connection), revision)


def _downgrade_sync(connection: Connection, revision: str) -> None:
    command.downgrade(_config(connection), revision)


def _current_sync(connection: Connection) -> str | None:
    rev: str | None = MigrationContext.configure(connection).get_current_revision()
    return rev


async def _with_connection(url: str, fn: Any, *args: Any, lock: bool = False) -> Any:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)

        def run() -> Any:
            engine = create_engine(url)
            try:
                with engine.begin() as conn:
                    return fn(conn, *args)
            finally:
                engine.dispose()

        return await asyncio.to_thread(run)
    engine = create_async_engine(_sqlalchemy_url(url))
    try:
        async with engine.begin() as conn:
            if lock:
                await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK})")
            return await conn.run_sync(fn, *args)
    finally:
        await engine.dispose()


async def upgrade(url: str, revision: str = "head") -> None:
    await _with_connection(url, _upgrade_sync, revision, lock=True)


async def downgrade(url: str, revision: str) -> None:
    await _with_connection(url, _downgrade_sync, revision, lock=True)


async def status(url: str) -> SchemaStatus:
    current = await _with_connection(url, _current_sync)
    return SchemaStatus(current=current, head=head_revision())


def revisions() -> list[str]:
    """Every revision id, oldest first."""
    return [s.revision for s in reversed(list(ScriptDirectory.from_config(_config()).walk_revisions()))]

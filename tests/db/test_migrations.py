"""The Alembic migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import create_async_engine

from overworld.db import migrate
from overworld.migrations.schema import metadata
from tests.support import PG_URL, create_pg_database, drop_pg_database

pytestmark = pytest.mark.anyio


def _diff(connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_sqlite_migrations_match_metadata(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    assert not (await migrate.status(url)).is_current
    await migrate.upgrade(url)
    status = await migrate.status(url)
    assert status.is_current and status.current == migrate.head_revision()
    engine = create_engine(url)
    with engine.connect() as conn:
        assert _diff(conn) == []
    engine.dispose()
    await migrate.downgrade(url, "base")
    assert (await migrate.status(url)).current is None


async def test_postgres_migrations_match_metadata():
    if not PG_URL:
        pytest.skip("PostgreSQL tests need OVERWORLD_TEST_DATABASE_URL")
    url = await create_pg_database(PG_URL)
    try:
        await migrate.upgrade(url)
        engine = create_async_engine("postgresql+asyncpg://" + url.split("://", 1)[1])
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
        await engine.dispose()
    finally:
        await drop_pg_database(PG_URL, url)

"""Which failures `Outages` takes for an unreachable database or Redis (and nothing else), and
that an outage is counted once, logged at its start and end."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from asyncpg import exceptions as pg
from redis import exceptions as rx

from overworld.errors import Code
from overworld.ops.outages import Outages, classify

pytestmark = pytest.mark.anyio


def test_classify():
    assert classify(pg.ConnectionDoesNotExistError("connection was closed")) == "database"
    assert classify(pg.CannotConnectNowError("the database system is starting up")) == "database"
    assert classify(pg.TooManyConnectionsError("too many")) == "database"
    assert classify(pg.InvalidCatalogNameError('database "x" does not exist')) == "database"
    assert classify(rx.ConnectionError("refused")) == "redis"
    assert classify(rx.TimeoutError("timed out")) == "redis"
    assert classify(sqlite3.OperationalError("disk I/O error")) == "database"
    # Not outages: bugs and bad data.
    assert classify(pg.UniqueViolationError("dup")) is None
    assert classify(sqlite3.OperationalError("no such table: x")) is None
    assert classify(ValueError("x")) is None
    assert classify(ConnectionRefusedError("not from a database client")) is None
    try:
        raise RuntimeError("wrapped") from rx.ConnectionError("refused")
    except RuntimeError as exc:
        assert classify(exc) == "redis"


async def test_an_outage_counts_its_failures_and_ends_when_the_probe_answers():
    up = asyncio.Event()

    async def probe() -> None:
        if not up.is_set():
            raise ConnectionRefusedError()

    outages = Outages({"database": probe}, interval=0.05)
    try:
        for _ in range(3):
            error = outages.unavailable(pg.ConnectionDoesNotExistError("closed"))
            assert error is not None and error.code == Code.UNAVAILABLE and error.http_status == 503
        assert outages.unavailable(ValueError("a bug")) is None
        assert outages.down() == ["database"] and outages.failures("database") == 3
        up.set()
        for _ in range(100):
            if not outages.down():
                break
            await asyncio.sleep(0.02)
        assert outages.down() == []
    finally:
        await outages.close()

"""The metrics the dashboard and alerts need beyond the request metrics: database pool waits,
Redis errors, the matchmaker's pool. Each is checked for what it counts, not only its name."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from overworld.node import Node
from overworld.ops import metrics
from tests.support import REDIS_URL, free_port

pytestmark = pytest.mark.anyio


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_pool_waiting_counts_operations_queued_for_a_connection(node: Node) -> None:
    db = node.db
    assert db.pool_stats()["waiting"] == 0
    if db.dialect == "postgresql":
        gate = db._gate  # type: ignore[attr-defined]
        held = 0
        while not gate.locked():  # take every connection permit
            await gate.acquire()
            held += 1
        queued = [asyncio.create_task(db.fetchval("SELECT 1")) for _ in range(3)]
        await asyncio.sleep(0.01)
        try:
            assert db.pool_stats()["waiting"] == 3
        finally:
            for _ in range(held):
                gate.release()
    else:
        lock = db._tx_lock  # type: ignore[attr-defined]
        await lock.acquire()

        async def write() -> None:
            async with db.transaction() as tx:
                await tx.execute("SELECT 1")

        queued = [asyncio.create_task(write()) for _ in range(3)]
        await asyncio.sleep(0.01)
        try:
            assert db.pool_stats()["waiting"] == 3
        finally:
            lock.release()
    await asyncio.gather(*queued)
    assert db.pool_stats()["waiting"] == 0


def test_pool_waiting_is_exported() -> None:
    metrics.register_pool(lambda: {"size": 20, "in_use": 20, "waiting": 7})
    try:
        assert sample("overworld_db_pool_waiting") == 7
        assert sample("overworld_db_pool_in_use") == 20
    finally:
        metrics.unregister_all()


async def test_redis_connection_failures_are_counted() -> None:
    import redis.asyncio as aioredis
    from redis.exceptions import ConnectionError as RedisConnectionError

    client = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    metrics.count_redis_errors(client)
    metrics.count_redis_errors(client)  # idempotent: counted once per failure
    before = sample("overworld_redis_errors_total", op="connect")
    try:
        with pytest.raises(RedisConnectionError):
            await client.ping()
    finally:
        await client.aclose()
    assert sample("overworld_redis_errors_total", op="connect") - before >= 1
    # redis-py retries a failed connect by default: each failure counts once, never more than the tries
    assert sample("overworld_redis_errors_total", op="connect") - before <= 4


async def test_redis_command_errors_are_counted_and_successes_are_not() -> None:
    if not REDIS_URL:
        pytest.skip("needs OVERWORLD_TEST_REDIS_URL")
    import redis.asyncio as aioredis
    from redis.exceptions import NoScriptError, ResponseError

    client = aioredis.from_url(REDIS_URL)
    metrics.count_redis_errors(client)
    key = "owtest:metrics:not-a-number"
    try:
        await client.set(key, "x", ex=10)
        before = sample("overworld_redis_errors_total", op="read")
        await client.get(key)
        assert sample("overworld_redis_errors_total", op="read") == before
        with pytest.raises(ResponseError):
            await client.incr(key)
        assert sample("overworld_redis_errors_total", op="read") == before + 1
        # a script not loaded yet is part of running scripts, not an error
        with pytest.raises(NoScriptError):
            await client.evalsha("0" * 40, 0)
        assert sample("overworld_redis_errors_total", op="read") == before + 1
    finally:
        await client.delete(key)
        await client.aclose()


async def test_matchmaker_pool_gauge_follows_the_pool(node: Node) -> None:
    class Pool:
        def __len__(self) -> int:
            return 7

        def run(self, now: float) -> list[object]:
            return []

    service = node.matchmaker
    real = service.engine
    service.engine = Pool()  # type: ignore[assignment]
    try:
        await service.run_once()
        assert sample("overworld_matchmaker_tickets") == 7
    finally:
        service.engine = real
    await service.run_once()
    assert sample("overworld_matchmaker_tickets") == len(real)

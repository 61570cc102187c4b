"""Prometheus metrics beyond the per-route request metrics: database pool, Redis errors, process state."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REDIS_ERRORS = Counter(
    "overworld_redis_errors_total",
    "Failed Redis operations (connecting, sending a command, reading its reply), by step",
    ["op"],
)

PRIVACY_OPERATIONS = Counter(
    "overworld_privacy_operations_total",
    "Players' data exported and accounts erased (docs/data-protection.md), by operation",
    ["op"],
)
RETENTION_PURGED = Counter(
    "overworld_retention_purged_total",
    "Rows purged by the titles' retention policies: chat messages and notifications deleted,"
    " ledger rows whose metadata was emptied",
    ["kind"],
)


class DatabasePoolCollector(Collector):
    def __init__(self, stats: Callable[[], dict[str, int]]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        stats = self._stats()
        size = GaugeMetricFamily("overworld_db_pool_size", "Open database connections")
        size.add_metric([], stats.get("size", 0))
        used = GaugeMetricFamily("overworld_db_pool_in_use", "Database connections in use")
        used.add_metric([], stats.get("in_use", 0))
        waiting = GaugeMetricFamily(
            "overworld_db_pool_waiting", "Database operations waiting for a connection (the FIFO gate)"
        )
        waiting.add_metric([], stats.get("waiting", 0))
        yield size
        yield used
        yield waiting


_registered: list[Collector] = []


def register_pool(stats: Callable[[], dict[str, int]]) -> None:
    unregister_all()
    collector = DatabasePoolCollector(stats)
    REGISTRY.register(collector)
    _registered.append(collector)


def unregister_all() -> None:
    while _registered:
        REGISTRY.unregister(_registered.pop())


def count_redis_errors(client: Any) -> None:
    """Count the failures of every connection `client` (a `redis.asyncio.Redis`) opens from now on
    in `overworld_redis_errors_total`: commands, pipelines and pub/sub alike. The connection class
    of its pool is replaced by a subclass whose steps run inside a `try`, which costs nothing on
    success."""
    from redis.exceptions import NoScriptError, RedisError

    pool = client.connection_pool
    base: type[Any] = pool.connection_class
    if getattr(base, "_overworld_counted", False):
        return
    errors = (RedisError, OSError)
    connect_errors, send_errors, read_errors = (REDIS_ERRORS.labels(op) for op in ("connect", "send", "read"))

    class CountedConnection(base):  # type: ignore[misc]
        _overworld_counted = True

        async def connect(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return await super().connect(*args, **kwargs)
            except errors:
                connect_errors.inc()
                raise

        async def send_packed_command(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return await super().send_packed_command(*args, **kwargs)
            except errors:
                send_errors.inc()
                raise

        async def read_response(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return await super().read_response(*args, **kwargs)
            except errors as exc:
                # NOSCRIPT is a step of running a Lua script (EVALSHA, then SCRIPT LOAD once per
                # Redis start), not a failure
                if not isinstance(exc, NoScriptError):
                    read_errors.inc()
                raise

    CountedConnection.__name__ = CountedConnection.__qualname__ = f"Counted{base.__name__}"
    pool.connection_class = CountedConnection

"""Prometheus metrics beyond the per-route request metrics: database pool and process state."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class DatabasePoolCollector(Collector):
    def __init__(self, stats: Callable[[], dict[str, int]]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        stats = self._stats()
        size = GaugeMetricFamily("overworld_db_pool_size", "Open database connections")
        size.add_metric([], stats.get("size", 0))
        used = GaugeMetricFamily("overworld_db_pool_in_use", "Database connections in use")
        used.add_metric([], stats.get("in_use", 0))
        yield size
        yield used


_registered: list[Collector] = []


def register_pool(stats: Callable[[], dict[str, int]]) -> None:
    unregister_all()
    collector = DatabasePoolCollector(stats)
    REGISTRY.register(collector)
    _registered.append(collector)


def unregister_all() -> None:
    while _registered:
        REGISTRY.unregister(_registered.pop())

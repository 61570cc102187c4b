"""Outages of the services a node depends on (the database, Redis), told apart from bugs.

A request that fails because the database or Redis cannot be reached is not a server error: the
transports ask `Outages.unavailable(exc)` in their last-resort handlers and answer Nakama's
UNAVAILABLE (code 14, HTTP 503) when it recognises the failure. An outage is logged once when it
starts (a warning, no traceback) and once when it ends, with the number of requests it failed;
meanwhile a probe (the same check `/readyz` makes) runs every second to notice the end.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal

import structlog

from overworld.errors import Unavailable

log = structlog.get_logger(__name__)

Service = Literal["database", "redis"]
Probe = Callable[[], Awaitable[object]]
QUIET_SEC = 5.0  # without a probe, an outage ends after this long without a failure


def _asyncpg_unavailable(exc: BaseException) -> bool:
    from asyncpg import exceptions as pg

    return isinstance(
        exc,
        (
            pg.PostgresConnectionError,  # class 08: connection lost, refused, failed
            pg.OperatorInterventionError,  # class 57: shutting down, starting up
            pg.InsufficientResourcesError,  # class 53: too many connections, disk full
            pg.InterfaceError,  # "connection is closed", "pool is closing"
            pg.InvalidCatalogNameError,  # 3D000: the database is gone (dropped, or not restored yet)
        ),
    )


def _raised_in(tb: TracebackType | None) -> Service | None:
    """Whose code an OS-level error (refused, reset, timed out) came from."""
    found: Service | None = None
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        if module.startswith(("asyncpg", "overworld.db")):
            found = "database"
        elif module.startswith("redis"):
            found = "redis"
        tb = tb.tb_next
    return found


def classify(exc: BaseException) -> Service | None:
    """Which service `exc` (or an exception it was raised from) says is unreachable."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        module = type(current).__module__
        if module.startswith("asyncpg") and _asyncpg_unavailable(current):
            return "database"
        if module.startswith("redis"):
            from redis import exceptions as rx

            if isinstance(current, (rx.ConnectionError, rx.TimeoutError)):
                return "redis"
        if isinstance(current, sqlite3.OperationalError):
            text = str(current)
            if "locked" in text or "disk I/O" in text or "unable to open" in text:
                return "database"
        if isinstance(current, (OSError, TimeoutError)):
            where = _raised_in(current.__traceback__)
            if where is not None:
                return where
        current = current.__cause__ or current.__context__
    return None


@dataclass
class _Outage:
    started: float
    last_failure: float
    failures: int = 0
    watcher: asyncio.Task[None] | None = field(default=None, repr=False)


class Outages:
    def __init__(self, probes: Mapping[Service, Probe] | None = None, interval: float = 1.0) -> None:
        self._probes = dict(probes or {})
        self._interval = interval
        self._down: dict[Service, _Outage] = {}

    def down(self) -> list[Service]:
        """The services in an outage now."""
        return list(self._down)

    def failures(self, service: Service) -> int:
        outage = self._down.get(service)
        return outage.failures if outage else 0

    def unavailable(self, exc: BaseException) -> Unavailable | None:
        """UNAVAILABLE when `exc` says the database or Redis cannot be reached (the failure is
        counted in its outage, logged if it starts one); None for anything else."""
        service = classify(exc)
        if service is None:
            return None
        now = time.monotonic()
        outage = self._down.get(service)
        if outage is None:
            outage = self._down[service] = _Outage(started=now, last_failure=now)
            log.warning(
                f"{service} unavailable: requests get UNAVAILABLE until it is back",
                service=service,
                error=f"{type(exc).__name__}: {exc}",
            )
            try:
                outage.watcher = asyncio.get_running_loop().create_task(self._watch(service, outage))
            except RuntimeError:  # no running loop: the next failure starts the watcher
                del self._down[service]
        outage.failures += 1
        outage.last_failure = now
        name = "Database" if service == "database" else "Redis"
        return Unavailable(f"{name} unavailable, try again later.")

    async def _watch(self, service: Service, outage: _Outage) -> None:
        probe = self._probes.get(service)
        while True:
            await asyncio.sleep(self._interval)
            if probe is None:
                if time.monotonic() - outage.last_failure >= QUIET_SEC:
                    break
                continue
            try:
                await asyncio.wait_for(probe(), timeout=max(self._interval, 1.0))
            except Exception:  # noqa: S112  # nosec B112 # still down: probe again
                continue
            break
        self._down.pop(service, None)
        log.warning(
            f"{service} available again",
            service=service,
            failed_requests=outage.failures,
            seconds=round(time.monotonic() - outage.started, 1),
        )

    async def close(self) -> None:
        tasks = [o.watcher for o in self._down.values() if o.watcher is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._down.clear()

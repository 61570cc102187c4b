"""Named jobs on cron schedules, run once per scheduled time across the deployment.

Every node keeps the same jobs and computes the same fire times; at each one, the nodes race to
claim it (`_claim`) and only the winner runs the job. A job is an async function given the fire
time (Unix milliseconds): what it does must be keyed by that time if it matters that a job is
not run twice (a claim is the best a scheduler can do; a node can die while running a job).

Fire times missed while no node was running (or the event loop was blocked) are not replayed:
after a gap, the next fire time is computed from the present.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import structlog

from overworld.clock import now_ms
from overworld.subsystems.scheduler.cron import Cron, parse_cron

log = structlog.get_logger(__name__)
JobFunction = Callable[[int], Awaitable[None]]  # called with the fire time, Unix milliseconds
MAX_SLEEP_SEC = 30.0  # wake at least this often, so a change of the wall clock is noticed


class Scheduler(Protocol):
    """Runs named jobs on cron schedules (UTC), each fire time once across the deployment.

    A failing job is logged and does not stop its schedule; each run is a task of its own, so a
    slow job delays no other job (nor its own next run: runs of one job may overlap). Jobs may be
    added and removed at any time, before or after `start`.
    """

    def add(self, name: str, cron: str | Cron, fn: JobFunction) -> None:
        """Run `fn(fire_time_ms)` at each time of `cron` (an expression, or a `Cron` from
        `parse_cron`; a bad expression raises `CronError`). Every node must add the same job
        under the same `name`. A job of that name is replaced: with the same schedule, the next
        run calls the new function."""
        ...

    def remove(self, name: str) -> bool:
        """Stop scheduling job `name` (a run in progress finishes); False if there is none."""
        ...

    def names(self) -> list[str]: ...
    async def start(self) -> None: ...

    async def close(self) -> None:
        """Stop scheduling; runs in progress get the scheduler's grace time, then are cancelled."""
        ...


@dataclass(eq=False, slots=True)
class _Job:
    name: str
    cron: Cron
    fn: JobFunction
    task: asyncio.Task[None] | None = None


class ScheduledJobs:
    """The part both schedulers share: one sleeping task per job, which claims each fire time
    and, when it won, starts the job in a task of its own."""

    def __init__(self, grace_sec: float = 10.0) -> None:
        self._jobs: dict[str, _Job] = {}
        self._runs: set[asyncio.Task[None]] = set()
        self._started = False
        self._grace = grace_sec

    async def _claim(self, name: str, fire_ms: int) -> bool:
        raise NotImplementedError

    def add(self, name: str, cron: str | Cron, fn: JobFunction) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a job needs a name, got {name!r}")
        schedule = cron if isinstance(cron, Cron) else parse_cron(cron)
        job = self._jobs.get(name)
        if job is not None and job.cron.expression == schedule.expression:
            job.fn = fn
            return
        if job is not None:
            _stop(job)
        job = self._jobs[name] = _Job(name, schedule, fn)
        if self._started:
            self._begin(job)

    def remove(self, name: str) -> bool:
        job = self._jobs.pop(name, None)
        if job is None:
            return False
        _stop(job)
        return True

    def names(self) -> list[str]:
        return sorted(self._jobs)

    async def start(self) -> None:
        self._started = True
        for job in self._jobs.values():
            if job.task is None:
                self._begin(job)

    async def close(self) -> None:
        self._started = False
        loops = [job.task for job in self._jobs.values() if job.task is not None]
        for job in self._jobs.values():
            _stop(job)
        await asyncio.gather(*loops, return_exceptions=True)
        if self._runs:
            _, pending = await asyncio.wait(list(self._runs), timeout=self._grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def _begin(self, job: _Job) -> None:
        job.task = asyncio.get_running_loop().create_task(self._schedule(job), name=f"cron {job.name}")

    async def _schedule(self, job: _Job) -> None:
        fire = job.cron.next_after(now_ms())
        while True:
            wait = fire - now_ms()
            if wait > 0:
                await asyncio.sleep(min(wait / 1000, MAX_SLEEP_SEC))
                continue
            try:
                won = await self._claim(job.name, fire)
            except Exception as exc:
                log.warning(
                    "scheduled job skipped: claim failed", job=job.name, fire_time=fire, error=repr(exc)
                )
                won = False
            if won:
                run = asyncio.get_running_loop().create_task(self._run(job.name, job.fn, fire))
                self._runs.add(run)
                run.add_done_callback(self._runs.discard)
            fire = job.cron.next_after(max(fire, now_ms()))

    async def _run(self, name: str, fn: JobFunction, fire_ms: int) -> None:
        try:
            await fn(fire_ms)
        except Exception:
            log.exception("scheduled job failed", job=name, fire_time=fire_ms)


def _stop(job: _Job) -> None:
    if job.task is not None:
        job.task.cancel()
        job.task = None

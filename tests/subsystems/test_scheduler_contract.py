"""The Scheduler contract (overworld/subsystems/scheduler/base.py), run against the embedded
scheduler and the Redis one, and the cron expressions both use.

A deployment is a list of nodes' schedulers: embedded, the one scheduler; on Redis, three
`RedisScheduler`s on one prefix, each with its own connection, racing to claim each fire time.
Jobs here use six-field expressions (seconds first), so `* * * * * *` fires every second and a
test waits a second or two for a firing rather than a minute.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest
from structlog.testing import capture_logs

from overworld.clock import now_ms
from overworld.subsystems.scheduler import Cron, CronError, EmbeddedScheduler, Scheduler, parse_cron
from tests.subsystems.support import (
    IMPLEMENTATIONS,
    RedisSpace,
    deployed,
    redis_only,
)

pytestmark = pytest.mark.anyio
EVERY_SECOND = "* * * * * *"
WAIT_SEC = 15  # upper bound for things expected within a few seconds


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SEC
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        await asyncio.sleep(0.05)


# -- cron expressions ---------------------------------------------------------------------------


def test_cron_expressions_give_their_times_in_utc():
    every_five = parse_cron("*/5 * * * *")
    assert every_five.next_after(ms("2026-01-01T00:02:30")) == ms("2026-01-01T00:05:00")
    assert every_five.next_after(ms("2026-01-01T00:05:00")) == ms("2026-01-01T00:10:00")  # strictly after
    assert every_five.last_at_or_before(ms("2026-01-01T00:05:00")) == ms("2026-01-01T00:05:00")
    assert every_five.last_at_or_before(ms("2026-01-01T00:09:59.999")) == ms("2026-01-01T00:05:00")
    # Six fields: seconds first.
    half_minute = parse_cron("30 * * * * *")
    assert half_minute.next_after(ms("2026-01-01T00:00:00")) == ms("2026-01-01T00:00:30")
    assert half_minute.next_after(ms("2026-01-01T00:00:30.001")) == ms("2026-01-01T00:01:30")
    mondays = parse_cron("0 12 * * MON")
    assert mondays.next_after(ms("2026-01-01T00:00:00")) == ms("2026-01-05T12:00:00")
    assert parse_cron("@daily").next_after(ms("2026-03-04T05:06:07")) == ms("2026-03-05T00:00:00")
    assert parse_cron("  0   0 1 * *  ").expression == "0 0 1 * *"


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("61 * * * *", "out of range"),
        ("* * *", "5 fields"),
        ("", "5 fields"),
        ("* * * * * * *", "5 fields"),
        ("every minute", "5 fields"),
        ("a b c d e", "not acceptable"),
        ("*/0 * * * *", "step"),
        ("0 0 30 2 *", "never fires"),
        ("@reboot", "5 fields"),
    ],
)
def test_bad_cron_expressions_are_rejected_naming_the_expression(expression, reason):
    with pytest.raises(CronError) as failure:
        parse_cron(expression)
    assert f"invalid cron expression {expression!r}" in str(failure.value)
    assert reason in str(failure.value)


def test_a_cron_expression_must_be_text():
    with pytest.raises(CronError, match="must be a string"):
        parse_cron(5)  # type: ignore[arg-type]


# -- the schedulers -----------------------------------------------------------------------------


class Deployment:
    """Makes the schedulers of one deployment's nodes (not started) and closes them all."""

    def __init__(self, space: RedisSpace | None) -> None:
        self.space = space
        self.prefix = space.prefix() if space is not None else ""
        self.made: list[Scheduler] = []

    def nodes(self, count: int = 3, grace_sec: float = 0.2) -> list[Scheduler]:
        """`count` schedulers on Redis; the one scheduler when embedded."""
        made: list[Scheduler]
        if self.space is None:
            made = [EmbeddedScheduler(grace_sec=grace_sec)]
        else:
            from overworld.subsystems.scheduler.redis import RedisScheduler

            first = len(self.made)
            made = [
                RedisScheduler(self.space.client(), self.prefix, node_name=f"node-{i}", grace_sec=grace_sec)
                for i in range(first, first + count)
            ]
        self.made.extend(made)
        return made

    def node(self, grace_sec: float = 0.2) -> Scheduler:
        return self.nodes(1, grace_sec)[0]

    async def close(self) -> None:
        for scheduler in self.made:
            await scheduler.close()


@pytest.fixture(params=IMPLEMENTATIONS)
async def deployment(request: pytest.FixtureRequest) -> AsyncIterator[Deployment]:
    async with deployed(request, Deployment, "sctest") as running:
        yield running


@pytest.fixture
async def scheduler(deployment: Deployment) -> Scheduler:
    """One node's scheduler, started (closed by `deployment`)."""
    running = deployment.node()
    await running.start()
    return running


def recorder(into: list[int]) -> Callable[[int], object]:
    async def job(fire_ms: int) -> None:
        into.append(fire_ms)

    return job


async def test_a_job_runs_at_its_times_and_is_given_the_time(scheduler):
    fired: list[int] = []
    started = now_ms()
    scheduler.add("tick", EVERY_SECOND, recorder(fired))
    await until(lambda: len(fired) >= 2, "two runs")
    assert fired[0] > started and all(t % 1000 == 0 for t in fired)
    assert fired == sorted(set(fired)) and fired[-1] <= now_ms()
    assert scheduler.names() == ["tick"]


async def test_a_failing_job_is_logged_and_every_job_keeps_its_schedule(scheduler):
    good: list[int] = []
    bad: list[int] = []

    async def failing(fire_ms: int) -> None:
        bad.append(fire_ms)
        raise RuntimeError("job failure")

    with capture_logs() as logs:
        scheduler.add("failing", EVERY_SECOND, failing)
        scheduler.add("good", EVERY_SECOND, recorder(good))
        await until(lambda: len(bad) >= 2 and len(good) >= 2, "both jobs to run twice")
    failures = [e for e in logs if e["event"] == "scheduled job failed"]
    assert failures and {e["job"] for e in failures} == {"failing"}
    assert failures[0]["fire_time"] == bad[0] and failures[0]["log_level"] == "error"


async def test_a_slow_job_delays_no_other_and_close_cancels_it(deployment):
    scheduler = deployment.node(grace_sec=0.05)
    await scheduler.start()
    slow_runs: list[int] = []
    cancelled: list[int] = []
    fast: list[int] = []

    async def slow(fire_ms: int) -> None:
        slow_runs.append(fire_ms)
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(fire_ms)
            raise

    scheduler.add("slow", EVERY_SECOND, slow)
    scheduler.add("fast", EVERY_SECOND, recorder(fast))
    await until(lambda: len(slow_runs) >= 1, "the slow job to start")
    await until(lambda: len([t for t in fast if t > slow_runs[0]]) >= 2, "the fast job to go on")
    assert len(slow_runs) >= 2  # the slow job's own schedule goes on too, its runs overlapping
    await scheduler.close()
    assert sorted(cancelled) == sorted(slow_runs)


async def test_close_lets_a_run_in_progress_finish_within_the_grace_time(deployment):
    scheduler = deployment.node(grace_sec=10)
    started: list[int] = []
    finished: list[int] = []

    async def job(fire_ms: int) -> None:
        started.append(fire_ms)
        await asyncio.sleep(0.3)
        finished.append(fire_ms)

    scheduler.add("job", EVERY_SECOND, job)
    await scheduler.start()
    await until(lambda: len(started) >= 1, "the job to start")
    await scheduler.close()
    assert finished == started


async def test_jobs_can_be_added_replaced_and_removed_while_running(scheduler):
    first: list[int] = []
    second: list[int] = []
    other: list[int] = []
    scheduler.add("job", EVERY_SECOND, recorder(first))
    await until(lambda: len(first) >= 1, "the job to run")
    # Same name, same schedule: the next run calls the new function.
    scheduler.add("job", EVERY_SECOND, recorder(second))
    await until(lambda: len(second) >= 1, "the replacement to run")
    assert second[0] > first[-1]
    assert scheduler.remove("job") and not scheduler.remove("job")
    await asyncio.sleep(0.05)  # lets a run started just before the removal begin
    runs_when_removed = len(first) + len(second)
    scheduler.add("other", "*/1 * * * * *", recorder(other))
    await until(lambda: len(other) >= 2, "another job to run twice")
    assert len(first) + len(second) == runs_when_removed
    assert scheduler.names() == ["other"]
    # A new schedule under the same name replaces the old one.
    scheduler.add("other", "0 0 1 1 *", recorder(other))
    assert scheduler.names() == ["other"]
    with pytest.raises(CronError):
        scheduler.add("broken", "not a cron", recorder(other))
    assert scheduler.names() == ["other"]


async def test_jobs_added_before_start_run_once_started(deployment):
    scheduler = deployment.node()
    fired: list[int] = []
    scheduler.add("early", Cron("* * * * * *"), recorder(fired))
    await scheduler.start()
    await until(lambda: len(fired) >= 1, "the job to run")


async def test_each_fire_time_runs_once_across_the_deployment(deployment):
    schedulers = deployment.nodes()
    runs: list[tuple[str, int]] = []

    def job_of(node: str) -> Callable[[int], object]:
        async def job(fire_ms: int) -> None:
            runs.append((node, fire_ms))

        return job

    for i, scheduler in enumerate(schedulers):
        scheduler.add("shared-job", EVERY_SECOND, job_of(f"node-{i}"))
        await scheduler.start()
    await until(lambda: len({t for _, t in runs}) >= 4, "four fire times")
    for scheduler in schedulers:
        await scheduler.close()
    per_time = collections.Counter(t for _, t in runs)
    assert set(per_time.values()) == {1}, per_time


@redis_only("the embedded scheduler is its deployment's only node: it claims nothing")
async def test_a_fire_time_is_claimed_once_and_never_long_after(deployment):
    a, b = deployment.nodes(2)
    when = now_ms()
    assert await a._claim("job", when) is True
    assert await b._claim("job", when) is False
    assert await a._claim("job", when) is False
    assert await b._claim("other-job", when) is True
    # The claim names the node that won it, and expires.
    client = deployment.space.client()
    assert await client.get(f"{deployment.prefix}:sched:job:{when}") == b"node-0"
    assert await client.pttl(f"{deployment.prefix}:sched:job:{when}") > 0
    # A node that reaches a fire time long after it (its clock far behind) does not run it.
    with capture_logs() as logs:
        assert await a._claim("job", when - 3_600_000) is False
    assert logs[0]["event"] == "scheduled job skipped: too late to claim"

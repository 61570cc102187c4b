"""The scheduler (cron expressions, embedded and Redis-backed) and cron jobs of server code.

Jobs here use six-field expressions (seconds first), so `* * * * * *` fires every second and a
test waits a second or two for a firing rather than a minute.
"""

from __future__ import annotations

import asyncio
import collections
import shutil
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from structlog.testing import capture_logs

from overworld.clock import now_ms
from overworld.config import Settings
from overworld.node import Node
from overworld.runtime import RuntimeLoadError, ServerApi
from overworld.subsystems.scheduler import Cron, CronError, EmbeddedScheduler, parse_cron
from tests.support import (
    PG_URL,
    REDIS_URL,
    ROOT,
    create_pg_database,
    drop_pg_database,
    run,
    running_server,
    unique,
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


# -- the embedded scheduler ---------------------------------------------------------------------


@pytest.fixture
async def scheduler() -> AsyncIterator[EmbeddedScheduler]:
    running = EmbeddedScheduler(grace_sec=0.2)
    await running.start()
    yield running
    await running.close()


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


async def test_a_slow_job_delays_no_other_and_close_cancels_it():
    scheduler = EmbeddedScheduler(grace_sec=0.05)
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


async def test_jobs_added_before_start_run_once_started():
    scheduler = EmbeddedScheduler()
    fired: list[int] = []
    scheduler.add("early", Cron("* * * * * *"), recorder(fired))
    await scheduler.start()
    try:
        await until(lambda: len(fired) >= 1, "the job to run")
    finally:
        await scheduler.close()


# -- the Redis scheduler ------------------------------------------------------------------------


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    if not REDIS_URL:
        pytest.skip("Redis scheduler tests need OVERWORLD_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
    import redis.asyncio as aioredis

    prefix = unique("owtest")
    yield prefix
    client = aioredis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def redis_schedulers(prefix: str, count: int) -> list:
    import redis.asyncio as aioredis

    from overworld.subsystems.scheduler.redis import RedisScheduler

    return [
        RedisScheduler(aioredis.from_url(REDIS_URL), prefix, node_name=f"node-{i}", grace_sec=1)
        for i in range(count)
    ]


async def close_all(schedulers: list) -> None:
    for scheduler in schedulers:
        await scheduler.close()
        await scheduler._redis.aclose()


async def test_each_fire_time_runs_once_across_redis_schedulers(redis_prefix):
    schedulers = await redis_schedulers(redis_prefix, 3)
    runs: list[tuple[str, int]] = []

    def job_of(node: str) -> Callable[[int], object]:
        async def job(fire_ms: int) -> None:
            runs.append((node, fire_ms))

        return job

    try:
        for i, scheduler in enumerate(schedulers):
            scheduler.add("shared-job", EVERY_SECOND, job_of(f"node-{i}"))
            await scheduler.start()
        await until(lambda: len({t for _, t in runs}) >= 4, "four fire times")
    finally:
        await close_all(schedulers)
    per_time = collections.Counter(t for _, t in runs)
    assert set(per_time.values()) == {1}, per_time
    # The claim names the node that won it.
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL)
    try:
        node, fire_ms = runs[0]
        assert await client.get(f"{redis_prefix}:sched:shared-job:{fire_ms}") == node.encode()
        assert await client.pttl(f"{redis_prefix}:sched:shared-job:{fire_ms}") > 0
    finally:
        await client.aclose()


async def test_a_fire_time_is_claimed_once_and_never_long_after(redis_prefix):
    a, b = await redis_schedulers(redis_prefix, 2)
    try:
        when = now_ms()
        assert await a._claim("job", when) is True
        assert await b._claim("job", when) is False
        assert await a._claim("job", when) is False
        assert await b._claim("other-job", when) is True
        # A node that reaches a fire time long after it (its clock far behind) does not run it.
        with capture_logs() as logs:
            assert await a._claim("job", when - 3_600_000) is False
        assert logs[0]["event"] == "scheduled job skipped: too late to claim"
    finally:
        await close_all([a, b])


# -- cron jobs of server code -------------------------------------------------------------------

JOBS = """
import asyncio

from overworld.runtime import CronContext, InitContext, Initializer, ServerApi


def init(ctx: InitContext, nk: ServerApi, initializer: Initializer) -> None:
    @initializer.cron("tick", "* * * * * *")
    async def tick(job: CronContext, nk: ServerApi) -> None:
        await nk.storage_write([{
            "collection": "ticks",
            "key": str(job.scheduled_time),
            "value": {"job": job.job, "title": job.title_name, "title_id": job.title_id,
                      "node": job.node, "nk_title": nk.title_name, "nk_module": nk.module},
        }])

    def broken(job: CronContext, nk: ServerApi) -> None:
        raise RuntimeError("cron job failure")

    initializer.register_cron("broken", "* * * * * *", broken)

    @initializer.cron("slow", "* * * * * *")
    async def slow(job: CronContext, nk: ServerApi) -> None:
        await asyncio.sleep(60)
"""


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """Cron jobs do not depend on the database: SQLite only."""
    path = tmp_path / "overworld.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def with_code(settings: Settings, folder: Path, files: dict[str, str], **changes: object) -> Settings:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(textwrap.dedent(text))
    return msgspec.structs.replace(settings, runtime_path=str(folder), **changes)


async def test_a_modules_cron_job_runs_with_its_context_and_failures_are_logged(settings, tmp_path):
    settings = with_code(
        settings, tmp_path / "code", {"jobs.py": JOBS}, runtime_timeout_ms=300, node_name="node-x"
    )
    with capture_logs() as logs:
        node = await Node.start(settings)
        try:
            title = node.default_title
            assert node.scheduler.names() == [f"{title.id}:{n}" for n in ("broken", "slow", "tick")]
            nk = ServerApi(node.runtime, title, "tests")

            async def ticks() -> list:
                return (await nk.storage_list("ticks")).objects

            deadline = time.monotonic() + WAIT_SEC
            while not (page := await ticks()):
                assert time.monotonic() < deadline, "the cron job did not run"
                await asyncio.sleep(0.1)

            def seen(event: str, name: str) -> bool:
                return any(e["event"] == event and e.get("name") == name for e in logs)

            await until(lambda: seen("cron job failed", "broken"), "the failing job's log")
            await until(lambda: seen("cron job timed out", "slow"), "the slow job's time limit")
            # Each title gets its own jobs, named after it.
            other = await node.titles.create(unique("other"))
            assert f"{other.id}:tick" in node.scheduler.names()
        finally:
            await node.close()
    obj = page[0]
    assert int(obj.key) % 1000 == 0
    assert msgspec.json.decode(obj.value) == {
        "job": "tick",
        "title": title.name,
        "title_id": title.id,
        "node": "node-x",
        "nk_title": title.name,
        "nk_module": "jobs",
    }
    failure = next(e for e in logs if e["event"] == "cron job failed")
    assert failure["module"] == "jobs" and failure["title"] == title.name
    assert failure["log_level"] == "error"


async def test_the_example_season_job_starts_one_season_per_scheduled_time(settings, tmp_path):
    folder = tmp_path / "examples"
    shutil.copytree(ROOT / "examples" / "runtime", folder, ignore=shutil.ignore_patterns("__pycache__"))
    node = await Node.start(msgspec.structs.replace(settings, runtime_path=str(folder)))
    try:
        title = node.default_title
        job = node.scheduler._jobs[f"{title.id}:new_season"]  # what the scheduler runs on Mondays
        assert job.cron.expression == "0 0 * * MON"
        nk = ServerApi(node.runtime, title, "tests")

        async def season() -> dict:
            [current] = await nk.storage_read([{"collection": "seasons", "key": "current"}])
            assert current.permission_read == 2
            return dict(msgspec.json.decode(current.value))

        monday = job.cron.next_after(now_ms())
        await job.fn(monday)
        assert await season() == {"number": 1, "started": monday}
        await job.fn(monday)  # the same time again changes nothing
        assert await season() == {"number": 1, "started": monday}
        next_monday = job.cron.next_after(monday)
        await job.fn(next_monday)
        assert await season() == {"number": 2, "started": next_monday}
    finally:
        await node.close()


async def test_a_bad_cron_expression_stops_the_start_naming_job_and_expression(settings, tmp_path):
    bad = with_code(
        settings,
        tmp_path / "code",
        {
            "reset.py": """
                def init(ctx, nk, initializer):
                    initializer.register_cron("weekly_reset", "0 0 * * 8", lambda job, nk: None)
            """
        },
    )
    with pytest.raises(RuntimeLoadError) as failure:
        await Node.start(bad)
    message = str(failure.value)
    assert "reset.py, line 3, in init" in message
    assert "cron job 'weekly_reset': invalid cron expression '0 0 * * 8'" in message
    shutil.rmtree(tmp_path / "code")
    twice = with_code(
        settings,
        tmp_path / "code",
        {
            "twice.py": """
                def init(ctx, nk, initializer):
                    initializer.register_cron("job", "@hourly", lambda job, nk: None)
                    initializer.register_cron("job", "@daily", lambda job, nk: None)
            """
        },
    )
    with pytest.raises(RuntimeLoadError, match="cron job 'job' is already registered by module 'twice'"):
        await Node.start(twice)


# -- a cluster: two server processes ------------------------------------------------------------

TICKS = """
import uuid


def init(ctx, nk, initializer):
    @initializer.cron("tick", "* * * * * *")
    async def tick(job, nk):
        # A new key for every run: a fire time run twice would leave two objects.
        key = f"{job.scheduled_time}-{uuid.uuid4().hex}"
        await nk.storage_write([{"collection": "ticks", "key": key, "value": {"node": job.node}}])
"""


@pytest.mark.cluster
def test_a_cron_job_runs_once_per_fire_time_across_two_server_processes(tmp_path):
    if not PG_URL or not REDIS_URL:
        pytest.skip("cluster tests need OVERWORLD_TEST_DATABASE_URL and OVERWORLD_TEST_REDIS_URL")
    code = tmp_path / "code"
    code.mkdir()
    (code / "ticks.py").write_text(TICKS)
    url = run(create_pg_database(PG_URL))
    env = {
        "OVERWORLD_DATABASE_URL": url,
        "OVERWORLD_REDIS_URL": REDIS_URL,
        "OVERWORLD_REDIS_PREFIX": unique("owtest"),
        "OVERWORLD_DATA_DIR": str(tmp_path / "data"),
        "OVERWORLD_LOG_LEVEL": "warning",
        "OVERWORLD_RUNTIME_PATH": str(code),
    }
    try:
        with (
            running_server({**env, "OVERWORLD_NODE_NAME": "a"}, tmp_path),
            running_server({**env, "OVERWORLD_NODE_NAME": "b"}, tmp_path),
        ):
            both_up = now_ms()
            deadline = time.monotonic() + WAIT_SEC
            while len({t for t, _ in run(fire_times(url)) if t > both_up}) < 4:
                assert time.monotonic() < deadline, "the cron job did not run four times"
                time.sleep(0.2)
        runs = run(fire_times(url))
    finally:
        run(drop_pg_database(PG_URL, url))
    per_time = collections.Counter(t for t, _ in runs)
    assert set(per_time.values()) == {1}, sorted(per_time.items())
    assert {node for _, node in runs} <= {"a", "b"}


async def fire_times(url: str) -> list[tuple[int, str]]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT key, value FROM storage_objects WHERE collection = 'ticks'")
    finally:
        await conn.close()
    return [(int(r["key"].split("-")[0]), msgspec.json.decode(r["value"])["node"]) for r in rows]

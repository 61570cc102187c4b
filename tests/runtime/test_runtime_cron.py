"""Cron jobs of server code. (The scheduler itself, embedded and on Redis, and cron expressions:
tests/subsystems/test_scheduler_contract.py.)

Jobs here use six-field expressions (seconds first), so `* * * * * *` fires every second and a
test waits a second or two for a firing rather than a minute.
"""

from __future__ import annotations

import asyncio
import collections
import shutil
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from structlog.testing import capture_logs

from overworld.clock import now_ms
from overworld.config import Settings
from overworld.node import Node
from overworld.runtime import RuntimeLoadError, ServerApi
from tests.support import (
    PG_URL,
    REDIS_URL,
    ROOT,
    create_pg_database,
    drop_pg_database,
    redis_prefix,
    run,
    running_server,
    title_jobs,
    unique,
)

pytestmark = pytest.mark.anyio
WAIT_SEC = 15  # upper bound for things expected within a few seconds


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SEC
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        await asyncio.sleep(0.05)


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
            assert title_jobs(node, title.id) == [f"{title.id}:{n}" for n in ("broken", "slow", "tick")]
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
        "OVERWORLD_REDIS_PREFIX": redis_prefix("owtest"),
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

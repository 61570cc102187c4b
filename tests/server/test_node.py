"""The node's life cycle: a start that fails part-way closes what it opened; a close in which one
step fails still runs every other step."""

from __future__ import annotations

import asyncio
import sqlite3

import msgspec
import pytest

from overworld.config import Settings, load_settings
from overworld.matches.service import MatchService
from overworld.node import Node, NodeIdentity
from overworld.runtime import RuntimeLoadError

pytestmark = pytest.mark.anyio


def _others() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def _settle(before: set[asyncio.Task[object]]) -> set[asyncio.Task[object]]:
    """Tasks started since `before` that are still running once cancelled ones have finished."""
    for _ in range(20):
        await asyncio.sleep(0.01)
        left = {t for t in _others() - before if not t.done()}
        if not left:
            return left
    return left


async def test_a_failed_start_closes_what_it_had_opened(tmp_path, settings: Settings):
    # Server code fails to load after the database, pub/sub, revocations and leaderboards (each
    # with background tasks) have started: all of it must be closed again.
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "broken.py").write_text("def init(ctx, nk, initializer):\n    raise ValueError('no')\n")
    before = _others()
    with pytest.raises(RuntimeLoadError, match=r"broken\.py"):
        await Node.start(msgspec.structs.replace(settings, runtime_path=str(folder)))
    assert await _settle(before) == set()


async def test_one_failing_step_of_close_does_not_skip_the_others(settings: Settings, monkeypatch):
    async def broken_close(self: MatchService, grace_sec: int = 0) -> None:
        raise RuntimeError("match service refused to close")

    monkeypatch.setattr(MatchService, "close", broken_close)
    before = _others()
    node = await Node.start(settings)
    with pytest.raises(RuntimeError, match="refused to close"):
        await node.close()
    # Everything started before and after the matches was stopped all the same: only the match
    # service's own tasks are left.
    left = await _settle(before)
    assert left and {t.get_name().split("-")[0] for t in left} == {"match"}
    for task in left:
        task.cancel()
    if node.db.dialect == "sqlite":
        with pytest.raises(sqlite3.ProgrammingError):
            await node.db.fetchval("SELECT 1")
    else:
        with pytest.raises(Exception, match=r"closed|closing"):
            await node.db.fetchval("SELECT 1")


def test_the_node_identity_is_computed_once_and_unique_per_process_start():
    named = load_settings(environ={}, overrides={"node_name": "eu.west-1"})
    first, second = NodeIdentity.of(named), NodeIdentity.of(named)
    assert first.name == second.name == "eu.west-1"
    assert first.id != second.id
    assert first.id.startswith("eu_west-1-") and "." not in first.id


async def test_close_runs_newest_first_so_nothing_is_used_after_it_closed(settings: Settings, monkeypatch):
    # The leaderboards' background resets run server-code hooks: they must end before the runtime
    # (server modules, its HTTP client) closes; matches close before the hub, the hub before pub/sub.
    from overworld.leaderboards.service import LeaderboardService
    from overworld.realtime.hub import Hub
    from overworld.runtime.runtime import Runtime
    from overworld.subsystems.pubsub.embedded import EmbeddedPubSub

    closed: list[str] = []
    for name, cls in (
        ("leaderboards", LeaderboardService), ("runtime", Runtime), ("matches", MatchService),
        ("hub", Hub), ("pubsub", EmbeddedPubSub),
    ):  # fmt: skip
        original = cls.close

        async def recorded(self: object, *args: object, _name: str = name, _close: object = original) -> None:
            closed.append(_name)
            await _close(self, *args)  # type: ignore[operator]

        monkeypatch.setattr(cls, "close", recorded)
    node = await Node.start(settings)
    await node.close()
    assert sorted(closed) == ["hub", "leaderboards", "matches", "pubsub", "runtime"]
    assert closed.index("matches") < closed.index("hub") < closed.index("pubsub")
    assert closed.index("leaderboards") < closed.index("runtime")

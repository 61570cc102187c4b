"""The first-page cache of leaderboard listings and after hooks that change a response per caller:
one caller's changed response never reaches the cache or another caller."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from overworld.config import Settings
from overworld.runtime import ServerApi
from tests.leaderboards.test_leaderboards_fastpath import _uid, both  # noqa: F401 - the fixture
from tests.support import bearer, unique

pytestmark = pytest.mark.anyio

HOOK = """
def init(ctx, nk, initializer):
    def only_own_metadata(ctx, request, response):
        for record in response.records:
            if record.owner_id != ctx.user_id:
                record.metadata = "{}"
    initializer.register_after("ListLeaderboardRecords", only_own_metadata)
"""


@pytest.fixture
def settings(settings: Settings, tmp_path) -> Settings:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "hooks.py").write_text(HOOK)
    return msgspec.structs.replace(settings, runtime_path=str(folder))


async def test_an_after_hook_changing_a_cached_page_changes_only_its_callers_response(both, node, api):  # noqa: F811
    fast, slow = both
    board = unique("lb")
    assert await ServerApi(node.runtime, node.default_title, "tests").leaderboard_create(board)
    a, b = await api.device(), await api.device()
    for session, score, meta in ((a, 10, '{"a":1}'), (b, 7, '{"b":2}')):
        reply = await fast.post(
            f"/v2/leaderboard/{board}",
            json={"score": score, "metadata": meta},
            headers=bearer(session["token"]),
        )
        assert reply.status_code == 200
    # The cache is the service's: the fast path and the framework's route fill and read the same.
    for client in (fast, slow, fast, slow):  # the first listing fills the cache, the rest read it
        for session, meta in ((a, '{"a":1}'), (b, '{"b":2}')):
            page = await client.get(
                f"/v2/leaderboard/{board}", params={"limit": "10"}, headers=bearer(session["token"])
            )
            seen = {r["owner_id"]: r.get("metadata") for r in page.json()["records"]}
            others = {owner: m for owner, m in seen.items() if owner != _uid(session)}
            assert seen[_uid(session)] == meta and set(others.values()) == {"{}"}
    cached = [key for key in node.leaderboards.top_pages if key[:2] == (node.default_title.id, board)]
    assert len(cached) == 1


async def test_the_route_serves_first_pages_from_the_cache(both, node, api):  # noqa: F811
    """Without the fast path, the framework's route answers first pages from the service's cache
    too: a page read while nothing changed is not read again."""
    _, slow = both
    board = unique("lb")
    assert await ServerApi(node.runtime, node.default_title, "tests").leaderboard_create(board)
    me = await api.device()
    auth = bearer(me["token"])
    assert (await slow.post(f"/v2/leaderboard/{board}", json={"score": 3}, headers=auth)).status_code == 200
    reads = 0
    list_records = node.leaderboards.list_records

    async def counted(*args, **kwargs):
        nonlocal reads
        reads += 1
        return await list_records(*args, **kwargs)

    node.leaderboards.list_records = counted

    async def top() -> list[str]:
        page = (await slow.get(f"/v2/leaderboard/{board}", params={"limit": "5"}, headers=auth)).json()
        return [r["score"] for r in page["records"]]

    try:
        # The write's own announcement may still change the board's version once: read until a
        # page is cached, then every listing comes from the cache.
        for _ in range(50):
            before = reads
            assert await top() == ["3"]
            if reads == before:
                break
            await asyncio.sleep(0.01)
        before = reads
        assert [await top() for _ in range(3)] == [["3"]] * 3 and reads == before
        assert (
            await slow.post(f"/v2/leaderboard/{board}", json={"score": 4}, headers=auth)
        ).status_code == 200
        assert await top() == ["4"] and reads == before + 1  # the write dropped the cached page
    finally:
        del node.leaderboards.list_records

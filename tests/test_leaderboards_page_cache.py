"""The first-page cache of leaderboard listings and after hooks that change a response per caller:
one caller's changed response never reaches the cache or another caller."""

from __future__ import annotations

import msgspec
import pytest

from overworld.config import Settings
from overworld.runtime import ServerApi
from tests.support import bearer, unique
from tests.test_leaderboards_fastpath import _uid, both  # noqa: F401 - the fixture

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
    fast, _ = both
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
    for _ in range(2):  # the first listing fills the cache, the second is served from it
        for session, meta in ((a, '{"a":1}'), (b, '{"b":2}')):
            page = await fast.get(
                f"/v2/leaderboard/{board}", params={"limit": "10"}, headers=bearer(session["token"])
            )
            seen = {r["owner_id"]: r.get("metadata") for r in page.json()["records"]}
            others = {owner: m for owner, m in seen.items() if owner != _uid(session)}
            assert seen[_uid(session)] == meta and set(others.values()) == {"{}"}

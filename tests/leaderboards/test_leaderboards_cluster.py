"""Two server processes sharing PostgreSQL and Redis: one rank index for both."""

from __future__ import annotations

import httpx
import pytest

from tests.support import (
    PG_URL,
    REDIS_URL,
    basic,
    bearer,
    create_pg_database,
    drop_pg_database,
    redis_prefix,
    run,
    running_server,
    unique,
)

pytestmark = pytest.mark.cluster

MODULE = """
async def init(ctx, nk, initializer):
    await nk.leaderboard_create("season", sort_order="desc", operator="best", reset_schedule="0 0 1 * *")
"""


@pytest.fixture
def cluster_env(tmp_path):
    if not PG_URL or not REDIS_URL:
        pytest.skip("cluster tests need OVERWORLD_TEST_DATABASE_URL and OVERWORLD_TEST_REDIS_URL")
    url = run(create_pg_database(PG_URL))
    code = tmp_path / "modules"
    code.mkdir()
    (code / "boards.py").write_text(MODULE)
    yield {
        "OVERWORLD_DATABASE_URL": url,
        "OVERWORLD_REDIS_URL": REDIS_URL,
        "OVERWORLD_REDIS_PREFIX": redis_prefix("owtest"),
        "OVERWORLD_DATA_DIR": str(tmp_path / "data"),
        "OVERWORLD_LOG_LEVEL": "warning",
        "OVERWORLD_RUNTIME_PATH": str(code),
    }
    run(drop_pg_database(PG_URL, url))


def session(node) -> tuple[str, dict[str, str]]:
    body = httpx.post(
        node.url + "/v2/account/authenticate/device",
        json={"id": unique("device-")},
        headers=basic("defaultkey"),
    ).json()
    account = httpx.get(node.url + "/v2/account", headers=bearer(body["token"])).json()
    return account["user"]["id"], bearer(body["token"])


def test_a_record_written_on_one_node_ranks_on_the_other(cluster_env, tmp_path):
    with running_server(cluster_env, tmp_path) as a, running_server(cluster_env, tmp_path) as b:
        people = [session(a if i % 2 else b) for i in range(4)]
        for i, (_, headers) in enumerate(people):
            node = a if i % 2 else b
            written = httpx.post(node.url + "/v2/leaderboard/season", json={"score": 10 * i}, headers=headers)
            assert written.status_code == 200, written.text
            assert written.json()["rank"] == "1"  # each new score is the best so far, on either node
        newcomer_id, newcomer = session(a)
        record = httpx.post(a.url + "/v2/leaderboard/season", json={"score": 15}, headers=newcomer).json()
        assert record["rank"] == "3"
        # Node B sees node A's write at once: the rank index is shared.
        page = httpx.get(
            b.url + "/v2/leaderboard/season", params={"owner_ids": newcomer_id}, headers=people[0][1]
        ).json()
        assert page["owner_records"][0]["rank"] == "3" and page["rank_count"] == "5"
        around = httpx.get(
            b.url + f"/v2/leaderboard/season/owner/{newcomer_id}", params={"limit": 3}, headers=people[0][1]
        ).json()
        assert [r["score"] for r in around["records"]] == ["20", "15", "10"]
        assert [r["rank"] for r in around["records"]] == ["2", "3", "4"]
    # A restarted node keeps the shared index (built once, not rebuilt).
    with running_server(cluster_env, tmp_path) as c:
        page = httpx.get(c.url + "/v2/leaderboard/season", params={"limit": 5}, headers=people[0][1]).json()
        assert [r["rank"] for r in page["records"]] == ["1", "2", "3", "4", "5"]
        assert page["rank_count"] == "5"

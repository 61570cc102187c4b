"""Tournaments: creation from server code, listing with filters, joins, windows, size and attempt
limits, records, and the end and reset hooks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from overworld.errors import InvalidArgument
from overworld.leaderboards.service import ResetHook
from overworld.node import Node
from overworld.runtime import ServerApi
from tests.leaderboards.test_leaderboards import players
from tests.support import bearer, unique

pytestmark = pytest.mark.anyio


@pytest.fixture
def nk(node: Node) -> ServerApi:
    return ServerApi(node.runtime, node.default_title, "tests")


async def twrite(client, tid: str, who: dict, status: int = 200, method: str = "PUT", **record: Any) -> dict:
    response = await client.request(
        method, f"/v2/tournament/{tid}", json=record, headers=bearer(who["token"])
    )
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


async def join(client, tid: str, who: dict, status: int = 200) -> dict:
    response = await client.post(f"/v2/tournament/{tid}/join", headers=bearer(who["token"]))
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_listing_by_category_and_the_computed_window(client, api, nk):
    now = int(time.time())
    a, b, c = unique("t"), unique("t"), unique("t")
    # Started two days ago, so its window is today's whatever the time of day (created now, during
    # the first hour after midnight its window would open at its start time instead).
    await nk.tournament_create(a, title="Daily", category=3, duration=3600, reset_schedule="0 0 * * *",
                               max_size=10, metadata={"prize": 5}, start_time=now - 2 * 86400)  # fmt: skip
    await nk.tournament_create(b, category=4, duration=60, start_time=now + 3600)
    await nk.tournament_create(c, category=90, duration=60)
    (me,) = await players(api, 1)
    listed = await client.get("/v2/tournament", params={"category_start": 3, "category_end": 4},
                              headers=bearer(me["token"]))  # fmt: skip
    assert listed.status_code == 200, listed.text
    found = {t["id"]: t for t in listed.json()["tournaments"]}
    assert set(found) >= {a, b} and c not in found
    daily = found[a]
    assert daily["title"] == "Daily" and daily["category"] == 3 and daily["duration"] == 3600
    assert daily["sort_order"] == 1 and daily["operator"] == 1 and daily["max_size"] == 10
    assert daily["start_active"] % 86400 == 0 and daily["next_reset"] == daily["start_active"] + 86400
    assert daily["end_active"] == daily["start_active"] + 3600
    assert daily.get("can_enter", False) == (daily["start_active"] <= now < daily["end_active"])
    assert "size" not in daily and daily["max_num_score"] == 1_000_000
    later = found[b]
    assert not later.get("can_enter") and later["start_active"] == now + 3600
    assert later["start_time"].endswith("Z") and "end_time" not in later
    paged = await client.get("/v2/tournament", params={"category_start": 3, "category_end": 4, "limit": 1},
                             headers=bearer(me["token"]))  # fmt: skip
    first = paged.json()
    assert len(first["tournaments"]) == 1 and first["cursor"]
    rest = await client.get("/v2/tournament", params={"category_start": 3, "category_end": 4, "limit": 1,
                                                      "cursor": first["cursor"]}, headers=bearer(me["token"]))  # fmt: skip
    assert rest.json()["tournaments"][0]["id"] != first["tournaments"][0]["id"]
    bad = await client.get("/v2/tournament", params={"category_start": 5, "category_end": 2},
                           headers=bearer(me["token"]))  # fmt: skip
    assert bad.status_code == 400


async def test_joins_attempts_and_size(client, api, nk):
    tid = unique("t")
    await nk.tournament_create(tid, duration=3600, join_required=True, max_num_score=2, max_size=2)
    a, b, c = await players(api, 3)
    refused = await twrite(client, tid, a, status=400, score=1)
    assert (
        refused["code"] == 9
        and refused["message"] == "Must join tournament before attempting to write value."
    )
    await join(client, tid, a)
    await join(client, tid, a)  # joining twice is fine and counts once
    first = await twrite(client, tid, a, score=5)
    assert first["score"] == "5" and first["rank"] == "1" and first["num_score"] == 1
    second = await twrite(client, tid, a, method="POST", score=3)  # not better: still an attempt
    assert second["score"] == "5" and second["num_score"] == 2
    exhausted = await twrite(client, tid, a, status=400, score=9)
    assert exhausted["code"] == 9 and exhausted["message"] == "Reached allowed max number of score attempts."
    await join(client, tid, b)
    full = await join(client, tid, c, status=400)
    assert full["message"] == "Tournament cannot be joined as it has reached its max size."
    # Server code may grant more attempts.
    await nk.tournament_add_attempt(tid, a["id"], 1)
    assert (await twrite(client, tid, a, score=9))["score"] == "9"
    records = await client.get(f"/v2/tournament/{tid}", params={"limit": 10}, headers=bearer(b["token"]))
    assert [(r["owner_id"], r["rank"]) for r in records.json()["records"]] == [(a["id"], "1"), (b["id"], "2")]
    listed = await client.get("/v2/tournament", params={"category_start": 0, "category_end": 0},
                              headers=bearer(a["token"]))  # fmt: skip
    mine = next(t for t in listed.json()["tournaments"] if t["id"] == tid)
    assert mine["size"] == 2 and not mine.get("can_enter") and mine["join_required"]


async def test_size_limit_without_joins(client, api, nk):
    tid = unique("t")
    await nk.tournament_create(tid, duration=3600, max_size=1)
    a, b = await players(api, 2)
    await twrite(client, tid, a, score=1)
    await twrite(client, tid, a, score=2)  # an owner already in does not grow the size
    full = await twrite(client, tid, b, status=400, score=1)
    assert full["code"] == 9 and full["message"] == "Tournament has reached max size."
    records = await client.get(f"/v2/tournament/{tid}", params={"limit": 10}, headers=bearer(b["token"]))
    assert [r["owner_id"] for r in records.json()["records"]] == [a["id"]]


async def test_windows_are_enforced(client, api, nk):
    now = int(time.time())
    future, ended, auth = unique("t"), unique("t"), unique("t")
    await nk.tournament_create(future, duration=60, start_time=now + 600)
    await nk.tournament_create(ended, duration=60, start_time=now - 100, end_time=now - 10)
    await nk.tournament_create(auth, duration=60, authoritative=True)
    (me,) = await players(api, 1)
    early = await twrite(client, future, me, status=400, score=1)
    assert early["message"] == "Tournament is not active and cannot accept new scores."
    over = await twrite(client, ended, me, status=404, score=1)
    assert over["message"] == "Tournament not found or has ended."
    gone = await client.get(f"/v2/tournament/{ended}", headers=bearer(me["token"]))
    assert gone.status_code == 404 and gone.json()["message"] == "Tournament has ended."
    assert (await twrite(client, auth, me, status=403, score=1))["code"] == 7
    record = await nk.tournament_record_write(auth, me["id"], score=4)
    assert record.rank == 1
    around = await client.get(f"/v2/tournament/{auth}/owner/{me['id']}", headers=bearer(me["token"]))
    assert [r["score"] for r in around.json()["records"]] == ["4"]
    missing = await twrite(client, unique("t"), me, status=404, score=1)
    assert missing["message"] == "Tournament not found."
    with pytest.raises(InvalidArgument, match="duration"):
        await nk.tournament_create(unique("t"), duration=0)
    with pytest.raises(InvalidArgument, match="category"):
        await nk.tournament_create(unique("t"), duration=5, category=128)
    with pytest.raises(InvalidArgument, match="endTime"):
        await nk.tournament_create(unique("t"), duration=5, start_time=now, end_time=now - 1)
    board = unique("lb")
    await nk.leaderboard_create(board)
    with pytest.raises(InvalidArgument, match="already in use"):
        await nk.tournament_create(board, duration=5)


async def test_end_and_reset_hooks_get_the_final_standings(client, api, nk, node):
    seen: asyncio.Queue[tuple[str, int, int, list[Any]]] = asyncio.Queue()
    for kind in ("tournament_end", "tournament_reset"):
        node.leaderboards.reset_hooks[(node.default_title.id, kind)] = ResetHook(
            lambda ctx, t, end, reset, standings, kind=kind: seen.put_nowait((kind, end, reset, standings)),
            "tests",
            5,
        )
    tid = unique("t")
    # A window opens every 4 seconds and stays open 2 seconds.
    await nk.tournament_create(tid, duration=2, reset_schedule="*/4 * * * * *")
    (me,) = await players(api, 1)
    while True:
        response = await client.put(f"/v2/tournament/{tid}", json={"score": 7}, headers=bearer(me["token"]))
        if response.status_code == 200:
            break
        assert response.json()["code"] == 9  # between windows: wait for the next
        await asyncio.sleep(0.2)
    events: dict[str, tuple[int, int, list[Any]]] = {}
    while len(events) < 2:
        kind, end, reset, standings = await asyncio.wait_for(seen.get(), timeout=15)
        if standings:
            events[kind] = (end, reset, standings)
    end, reset, standings = events["tournament_end"]
    assert reset - end == 2 and [(r.owner_id, r.score, r.rank) for r in standings] == [(me["id"], 7, 1)]
    assert events["tournament_reset"][1] == reset
    periods = await client.get(f"/v2/tournament/{tid}/periods", headers=bearer(me["token"]))
    assert str(reset) in [p["expiry"] for p in periods.json()["periods"]]
    archived = await client.get(f"/v2/tournament/{tid}", params={"expiry": reset, "limit": 5},
                                headers=bearer(me["token"]))  # fmt: skip
    assert [(r["score"], r["rank"]) for r in archived.json()["records"]] == [("7", "1")]

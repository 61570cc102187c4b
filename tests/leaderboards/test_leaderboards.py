"""Leaderboards over REST and from server code, on SQLite and PostgreSQL: order and ties, operators,
authoritative boards, limits and errors, cursors, records around an owner, resets with archives
and hooks, account deletion."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

import pytest

from overworld.clock import rfc3339
from overworld.errors import InvalidArgument, NotFound
from overworld.leaderboards.models import INT64_MAX
from overworld.leaderboards.service import ResetHook
from overworld.node import Node
from overworld.runtime import ServerApi
from tests.conftest import Api
from tests.support import bearer, unique

pytestmark = pytest.mark.anyio


@pytest.fixture
def nk(node: Node) -> ServerApi:
    return ServerApi(node.runtime, node.default_title, "tests")


async def players(api: Api, n: int) -> list[dict[str, Any]]:
    sessions = [await api.device() for _ in range(n)]
    for s in sessions:
        s["id"] = json.loads(base64.urlsafe_b64decode(s["token"].split(".")[1] + "=="))["uid"]
    return sessions


async def write(client, board: str, who: dict, status: int = 200, **record: Any) -> dict:
    response = await client.post(f"/v2/leaderboard/{board}", json=record, headers=bearer(who["token"]))
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


async def listing(client, board: str, who: dict, status: int = 200, **params: Any) -> dict:
    response = await client.get(f"/v2/leaderboard/{board}", params=params, headers=bearer(who["token"]))
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def nakama_order(records: dict[str, tuple[int, int]], descending: bool) -> list[str]:
    return sorted(records, key=lambda o: (records[o][0], records[o][1], o), reverse=descending)


@pytest.mark.parametrize("order", ["desc", "asc"])
async def test_records_rank_by_score_subscore_then_owner_as_nakama(client, api, nk, order):
    board = unique("lb")
    assert await nk.leaderboard_create(board, sort_order=order, operator="set")
    people = await players(api, 7)
    scores = [(5, 1), (9, 0), (5, 1), (5, 2), (0, 0), (9, 0), (7, 3)]  # ties on purpose
    expected = {p["id"]: s for p, s in zip(people, scores, strict=True)}
    for p, (score, subscore) in zip(people, scores, strict=True):
        await write(client, board, p, score=score, subscore=subscore)
    order_ids = nakama_order(expected, order == "desc")
    page = await listing(client, board, people[0], limit=100)
    assert [r["owner_id"] for r in page["records"]] == order_ids
    assert [r["rank"] for r in page["records"]] == [str(i) for i in range(1, 8)]
    assert page["rank_count"] == "7"
    # The rank a write returns is the rank in that order.
    again = await write(client, board, people[3], score=5, subscore=2)
    assert again["rank"] == str(order_ids.index(people[3]["id"]) + 1)


async def test_wire_format_matches_nakama(client, api, nk):
    board = unique("lb")
    await nk.leaderboard_create(board, reset_schedule="0 0 * * 1")
    (me,) = await players(api, 1)
    record = await write(client, board, me, score="42", metadata='{"car": "red"}')
    assert record["score"] == "42" and record["rank"] == "1" and record["num_score"] == 1
    assert "subscore" not in record  # zero values are left out
    assert record["owner_id"] == me["id"] and record["username"]
    assert record["max_num_score"] == 1_000_000
    assert record["expiry_time"].endswith(":00:00Z") and record["create_time"].endswith("Z")
    assert "." not in record["create_time"]  # whole seconds, as Nakama
    assert json.loads(record["metadata"]) == {"car": "red"}


async def test_operators(client, api, nk):
    (me,) = await players(api, 1)
    boards = {}
    for op in ("best", "set", "incr", "decr"):
        boards[op] = unique("lb")
        await nk.leaderboard_create(boards[op], operator=op)
    for op, writes, expected in [
        ("best", [(10, 5), (8, 9), (12, 1)], ("12", "9")),  # per field, as Nakama
        ("set", [(10, 5), (3, 1)], ("3", "1")),
        ("incr", [(10, 5), (3, 1)], ("13", "6")),
        ("decr", [(10, 5), (3, 1), (4, 0)], ("", "")),  # starts at 0 and never goes below
    ]:
        for score, subscore in writes:
            last = await write(client, boards[op], me, score=score, subscore=subscore)
        assert (last.get("score", ""), last.get("subscore", "")) == expected, op
    # A decrement board below zero stays at zero; an increment then a decrement by override.
    await write(client, boards["incr"], me, score=5, operator="DECREMENT")
    r = await write(client, boards["incr"], me, score=1, operator=4)
    assert r["score"] == "7"
    # A BEST write that is not better changes nothing, not even num_score.
    before = await write(client, boards["best"], me, score=1)
    assert before["num_score"] == 3 and before["score"] == "12"


async def test_authoritative_boards_refuse_clients_but_not_server_code(client, api, nk):
    board = unique("lb")
    await nk.leaderboard_create(board, authoritative=True)
    (me,) = await players(api, 1)
    refused = await write(client, board, me, status=403, score=1)
    assert refused == {
        "error": "Leaderboard only allows authoritative score submissions.",
        "code": 7,
        "message": "Leaderboard only allows authoritative score submissions.",
    }
    record = await nk.leaderboard_record_write(board, me["id"], "someone", 77)
    assert record.score == 77 and record.rank == 1
    denied = await client.delete(f"/v2/leaderboard/{board}", headers=bearer(me["token"]))
    assert denied.status_code == 403
    page = await listing(client, board, me, limit=10)
    assert [r["score"] for r in page["records"]] == ["77"]


async def test_bad_writes_are_clear_errors_and_change_nothing(client, api, nk):
    board = unique("lb")
    await nk.leaderboard_create(board, operator="incr")
    (me,) = await players(api, 1)
    await write(client, board, me, score=INT64_MAX - 5)
    overflow = await write(client, board, me, status=400, score=6)
    assert overflow["code"] == 3 and "overflow" in overflow["message"]
    assert (await write(client, board, me, status=400, score=-1))["code"] == 3
    assert (await write(client, board, me, status=400, score=1, operator=9))["code"] == 3
    assert (await write(client, board, me, status=400, score=1, operator="MAX"))["code"] == 3
    bad_json = await write(client, board, me, status=400, score=1, metadata="[1, 2]")
    assert bad_json["message"] == "Metadata value must be JSON, if provided."
    huge = await write(client, board, me, status=400, score=1, metadata=json.dumps({"x": "y" * 20_000}))
    assert "too large" in huge["message"]
    page = await listing(client, board, me, owner_ids=[me["id"]])
    mine = page["owner_records"][0]
    assert mine["score"] == str(INT64_MAX - 5) and mine["num_score"] == 1
    missing = await write(client, unique("nope"), me, status=404, score=1)
    assert missing["message"] == "Leaderboard not found."


async def test_cursors_page_forward_and_back(client, api, nk):
    board = unique("lb")
    await nk.leaderboard_create(board)
    people = await players(api, 7)
    for i, p in enumerate(people):
        await write(client, board, p, score=i * 3 % 7)
    everyone = await listing(client, board, people[0], limit=100)
    ids = [r["owner_id"] for r in everyone["records"]]
    first = await listing(client, board, people[0], limit=3)
    assert "prev_cursor" not in first
    second = await listing(client, board, people[0], limit=3, cursor=first["next_cursor"])
    third = await listing(client, board, people[0], limit=3, cursor=second["next_cursor"])
    assert "next_cursor" not in third
    got = [r["owner_id"] for page in (first, second, third) for r in page["records"]]
    assert got == ids
    assert [r["rank"] for r in third["records"]] == ["7"]
    back = await listing(client, board, people[0], limit=3, cursor=third["prev_cursor"])
    assert back["records"] == second["records"]
    assert (await listing(client, board, people[0], status=400, limit=3, cursor="garbage"))["code"] == 3
    other = unique("lb")
    await nk.leaderboard_create(other)
    wrong_board = await listing(client, other, people[0], status=400, limit=3, cursor=first["next_cursor"])
    assert wrong_board["message"] == "Cursor is invalid or expired."
    assert (await listing(client, board, people[0], status=400, limit=1001))["code"] == 3


async def test_owner_records_and_records_around_an_owner(client, api, nk):
    board = unique("lb")
    await nk.leaderboard_create(board)
    people = await players(api, 9)
    for i, p in enumerate(people):
        await write(client, board, p, score=100 - i)  # people[i] has rank i + 1
    page = await listing(client, board, people[0], owner_ids=[people[4]["id"], people[8]["id"]])
    assert "records" not in page
    assert [(r["owner_id"], r["rank"]) for r in page["owner_records"]] == [
        (people[4]["id"], "5"),
        (people[8]["id"], "9"),
    ]
    url = f"/v2/leaderboard/{board}/owner/{people[4]['id']}"
    around = (await client.get(url, params={"limit": 5}, headers=bearer(people[0]["token"]))).json()
    assert [r["rank"] for r in around["records"]] == ["3", "4", "5", "6", "7"]
    assert around["prev_cursor"] and around["next_cursor"]
    top = f"/v2/leaderboard/{board}/owner/{people[0]['id']}"
    near_top = (await client.get(top, params={"limit": 4}, headers=bearer(people[0]["token"]))).json()
    assert [r["rank"] for r in near_top["records"]] == ["1", "2", "3", "4"]
    bottom = f"/v2/leaderboard/{board}/owner/{people[8]['id']}"
    near_bottom = (await client.get(bottom, params={"limit": 3}, headers=bearer(people[0]["token"]))).json()
    assert [r["rank"] for r in near_bottom["records"]] == ["7", "8", "9"]
    nobody = f"/v2/leaderboard/{board}/owner/{uuid.uuid4()}"
    assert (await client.get(nobody, headers=bearer(people[0]["token"]))).json() == {}
    bad = await client.get(f"/v2/leaderboard/{board}/owner/not-a-uuid", headers=bearer(people[0]["token"]))
    assert bad.status_code == 400


async def test_deleting_a_record_and_an_account(client, api, nk, node):
    board = unique("lb")
    await nk.leaderboard_create(board)
    a, b = await players(api, 2)
    await write(client, board, a, score=10)
    await write(client, board, b, score=5)
    assert (await client.delete(f"/v2/leaderboard/{board}", headers=bearer(a["token"]))).status_code == 200
    page = await listing(client, board, b, limit=10)
    assert [(r["owner_id"], r["rank"]) for r in page["records"]] == [(b["id"], "1")]
    await write(client, board, a, score=1)
    assert (await client.delete("/v2/account", headers=bearer(b["token"]))).status_code == 200
    page = await listing(client, board, a, limit=10)
    assert [(r["owner_id"], r["rank"]) for r in page["records"]] == [(a["id"], "1")]
    assert page["rank_count"] == "1"


async def test_concurrent_writes_by_one_owner_keep_the_best(client, api, nk, node):
    board = unique("lb")
    await nk.leaderboard_create(board, operator="best")
    (me,) = await players(api, 1)
    scores = list(range(1, 41))
    await asyncio.gather(*[write(client, board, me, score=s) for s in reversed(scores)])
    page = await listing(client, board, me, owner_ids=[me["id"]])
    assert page["owner_records"][0]["score"] == "40"
    b = await node.leaderboards.board(node.default_title.id, board)
    assert b is not None
    entries = await node.leaderboards.ranks.range(
        f"{b.title_id}:{node.leaderboards.expiry_of(b, 0)}:{board}", True, 1, 5
    )
    assert [(e.owner_id, e.score) for e in entries] == [(me["id"], 40)]


async def test_server_functions(nk, api):
    board = unique("lb")
    assert await nk.leaderboard_create(board, sort_order="asc", metadata={"season": 1})
    assert not await nk.leaderboard_create(board, sort_order="desc")  # exists: kept as it was
    (got,) = await nk.leaderboards_get([board, "missing"])
    assert got.sort_order == 0 and json.loads(got.metadata) == {"season": 1}
    people = await players(api, 3)
    for i, p in enumerate(people):
        r = await nk.leaderboard_record_write(board, p["id"], f"p{i}", 10 * (i + 1), metadata={"i": i})
        assert r.rank == i + 1  # ascending: lower is better
    page = await nk.leaderboard_records_list(board, owner_ids=[people[2]["id"]], limit=2)
    assert [r.score for r in page.records] == [10, 20] and page.next_cursor
    assert page.owner_records[0].rank == 3
    around = await nk.leaderboard_records_haystack(board, people[1]["id"], limit=3)
    assert [r.rank for r in around.records] == [1, 2, 3]
    await nk.leaderboard_record_delete(board, people[0]["id"])
    page = await nk.leaderboard_records_list(board, limit=10)
    assert [(r.username, r.rank) for r in page.records] == [("p1", 1), ("p2", 2)]
    with pytest.raises(InvalidArgument, match="sort order"):
        await nk.leaderboard_create(unique("lb"), sort_order="sideways")
    with pytest.raises(InvalidArgument, match="operator"):
        await nk.leaderboard_create(unique("lb"), operator="max")
    with pytest.raises(InvalidArgument, match="CRON"):
        await nk.leaderboard_create(unique("lb"), reset_schedule="every tuesday")
    await nk.leaderboard_delete(board)
    with pytest.raises(NotFound):
        await nk.leaderboard_records_list(board, limit=10)


async def test_a_reset_archives_the_period_and_hands_the_standings_to_the_hook(
    client, api, nk, node, monkeypatch
):
    import overworld.leaderboards.service as service_module

    board = unique("lb")
    calls: list[tuple[Any, ...]] = []
    node.leaderboards.reset_hooks[(node.default_title.id, "leaderboard_reset")] = ResetHook(
        lambda ctx, lb, reset, standings: calls.append((ctx, lb, reset, standings)), "tests", 2
    )
    await nk.leaderboard_create(board, reset_schedule="0 * * * *")  # hourly
    assert f"leaderboard-reset:{node.default_title.id}:{board}" in node.scheduler.names()
    people = await players(api, 3)
    for i, p in enumerate(people):
        await write(client, board, p, score=i + 1)
    b = await node.leaderboards.board(node.default_title.id, board)
    assert b is not None
    expiry = node.leaderboards.expiry_of(b, service_module.now_ms())
    # The scheduler's job fires at the reset time: what it runs, run twice (two nodes).
    assert await node.leaderboards.close_period(b, expiry)
    assert not await node.leaderboards.close_period(b, expiry)
    assert len(calls) == 1
    ctx, closed, reset, standings = calls[0]
    assert ctx.title_id == node.default_title.id and closed.id == board and reset == expiry // 1000
    assert [(r.owner_id, r.rank, r.score) for r in standings] == [
        (people[2]["id"], 1, 3),
        (people[1]["id"], 2, 2),
    ]
    # After the reset time, the current period is empty and the closed one is listable.
    later = expiry + 1000
    monkeypatch.setattr(service_module, "now_ms", lambda: later)
    assert "records" not in await listing(client, board, people[0], limit=10)
    fresh = await write(client, board, people[0], score=1)
    assert fresh["rank"] == "1" and fresh["expiry_time"] != standings[0].expiry_time
    archived = await listing(
        client, board, people[0], limit=10, expiry=expiry // 1000, owner_ids=[people[0]["id"]]
    )
    assert [(r["score"], r["rank"]) for r in archived["records"]] == [("3", "1"), ("2", "2"), ("1", "3")]
    assert archived["owner_records"][0]["rank"] == "3" and archived["rank_count"] == "3"
    around = await client.get(
        f"/v2/leaderboard/{board}/owner/{people[1]['id']}",
        params={"limit": 3, "expiry": expiry // 1000},
        headers=bearer(people[0]["token"]),
    )
    assert [r["rank"] for r in around.json()["records"]] == ["1", "2", "3"]
    periods = (
        await client.get(f"/v2/leaderboard/{board}/periods", headers=bearer(people[0]["token"]))
    ).json()
    assert periods["periods"] == [
        {
            "leaderboard_id": board,
            "expiry": str(expiry // 1000),
            "expiry_time": periods["periods"][0]["expiry_time"],
            "reset_time": periods["periods"][0]["reset_time"],
            "records": 3,
        }
    ]


async def test_the_scheduler_runs_the_reset_on_time(api, nk, node, client):
    board = unique("lb")
    seen: asyncio.Queue[tuple[int, list[Any]]] = asyncio.Queue()
    node.leaderboards.reset_hooks[(node.default_title.id, "leaderboard_reset")] = ResetHook(
        lambda ctx, lb, reset, standings: seen.put_nowait((reset, standings)), "tests", 10
    )
    await nk.leaderboard_create(board, reset_schedule="*/2 * * * * *")  # every 2 seconds
    (me,) = await players(api, 1)
    written = await write(client, board, me, score=9)
    while True:  # periods that closed empty before the write may come first
        reset, standings = await asyncio.wait_for(seen.get(), timeout=10)
        if standings:
            break
    assert [(r.owner_id, r.score) for r in standings] == [(me["id"], 9)]
    assert written["expiry_time"] == rfc3339(reset * 1000)

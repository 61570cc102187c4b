"""Leaderboard requests on the HTTP fast path: the same answers as the Litestar routes, and a cached
first page that never shows a record order that a finished write has changed."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from overworld.api.http.app import create_app
from overworld.node import Node
from overworld.runtime import ServerApi
from tests.conftest import Api
from tests.support import basic, bearer, redis_prefix, unique

pytestmark = pytest.mark.anyio


@pytest.fixture
async def both(node, settings) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    fast = create_app(settings, node=node, fast_path=True)
    slow = create_app(settings, node=node, fast_path=False)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=fast), base_url="http://fast.local") as a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=slow), base_url="http://slow.local") as b,
    ):
        yield a, b


def _uid(session: dict[str, Any]) -> str:
    return str(json.loads(base64.urlsafe_b64decode(session["token"].split(".")[1] + "=="))["uid"])


async def test_same_answers_on_both_paths(both, node: Node, api: Api):
    fast, slow = both
    nk = ServerApi(node.runtime, node.default_title, "tests")
    board, authoritative = unique("lb"), unique("auth")
    assert await nk.leaderboard_create(board, sort_order="desc", operator="best")
    assert await nk.leaderboard_create(authoritative, authoritative=True)
    me = await api.device()
    other = await api.device()
    auth, uid = bearer(me["token"]), _uid(me)
    await fast.post(f"/v2/leaderboard/{board}", json={"score": 10, "subscore": 2}, headers=auth)
    await slow.post(f"/v2/leaderboard/{board}", json={"score": 7}, headers=bearer(other["token"]))
    requests: list[tuple[str, str, dict[str, Any] | None, Any, dict[str, str]]] = [
        ("GET", f"/v2/leaderboard/{board}", {"limit": "100"}, None, auth),
        ("GET", f"/v2/leaderboard/{board}", {"limit": "1"}, None, auth),
        ("GET", f"/v2/leaderboard/{board}", {"owner_ids": [uid, _uid(other)]}, None, auth),
        ("GET", f"/v2/leaderboard/{board}", {"limit": "0"}, None, auth),
        ("GET", f"/v2/leaderboard/{board}", {"limit": "1001"}, None, auth),
        ("GET", f"/v2/leaderboard/{board}", {"limit": "ten"}, None, auth),
        ("GET", f"/v2/leaderboard/{board}", {"limit": "2", "cursor": "garbage"}, None, auth),
        ("GET", f"/v2/leaderboard/{board}", {"owner_ids": "not-a-uuid"}, None, auth),
        ("GET", f"/v2/leaderboard/{board}", {"limit": "5", "unknown": "1"}, None, auth),
        ("GET", f"/v2/leaderboard/{board}", {"limit": "5"}, None, {}),
        ("GET", "/v2/leaderboard/no-such-board", {"limit": "5"}, None, auth),
        ("GET", f"/v2/leaderboard/{board}/owner/{uid}", {"limit": "3"}, None, auth),
        ("GET", f"/v2/leaderboard/{board}/owner/nope", {"limit": "3"}, None, auth),
        ("GET", f"/v2/leaderboard/{board}/owner/{uid}", {"limit": "101"}, None, auth),
        ("POST", f"/v2/leaderboard/{board}", None, {"score": 3}, auth),  # not better: unchanged
        ("POST", f"/v2/leaderboard/{board}", None, {"score": "12"}, auth),  # int64 as a string
        ("POST", f"/v2/leaderboard/{board}", None, {"score": -1}, auth),
        ("POST", f"/v2/leaderboard/{board}", None, {"score": 1, "metadata": "[1]"}, auth),
        ("POST", f"/v2/leaderboard/{board}", None, {"score": 1, "operator": "NOPE"}, auth),
        ("POST", f"/v2/leaderboard/{board}", None, "not json", auth),
        ("POST", f"/v2/leaderboard/{authoritative}", None, {"score": 1}, auth),
        ("POST", "/v2/leaderboard/no-such-board", None, {"score": 1}, auth),
    ]
    for method, path, params, body, headers in requests:
        kwargs: dict[str, Any] = {"params": params, "headers": headers}
        if body is not None:
            kwargs["content"] = body if isinstance(body, str) else json.dumps(body)
        a = await fast.request(method, path, **kwargs)
        b = await slow.request(method, path, **kwargs)
        assert (a.status_code, a.json()) == (b.status_code, b.json()), (method, path, params, body)
        assert a.headers.get("x-request-id")


async def test_cached_first_page_follows_every_write(client, node: Node, api: Api):
    nk = ServerApi(node.runtime, node.default_title, "tests")
    board = unique("lb")
    assert await nk.leaderboard_create(board, sort_order="desc", operator="set")
    people = [await api.device() for _ in range(4)]

    async def top(limit: int = 2) -> tuple[list[tuple[str, str]], str]:
        response = await client.get(
            f"/v2/leaderboard/{board}", params={"limit": limit}, headers=bearer(people[0]["token"])
        )
        assert response.status_code == 200
        body = response.json()
        return [(r["owner_id"], r.get("score", "0")) for r in body.get("records", [])], body.get(
            "rank_count", ""
        )

    async def write(who: dict[str, Any], score: int) -> None:
        response = await client.post(
            f"/v2/leaderboard/{board}", json={"score": score}, headers=bearer(who["token"])
        )
        assert response.status_code == 200, response.text

    a, b, c, d = (_uid(p) for p in people)
    await write(people[0], 10)
    await write(people[1], 20)
    assert await top() == ([(b, "20"), (a, "10")], "2")
    assert await top() == ([(b, "20"), (a, "10")], "2")  # from the cache
    await write(people[2], 5)  # below the page: same records, one more in the count
    assert await top() == ([(b, "20"), (a, "10")], "3")
    await write(people[2], 30)  # into the page
    assert await top() == ([(c, "30"), (b, "20")], "3")
    await write(people[2], 1)  # SET moves it down and out of the page
    assert await top() == ([(b, "20"), (a, "10")], "3")
    await write(people[3], 15)
    assert await top(3) == ([(b, "20"), (d, "15"), (a, "10")], "4")
    await nk.leaderboard_record_delete(board, b)
    assert await top() == ([(d, "15"), (a, "10")], "3")
    # Server code sees the same through its own reads.
    assert [r.owner_id for r in (await nk.leaderboard_records_list(board, limit=2)).records] == [d, a]


async def test_a_write_on_another_node_drops_the_cached_page(pg_database: str, tmp_path, monkeypatch):
    """Cluster: node B's write into the first page reaches node A's page cache over pub/sub (the
    time limit is made long here, so only the message can refresh the page)."""
    from overworld.config import load_settings
    from overworld.leaderboards import service
    from tests.support import REDIS_URL

    if not REDIS_URL:
        pytest.skip("needs OVERWORLD_TEST_REDIS_URL")
    monkeypatch.setattr(service, "TOP_PAGE_TTL", 600.0)
    common = {
        "database_url": pg_database,
        "redis_url": REDIS_URL,
        "redis_prefix": redis_prefix("owtest"),
        "auto_migrate": False,
        "default_title": unique("t"),
        "default_server_key": unique("key-"),
        "default_http_key": unique("http-"),
    }
    nodes = [
        await Node.start(
            load_settings(environ={}, overrides={**common, "data_dir": str(tmp_path / n), "node_name": n})
        )
        for n in ("a", "b")
    ]
    try:
        clients = [
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(n.settings, node=n, fast_path=True)),
                base_url="http://test.local",
            )
            for n in nodes
        ]
        key = nodes[0].default_title.server_key
        people = []
        for c in clients:
            body = (
                await c.post(
                    "/v2/account/authenticate/device", json={"id": unique("device-")}, headers=basic(key)
                )
            ).json()
            people.append(bearer(body["token"]))
        board = unique("lb")
        nk = ServerApi(nodes[0].runtime, nodes[0].default_title, "tests")
        assert await nk.leaderboard_create(board, sort_order="desc", operator="best")

        async def top() -> list[str]:
            response = await clients[0].get(
                f"/v2/leaderboard/{board}", params={"limit": 10}, headers=people[0]
            )
            assert response.status_code == 200, response.text
            return [r["score"] for r in response.json().get("records", [])]

        assert (
            await clients[0].post(f"/v2/leaderboard/{board}", json={"score": 5}, headers=people[0])
        ).status_code == 200
        assert await top() == ["5"]
        assert await top() == ["5"]  # cached on node A
        assert (
            await clients[1].post(f"/v2/leaderboard/{board}", json={"score": 9}, headers=people[1])
        ).status_code == 200
        for _ in range(100):
            if await top() == ["9", "5"]:
                break
            await asyncio.sleep(0.02)
        assert await top() == ["9", "5"]
        for c in clients:
            await c.aclose()
    finally:
        for n in reversed(nodes):
            await n.close()

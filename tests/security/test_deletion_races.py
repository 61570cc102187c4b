"""Issue 15, defect 3 continued: an account deleted while its requests are in flight leaves
nothing behind in the other domains a player's requests write (leaderboard records, tournament
records, chat messages, notifications to it, memberships added by a group's admins, friend edges),
and a write arriving once the user row is gone fails, even with a session the node still honours
(what a node cut off from Redis relies on). On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from overworld.node import Node
from overworld.runtime import ServerApi
from tests.realtime_support import authenticate, live_server, open_socket
from tests.support import bearer, redis_prefix, unique

pytestmark = pytest.mark.anyio
TRIALS = 6


@pytest.fixture
def nk(node: Node) -> ServerApi:
    return ServerApi(node.runtime, node.default_title, "tests")


async def player(client, api) -> tuple[dict[str, str], str]:
    session = await api.device()
    h = bearer(session["token"])
    return h, (await client.get("/v2/account", headers=h)).json()["user"]["id"]


async def count(node: Node, table: str, column: str, user_id: str) -> int:
    rows = await node.db.fetch(
        f"SELECT count(*) FROM {table} WHERE title_id = $1 AND {column} = $2", node.default_title.id, user_id
    )
    return int(rows[0][0])


async def drop_user_row(node: Node, user_id: str) -> None:
    """The account is gone from the database, its sessions still honoured by this node (as on a
    node that has not heard of the deletion)."""
    await node.db.execute("DELETE FROM users WHERE title_id = $1 AND id = $2", node.default_title.id, user_id)


async def delete(client, h: dict[str, str], delay: float) -> int:
    await asyncio.sleep(delay)
    return (await client.delete("/v2/account", headers=h)).status_code


# -- leaderboard and tournament records ---------------------------------------------------------------


async def test_leaderboard_writes_racing_a_deletion_leave_no_record(client, api, node, nk):
    board = unique("board-")
    await nk.leaderboard_create(board, operator="incr")
    left = 0
    for trial in range(TRIALS):
        h, user_id = await player(client, api)

        async def write(i: int, h: dict[str, str] = h) -> int:
            await asyncio.sleep(0.001 * (i % 5))
            return (await client.post(f"/v2/leaderboard/{board}", json={"score": 1}, headers=h)).status_code

        results = await asyncio.gather(delete(client, h, 0.001 * (trial % 4)), *(write(i) for i in range(30)))
        assert results[0] == 200
        assert set(results[1:]) <= {200, 401, 404}, results
        left += await count(node, "leaderboard_records", "owner_id", user_id)
    assert left == 0


async def test_record_writes_for_a_deleted_user_fail_with_a_live_session(client, api, node, nk):
    board, tournament = unique("board-"), unique("cup-")
    await nk.leaderboard_create(board)
    await nk.tournament_create(tournament, duration=3600)
    decr = unique("decr-")
    await nk.leaderboard_create(decr, operator="decr")  # written unbatched on PostgreSQL too
    h, user_id = await player(client, api)
    await drop_user_row(node, user_id)
    for path in (f"/v2/leaderboard/{board}", f"/v2/leaderboard/{decr}"):
        response = await client.post(path, json={"score": 5}, headers=h)
        assert response.status_code == 404, response.text
        assert response.json()["message"] == "User account not found."
    response = await client.put(f"/v2/tournament/{tournament}", json={"score": 5}, headers=h)
    assert response.status_code == 404, response.text
    assert await count(node, "leaderboard_records", "owner_id", user_id) == 0
    # Server code may still write for any owner id (a group's board, say), as in Nakama.
    assert (await nk.leaderboard_record_write(board, user_id, "", 3)).score == 3


# -- chat messages ------------------------------------------------------------------------------------


async def test_chat_messages_racing_a_deletion_leave_no_message(client, api, node, settings):
    left = 0
    async with live_server(settings, node) as host:
        for trial in range(TRIALS):
            session = await authenticate(host, node.default_title.server_key)
            h, user_id = bearer(session["token"]), session["user_id"]
            sock = await open_socket(host, session)
            room = unique("room-")
            channel = (await sock.request("channel_join", {"target": room, "type": 1, "persistence": True}))[
                "channel"
            ]

            async def send(i: int, sock: Any = sock, channel_id: str = channel["id"]) -> None:
                await asyncio.sleep(0.001 * (i % 5))
                with contextlib.suppress(Exception):  # the socket is closed by the deletion
                    await sock.send({"cid": str(i), "channel_message_send": {"channel_id": channel_id,
                                                                            "content": '{"n": 1}'}})  # fmt: skip

            results = await asyncio.gather(
                delete(client, h, 0.002 * (trial % 3)), *(send(i) for i in range(30))
            )
            assert results[0] == 200
            await asyncio.wait_for(asyncio.shield(sock.closed), 10)  # the deletion closed the socket
            await asyncio.sleep(0.2)  # frames read before the close have been handled
            left += await count(node, "channel_messages", "sender_id", user_id)
            await sock.close()
    assert left == 0


async def test_a_chat_message_of_a_deleted_user_fails_with_a_live_session(node, settings):
    async with live_server(settings, node) as host:
        session = await authenticate(host, node.default_title.server_key)
        sock = await open_socket(host, session)
        channel = (await sock.request("channel_join", {"target": unique("room-"), "type": 1}))["channel"]
        await drop_user_row(node, session["user_id"])
        reply = await sock.request("channel_message_send", {"channel_id": channel["id"], "content": "{}"})
        assert reply["error"]["message"] == "User account not found.", reply
        assert await count(node, "channel_messages", "sender_id", session["user_id"]) == 0
        await sock.close()


# -- notifications --------------------------------------------------------------------------------


async def test_notifications_racing_a_deletion_leave_none(client, api, node, nk):
    left = 0
    for trial in range(TRIALS):
        h, user_id = await player(client, api)

        async def notify(i: int, user_id: str = user_id) -> None:
            await asyncio.sleep(0.001 * (i % 5))
            await nk.notification_send(user_id, f"reward {i}", {"coins": i}, code=101)

        results = await asyncio.gather(
            delete(client, h, 0.001 * (trial % 4)), *(notify(i) for i in range(30))
        )
        assert results[0] == 200
        left += await count(node, "notifications", "user_id", user_id)
    assert left == 0


async def test_a_notification_to_a_deleted_user_is_not_stored(client, api, node, nk):
    _, user_id = await player(client, api)
    _, other = await player(client, api)
    await drop_user_row(node, user_id)
    await nk.notifications_send(
        [{"user_id": user_id, "subject": "a", "content": {}, "code": 101},
         {"user_id": other, "subject": "b", "content": {}, "code": 101}]
    )  # fmt: skip
    assert await count(node, "notifications", "user_id", user_id) == 0
    assert await count(node, "notifications", "user_id", other) == 1


# -- memberships added by a group's admins ------------------------------------------------------------


async def test_group_adds_racing_a_deletion_leave_no_membership(client, api, node):
    admin_h, _ = await player(client, api)
    left = 0
    for trial in range(TRIALS):
        groups = []
        for i in range(10):
            created = await client.post("/v2/group", json={"name": unique(f"g{trial}-{i}-")}, headers=admin_h)
            assert created.status_code == 200, created.text
            groups.append(created.json()["id"])
        h, user_id = await player(client, api)

        async def add(group_id: str, user_id: str = user_id) -> int:
            response = await client.post(
                f"/v2/group/{group_id}/add", params={"user_ids": [user_id]}, headers=admin_h
            )
            return response.status_code

        results = await asyncio.gather(delete(client, h, 0.002), *(add(g) for g in groups))
        assert results[0] == 200
        assert set(results[1:]) <= {200, 400}, results
        left += await count(node, "group_edges", "user_id", user_id)
    assert left == 0


async def test_adding_a_deleted_user_to_a_group_fails(client, api, node):
    admin_h, _ = await player(client, api)
    group = (await client.post("/v2/group", json={"name": unique("g-")}, headers=admin_h)).json()["id"]
    _, user_id = await player(client, api)
    await drop_user_row(node, user_id)
    response = await client.post(f"/v2/group/{group}/add", params={"user_ids": [user_id]}, headers=admin_h)
    assert response.status_code == 400, response.text
    assert await count(node, "group_edges", "user_id", user_id) == 0


# -- friend edges ---------------------------------------------------------------------------------


async def test_friend_invitations_racing_a_deletion_leave_no_edge(client, api, node):
    left = 0
    for trial in range(TRIALS):
        h, user_id = await player(client, api)
        others = [await player(client, api) for _ in range(8)]

        async def invite(i: int, h: dict[str, str] = h, others: list[Any] = others) -> int:
            await asyncio.sleep(0.001 * (i % 4))
            return (await client.post("/v2/friend", params={"ids": [others[i][1]]}, headers=h)).status_code

        async def invited(i: int, user_id: str = user_id, others: list[Any] = others) -> int:
            await asyncio.sleep(0.001 * (i % 4))
            return (
                await client.post("/v2/friend", params={"ids": [user_id]}, headers=others[i][0])
            ).status_code

        results = await asyncio.gather(
            delete(client, h, 0.001 * (trial % 3)), *(invite(i) for i in range(4)), *(invited(i) for i in range(4, 8))
        )  # fmt: skip
        assert results[0] == 200
        left += await count(node, "user_edges", "source_id", user_id)
        left += await count(node, "user_edges", "destination_id", user_id)
    assert left == 0


async def test_a_friend_invitation_by_a_deleted_user_fails(client, api, node):
    h, user_id = await player(client, api)
    _, other = await player(client, api)
    await drop_user_row(node, user_id)
    response = await client.post("/v2/friend", params={"ids": [other]}, headers=h)
    assert response.status_code == 404, response.text
    assert await count(node, "user_edges", "destination_id", other) == 0


@pytest.mark.cluster
def test_a_node_cut_off_from_redis_refuses_a_deleted_players_writes(tmp_path):
    """Node A deletes the account while node B is cut off from Redis (so B still honours the
    token): its group join and consent there fail, and nothing is left."""
    import asyncpg
    import httpx

    from tests.security.proxy import CuttableProxy
    from tests.security.test_outages import _port_of, _through
    from tests.support import (
        PG_URL,
        REDIS_URL,
        ServerProcess,
        basic,
        create_pg_database,
        drop_pg_database,
        run,
    )

    if not (PG_URL and REDIS_URL):
        pytest.skip("needs OVERWORLD_TEST_DATABASE_URL and OVERWORLD_TEST_REDIS_URL")
    database = run(create_pg_database(PG_URL))
    proxy = CuttableProxy(_port_of(REDIS_URL, 6379)).start()
    env = {
        "OVERWORLD_DATA_DIR": str(tmp_path / "data"),
        "OVERWORLD_LOG_LEVEL": "warning",
        "OVERWORLD_DATABASE_URL": database,
        "OVERWORLD_REDIS_URL": REDIS_URL,
        "OVERWORLD_REDIS_PREFIX": redis_prefix("owdel"),
    }
    a = ServerProcess(env, tmp_path)
    b = ServerProcess({**env, "OVERWORLD_REDIS_URL": _through(REDIS_URL, proxy.port)}, tmp_path)

    async def left(user_id: str) -> int:
        conn = await asyncpg.connect(database)
        try:
            n = 0
            for table, column in (("leaderboard_records", "owner_id"), ("group_edges", "user_id"),
                                  ("consents", "user_id")):  # fmt: skip
                n += int(await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {column} = $1", user_id))
            return n
        finally:
            await conn.close()

    try:
        a.start()
        b.start()
        with httpx.Client(base_url=a.url) as on_a, httpx.Client(base_url=b.url) as on_b:
            owner = on_a.post(
                "/v2/account/authenticate/device", json={"id": unique("device-")}, headers=basic("defaultkey")
            ).json()["token"]
            group = on_a.post(
                "/v2/group", json={"name": unique("g-"), "open": True}, headers=bearer(owner)
            ).json()
            token = on_a.post(
                "/v2/account/authenticate/device", json={"id": unique("device-")}, headers=basic("defaultkey")
            ).json()["token"]
            h = bearer(token)
            user_id = on_a.get("/v2/account", headers=h).json()["user"]["id"]
            assert on_b.get("/v2/account", headers=h).status_code == 200
            proxy.cut()
            assert on_a.delete("/v2/account", headers=h).status_code == 200
            consent = on_b.put(
                "/v2/overworld/account/consent", json={"policy": "p", "version": "1"}, headers=h
            )
            join = on_b.post(f"/v2/group/{group['id']}/join", headers=h)
            statuses = [consent.status_code, join.status_code]
            assert all(s in (401, 404) for s in statuses), (statuses, consent.text, join.text)
            assert run(left(user_id)) == 0
    finally:
        a.stop()
        b.stop()
        proxy.stop()
        run(drop_pg_database(PG_URL, database))

"""Behaviours a real Nakama client relies on, end to end on every deployment: one server on SQLite,
one on PostgreSQL, and two nodes behind a round-robin balancer (where the test's clients, each on
its own connection, sit on different nodes)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.deployments import DEPLOYMENT_PARAMS, Deployment, deploy_with_code
from tests.realtime_support import open_socket
from tests.support import basic, bearer, unique

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module", params=DEPLOYMENT_PARAMS)
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """The example server code plus tests/runtime_e2e (a before hook that returns None, an event
    handler that leaves a trace)."""
    workdir = tmp_path_factory.mktemp(f"behaviours-{request.param}")
    with deploy_with_code(request.param, workdir, "behaviours.py") as running:
        yield running


class Player:
    """A signed-in player with an HTTP client of its own (so its own connection, and on a cluster
    the node the balancer gave that connection)."""

    def __init__(self, deployment: Deployment, username: str | None = None) -> None:
        self.deployment = deployment
        self.http = httpx.Client(base_url=deployment.url, timeout=10)
        params = {"username": username} if username else {}
        reply = self.http.post(
            "/v2/account/authenticate/device", json={"id": unique("device-")}, params=params,
            headers=basic(deployment.server_key),
        )  # fmt: skip
        assert reply.status_code == 200, reply.text
        self.session: dict[str, Any] = reply.json()
        self.http.headers.update(bearer(self.session["token"]))
        account = self.get("/v2/account")
        self.user_id: str = account["user"]["id"]
        self.session |= {"user_id": self.user_id, "username": account["user"]["username"]}

    def get(self, path: str, **params: Any) -> Any:
        reply = self.http.get(path, params=params)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def players(deployment: Deployment) -> Iterator[list[Player]]:
    made: list[Player] = []
    yield made
    for player in made:
        player.close()


def _players(deployment: Deployment, made: list[Player], n: int) -> list[Player]:
    made.extend(Player(deployment) for _ in range(n))
    return made[-n:]


async def _eventually(probe: Any, expected: Any, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while (got := probe()) != expected:
        assert asyncio.get_running_loop().time() < deadline, (
            f"still {got!r} after {seconds} s, not {expected!r}"
        )
        await asyncio.sleep(0.1)


def test_avatar_url_is_any_text_up_to_512_characters(deployment: Deployment, players: list[Player]) -> None:
    (alice,) = _players(deployment, players, 1)
    for avatar in ("avatars/knight-03.png", "not a url at all ☃", "x" * 512):
        assert alice.http.put("/v2/account", json={"avatar_url": avatar}).status_code == 200
        assert alice.get("/v2/account")["user"]["avatar_url"] == avatar
    too_long = alice.http.put("/v2/account", json={"avatar_url": "x" * 513})
    assert too_long.status_code == 400
    assert "avatar url" in too_long.json()["message"]


def test_list_matches_with_a_query_ignores_the_empty_label(
    deployment: Deployment, players: list[Player]
) -> None:
    (alice,) = _players(deployment, players, 1)
    mode = unique("mode")
    made = alice.http.post("/v2/rpc/create_arena", json=orjson.dumps({"mode": mode}).decode())
    assert made.status_code == 200, made.text
    match_id = orjson.loads(made.json()["payload"])["match_id"]
    # What nakama-js sends for client.listMatches(10, true, "", 0, 8, "+label.mode:..."): label=""
    found = alice.get(
        "/v2/match",
        limit=10,
        authoritative="true",
        label="",
        min_size=0,
        max_size=8,
        query=f"+label.mode:{mode}",
    )
    assert [m["match_id"] for m in found["matches"]] == [match_id]
    # Without a query, the label is an exact filter.
    assert alice.get("/v2/match", limit=10, authoritative="true", label="nope").get("matches", []) == []


async def test_a_client_pong_is_accepted_silently(deployment: Deployment, players: list[Player]) -> None:
    (alice,) = _players(deployment, players, 1)
    socket = await open_socket(f"127.0.0.1:{deployment.port}", alice.session)
    try:
        await socket.send_raw('{"pong": {}}')
        await socket.send_raw('{"cid": "7", "pong": {}}')
        assert await socket.request("ping") == {"cid": "1", "pong": {}}
        await socket.no_push("error")
        assert not socket.closed.done()
    finally:
        await socket.close()


def test_a_before_hook_returning_none_rejects_the_call(deployment: Deployment, players: list[Player]) -> None:
    alice, bob = _players(deployment, players, 2)
    assert alice.http.post("/v2/friend", params={"ids": bob.user_id}).status_code == 200
    refused = alice.http.delete("/v2/friend", params={"ids": bob.user_id})
    assert refused.status_code == 404
    assert refused.json() == {"code": 5, "error": "Requested resource was not found.",
                              "message": "Requested resource was not found."}  # fmt: skip
    assert [f["user"]["id"] for f in alice.get("/v2/friend")["friends"]] == [bob.user_id]


def test_authenticate_email_by_username_and_password(deployment: Deployment) -> None:
    with httpx.Client(base_url=deployment.url, headers=basic(deployment.server_key)) as http:
        email, username = f"{unique('e')}@example.com", unique("hero")
        made = http.post(
            "/v2/account/authenticate/email", params={"username": username},
            json={"email": email, "password": "correct horse"},
        )  # fmt: skip
        assert made.status_code == 200, made.text
        by_name = http.post(
            "/v2/account/authenticate/email", params={"username": username, "create": "false"},
            json={"password": "correct horse"},
        )  # fmt: skip
        assert by_name.status_code == 200, by_name.text
        me = http.get("/v2/account", headers=bearer(by_name.json()["token"])).json()
        assert me["user"]["username"] == username and me["email"] == email
        wrong = http.post(
            "/v2/account/authenticate/email", params={"username": username, "create": "false"},
            json={"password": "wrong horse"},
        )  # fmt: skip
        assert wrong.status_code == 401


async def test_online_tells_whether_a_user_is_connected(
    deployment: Deployment, players: list[Player]
) -> None:
    alice, bob = _players(deployment, players, 2)
    assert alice.http.post("/v2/friend", params={"ids": bob.user_id}).status_code == 200
    assert bob.http.post("/v2/friend", params={"ids": alice.user_id}).status_code == 200
    group = alice.http.post("/v2/group", json={"name": unique("guild"), "open": True}).json()
    assert bob.http.post(f"/v2/group/{group['id']}/join").status_code == 200

    def seen_by_bob() -> tuple[bool, bool, bool]:
        users = bob.get("/v2/user", ids=alice.user_id)["users"]
        friends = {f["user"]["id"]: f["user"] for f in bob.get("/v2/friend")["friends"]}
        members = {
            m["user"]["id"]: m["user"] for m in bob.get(f"/v2/group/{group['id']}/user")["group_users"]
        }
        return (
            users[0].get("online", False),
            friends[alice.user_id].get("online", False),
            members[alice.user_id].get("online", False),
        )

    assert seen_by_bob() == (False, False, False)
    # Alice's socket takes the next connection; on a cluster, another node than Bob's client.
    socket = await open_socket(f"127.0.0.1:{deployment.port}", alice.session)
    try:
        await _eventually(seen_by_bob, (True, True, True))
    finally:
        await socket.close()
    await _eventually(seen_by_bob, (False, False, False))


async def test_client_events_reach_the_event_handlers(deployment: Deployment, players: list[Player]) -> None:
    (alice,) = _players(deployment, players, 1)
    sent = alice.http.post(
        "/v2/event", json={"name": "e2e_scored", "properties": {"points": "12"}, "external": True}
    )
    assert sent.status_code == 200, sent.text
    assert sent.json() == {}

    def trace() -> Any:
        objects = alice.get("/v2/storage/e2e_events", user_id=alice.user_id).get("objects", [])
        return [orjson.loads(o["value"]) for o in objects]

    await _eventually(trace, [{"properties": {"points": "12"}, "external": True}])
    for bad in ({"name": "*"}, {"name": ""}, {"name": "account_created"}):
        refused = alice.http.post("/v2/event", json=bad)
        assert refused.status_code == 400, (bad, refused.text)


async def test_a_join_reaches_every_node_before_its_reply(
    deployment: Deployment, players: list[Player]
) -> None:
    """Two sockets, on two nodes of a cluster: a relayed match created by one is found at once by
    the other, and whatever is sent right after a join's reply reaches the joiner."""
    alice, bob = _players(deployment, players, 2)
    host = f"127.0.0.1:{deployment.port}"
    a = await open_socket(host, alice.session)
    b = await open_socket(host, bob.session)  # the next connection: the other node
    try:
        room = unique("room")
        await a.request("channel_join", {"target": room, "type": 1})
        for i in range(15):
            created = await a.request("match_create", {})
            match_id = created["match"]["match_id"]
            joined = await b.request("match_join", {"match_id": match_id})
            assert "match" in joined, joined
            await a.send_raw(
                orjson.dumps({"match_data_send": {"match_id": match_id, "op_code": "1", "data": ""}}).decode()
            )
            data = await b.push("match_data")
            assert data["match_id"] == match_id
            await a.request("match_leave", {"match_id": match_id})
            await b.request("match_leave", {"match_id": match_id})
            channel = (await b.request("channel_join", {"target": room, "type": 1}))["channel"]
            sent = await a.request(
                "channel_message_send", {"channel_id": channel["id"], "content": f'{{"n":{i}}}'}
            )
            assert "channel_message_ack" in sent, sent
            message = await b.push("channel_message")
            assert orjson.loads(message["content"]) == {"n": i}
            await b.request("channel_leave", {"channel_id": channel["id"]})
    finally:
        await a.close()
        await b.close()


def test_browsers_are_answered_with_cors_and_camel_case_fields_are_read(
    deployment: Deployment, players: list[Player]
) -> None:
    (alice,) = _players(deployment, players, 1)
    origin = {"Origin": "https://game.example"}
    preflight = alice.http.options(
        "/v2/account",
        headers={
            **origin,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    # lowerCamelCase body fields (as protojson writes them) and query names, through any node.
    updated = alice.http.put("/v2/account", json={"displayName": "Dana", "langTag": "pt"}, headers=origin)
    assert updated.status_code == 200 and updated.headers["access-control-allow-origin"] == "*"
    user = alice.get("/v2/account")["user"]
    assert (user["display_name"], user["lang_tag"]) == ("Dana", "pt")
    written = alice.http.put(
        "/v2/storage",
        json={"objects": [{"collection": "saves", "key": "slot1", "value": "{}", "permissionRead": 2}]},
    )
    assert written.status_code == 200, written.text
    listed = alice.get("/v2/storage/saves", userId=alice.user_id)["objects"]
    assert [(o["key"], o["permission_read"]) for o in listed] == [("slot1", 2)]

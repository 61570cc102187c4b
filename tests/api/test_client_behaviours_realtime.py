"""Realtime behaviours a real Nakama client showed to differ (issue 13), end to end on every
deployment: one server on SQLite, one on PostgreSQL, and two nodes behind a round-robin balancer
(where each new connection, so each socket, lands on the other node)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.deployments import DEPLOYMENT_PARAMS, Deployment, deploy_with_code
from tests.support import basic, bearer, unique

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module", params=DEPLOYMENT_PARAMS)
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """The example server code plus RPCs that fail; one socket per user (Nakama's single_socket)."""
    workdir = tmp_path_factory.mktemp(f"rt-behaviours-{request.param}")
    with deploy_with_code(
        request.param, workdir, "failing_rpcs.py", env={"OVERWORLD_SOCKET_MAX_PER_USER": "1"}
    ) as running:
        yield running


class Client:
    """A player: an HTTP client of its own (its own connection, so on a cluster the node the
    balancer gave it) and, once `connect`ed, a socket that records every frame in arrival order."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.http = httpx.Client(base_url=deployment.url, timeout=10)
        reply = self.http.post(
            "/v2/account/authenticate/device", json={"id": unique("device-")},
            headers=basic(deployment.server_key),
        )  # fmt: skip
        assert reply.status_code == 200, reply.text
        self.token: str = reply.json()["token"]
        self.http.headers.update(bearer(self.token))
        user = self.http.get("/v2/account").json()["user"]
        self.user_id: str = user["id"]
        self.username: str = user["username"]
        self.frames: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self._cid = 0
        self.ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> Client:
        url = f"ws://127.0.0.1:{self.deployment.port}/ws?token={self.token}"
        self.ws = await connect(url, compression=None)
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.ws is not None
        with contextlib.suppress(Exception):
            async for raw in self.ws:
                self.frames.append(orjson.loads(raw))
                self._arrived.set()
        self._arrived.set()

    async def send(self, kind: str, body: dict[str, Any], cid: bool = True) -> str:
        assert self.ws is not None
        envelope: dict[str, Any] = {kind: body}
        if cid:
            self._cid += 1
            envelope["cid"] = str(self._cid)
        await self.ws.send(orjson.dumps(envelope).decode())
        return str(envelope.get("cid", ""))

    async def wait_for(self, probe: Any, seconds: float = 10.0, start: int = 0) -> int:
        """The index of the first frame from `start` on for which `probe(frame)` is true."""
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            for i in range(start, len(self.frames)):
                if probe(self.frames[i]):
                    return i
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0, f"no such frame in {self.frames[start:]!r}"
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    async def request(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        cid = await self.send(kind, body)
        return self.frames[await self.wait_for(lambda f: f.get("cid") == cid)]

    @property
    def closed(self) -> bool:
        return self._reader is not None and self._reader.done()

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 2)
        self.http.close()


@pytest.fixture
async def clients(deployment: Deployment) -> AsyncIterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        await client.close()


def _new(deployment: Deployment, made: list[Client], n: int) -> list[Client]:
    made.extend(Client(deployment) for _ in range(n))
    return made[-n:]


def _joined(match_id: str, user_id: str) -> Any:
    def probe(frame: dict[str, Any]) -> bool:
        event = frame.get("match_presence_event") or {}
        return event.get("match_id") == match_id and any(
            p["user_id"] == user_id for p in event.get("joins", [])
        )

    return probe


def _rpc_payload(reply: dict[str, Any]) -> dict[str, Any]:
    assert "rpc" in reply, reply
    payload: dict[str, Any] = orjson.loads(reply["rpc"]["payload"])
    return payload


# -- 1. a join's reply comes before the presence events it causes ---------------------------------


@pytest.mark.parametrize("kind", ["relayed", "authoritative"])
async def test_match_join_reply_comes_before_the_presence_events(
    deployment: Deployment, clients: list[Client], kind: str
) -> None:
    alice, bob, carol = _new(deployment, clients, 3)
    for client in (alice, bob, carol):
        await client.connect()  # on a cluster: alice and carol on one node, bob on the other
    if kind == "relayed":
        match_id = (await alice.request("match_create", {}))["match"]["match_id"]
    else:
        made = await alice.request("rpc", {"id": "create_arena", "payload": '{"mode": "e2e"}'})
        match_id = _rpc_payload(made)["match_id"]
        assert (await alice.request("match_join", {"match_id": match_id}))["match"]
    for joiner, others in ((bob, [alice]), (carol, [alice, bob])):
        start = len(joiner.frames)
        cid = ""
        for _ in range(50):  # on a cluster alice's presence may take a moment to reach bob's node
            cid = await joiner.send("match_join", {"match_id": match_id})
            reply = joiner.frames[await joiner.wait_for(lambda f, c=cid: f.get("cid") == c, start=start)]
            if "match" in reply:
                break
            await asyncio.sleep(0.05)
        reply_at = await joiner.wait_for(lambda f, c=cid: f.get("cid") == c, start=start)
        match = joiner.frames[reply_at]["match"]
        assert {p["user_id"] for p in match.get("presences", [])} == {o.user_id for o in others}
        # A client listening from the reply on sees its own join, as every other player does.
        own_event = await joiner.wait_for(_joined(match_id, joiner.user_id), start=start)
        assert own_event > reply_at, joiner.frames[start:]
        for other in others:
            await other.wait_for(_joined(match_id, joiner.user_id))
    # ...and whoever joins after it.
    await bob.wait_for(_joined(match_id, carol.user_id))


async def test_channel_join_reply_comes_before_its_presence_event(
    deployment: Deployment, clients: list[Client]
) -> None:
    (alice,) = _new(deployment, clients, 1)
    await alice.connect()
    room = unique("room")
    cid = await alice.send("channel_join", {"target": room, "type": 1})
    reply_at = await alice.wait_for(lambda f: f.get("cid") == cid)
    channel_id = alice.frames[reply_at]["channel"]["id"]
    event_at = await alice.wait_for(
        lambda f: (f.get("channel_presence_event") or {}).get("channel_id") == channel_id
    )
    assert event_at > reply_at


# -- 2. data sent right after a join reply is never lost, even across nodes -----------------------


async def _join_and_move(player: Client, match_id: str, move: str) -> bool:
    """Join and send a move at once; whether the arena's echo of it (op code 2) comes back."""
    start = len(player.frames)
    data = base64.b64encode(move.encode()).decode()
    # The data follows the join at once: the socket serves its messages in order, so the server
    # handles it right after sending the join's reply, as from a client answering that reply at
    # once (the network round trip between them only makes the race rarer).
    cid = await player.send("match_join", {"match_id": match_id})
    await player.send("match_data_send", {"match_id": match_id, "op_code": 1, "data": data}, cid=False)
    joined = player.frames[await player.wait_for(lambda f: f.get("cid") == cid, start=start)]
    assert "match" in joined, joined
    try:
        await player.wait_for(
            lambda f: (
                (f.get("match_data") or {}).get("op_code") == "2" and f["match_data"].get("data") == data
            ),
            seconds=3,
            start=start,
        )
    except AssertionError:
        return False
    return True


async def test_match_data_sent_right_after_the_join_reply_reaches_the_match(
    deployment: Deployment, clients: list[Client]
) -> None:
    host, player = _new(deployment, clients, 2)
    await host.connect()
    await player.connect()  # on a cluster: the other node than the match's
    lost = []
    for attempt in range(40):  # a new match each time, made on the host's node
        made = await host.request("rpc", {"id": "create_arena", "payload": '{"mode": "race"}'})
        match_id = _rpc_payload(made)["match_id"]
        if not await _join_and_move(player, match_id, f"move {attempt}"):
            lost.append(attempt)
        assert "error" not in await player.request("match_leave", {"match_id": match_id})
    assert lost == [], f"moves lost on attempts {lost} of 40"
    # Leaving and joining the same match again at once (the leave may not have reached the
    # match's node when the new join asks it).
    for attempt in range(20):
        await player.send("match_leave", {"match_id": match_id})
        if not await _join_and_move(player, match_id, f"again {attempt}"):
            lost.append(attempt)
    assert lost == [], f"moves lost on rejoins {lost} of 20"


# -- 3. group channels get Nakama's membership messages -------------------------------------------


def _ok(reply: httpx.Response) -> Any:
    assert reply.status_code == 200, reply.text
    return reply.json()


async def test_group_channel_gets_nakamas_membership_messages(
    deployment: Deployment, clients: list[Client]
) -> None:
    owner, bob, carol, dave = _new(deployment, clients, 4)
    group = _ok(owner.http.post("/v2/group", json={"name": unique("guild"), "open": True}))
    group_id = group["id"]
    await owner.connect()
    await bob.connect()
    channel = (await owner.request("channel_join", {"target": group_id, "type": 3}))["channel"]
    channel_id = channel["id"]
    assert channel_id == f"3.{group_id}.."

    _ok(bob.http.post(f"/v2/group/{group_id}/join"))  # 3 joined
    assert (await bob.request("channel_join", {"target": group_id, "type": 3})).get("channel")
    _ok(owner.http.post(f"/v2/group/{group_id}/add", params={"user_ids": [carol.user_id, dave.user_id]}))  # 4
    _ok(owner.http.post(f"/v2/group/{group_id}/promote", params={"user_ids": bob.user_id}))  # 7
    _ok(owner.http.post(f"/v2/group/{group_id}/demote", params={"user_ids": bob.user_id}))  # 9
    _ok(owner.http.post(f"/v2/group/{group_id}/kick", params={"user_ids": carol.user_id}))  # 6
    _ok(owner.http.post(f"/v2/group/{group_id}/ban", params={"user_ids": dave.user_id}))  # 8
    _ok(bob.http.post(f"/v2/group/{group_id}/leave"))  # 5
    expected = [
        (3, bob), (4, carol), (4, dave), (7, bob), (9, bob), (6, carol), (8, dave), (5, bob),
    ]  # fmt: skip

    # Live, in order, as Nakama's ChannelMessage: sender the user concerned, content "{}".
    def is_group_message(f: dict[str, Any]) -> bool:
        return (f.get("channel_message") or {}).get("channel_id") == channel_id

    at = -1
    live = []
    for _ in expected:
        at = await owner.wait_for(is_group_message, start=at + 1)
        live.append(owner.frames[at]["channel_message"])
    assert [(m["code"], m["sender_id"], m["username"]) for m in live] == [
        (code, who.user_id, who.username) for code, who in expected
    ]
    for m in live:
        assert m["content"] == "{}" and m["persistent"] is True and m["group_id"] == group_id
    # Stored in the channel's history too.
    history = _ok(owner.http.get(f"/v2/channel/{channel_id}", params={"limit": 100}))["messages"]
    assert [(m["code"], m["sender_id"], m["content"]) for m in history] == [
        (code, who.user_id, "{}") for code, who in expected
    ]
    assert [m["message_id"] for m in history] == [m["message_id"] for m in live]
    # Bob left the group: he is taken out of its channel (everyone sees him leave).
    await owner.wait_for(
        lambda f: any(
            p["user_id"] == bob.user_id for p in (f.get("channel_presence_event") or {}).get("leaves", [])
        )
    )
    refused = await bob.request("channel_message_send", {"channel_id": channel_id, "content": "{}"})
    assert refused["error"]["code"] == 3


# -- 4. notifications the server sends itself, with Nakama's codes -------------------------------


async def test_a_socket_replaced_under_single_socket_is_told_with_code_minus_7(
    deployment: Deployment, clients: list[Client]
) -> None:
    (first,) = _new(deployment, clients, 1)
    await first.connect()
    assert "pong" in await first.request("ping", {})
    second = Client.__new__(Client)  # the same user's second socket (on a cluster: the other node)
    second.__dict__.update(first.__dict__ | {"frames": [], "_arrived": asyncio.Event(), "_cid": 0})
    second.http = httpx.Client(base_url=deployment.url, timeout=10)
    clients.append(second)
    await second.connect()
    at = await first.wait_for(lambda f: "notifications" in f)
    [note] = first.frames[at]["notifications"]["notifications"]
    assert note["code"] == -7 and note["subject"] == "single_socket" and note["content"] == "{}"
    assert not note.get("persistent", False) and note.get("sender_id", "") == ""
    deadline = asyncio.get_running_loop().time() + 10
    while not first.closed:
        assert asyncio.get_running_loop().time() < deadline, "the replaced socket stays open"
        await asyncio.sleep(0.05)
    assert first.ws is not None and first.ws.close_code == 1008
    assert "pong" in await second.request("ping", {})


# -- 5. an RPC that fails answers as Nakama answers a Go or Lua error -----------------------------


def test_rpc_errors_answer_as_nakama_over_http(deployment: Deployment) -> None:
    alice = Client(deployment)
    try:
        _http_rpc_errors(deployment, alice)
    finally:
        alice.http.close()


def _http_rpc_errors(deployment: Deployment, alice: Client) -> None:
    crashed = alice.http.post("/v2/rpc/e2e_crash", json='""')
    assert crashed.status_code == 500
    assert crashed.json() == {"error": "wallet service unreachable", "code": 13,
                              "message": "wallet service unreachable"}  # fmt: skip
    refused = alice.http.post("/v2/rpc/e2e_refuse", json='""')
    assert refused.status_code == 400
    assert refused.json() == {"error": "Not enough coins.", "code": 9, "message": "Not enough coins."}
    with httpx.Client(base_url=deployment.url, timeout=10) as server:  # another server: the http key
        with_key = server.post("/v2/rpc/e2e_crash", params={"http_key": deployment.http_key}, json='""')
    assert with_key.status_code == 500 and with_key.json()["message"] == "wallet service unreachable"


async def test_rpc_errors_answer_as_nakama_on_the_socket(
    deployment: Deployment, clients: list[Client]
) -> None:
    # Nakama answers any RPC error with RUNTIME_FUNCTION_EXCEPTION (7) and its text on the socket.
    (alice,) = _new(deployment, clients, 1)
    await alice.connect()
    crash = await alice.request("rpc", {"id": "e2e_crash", "payload": ""})
    assert crash["error"] == {"code": 7, "message": "wallet service unreachable"}
    refuse = await alice.request("rpc", {"id": "e2e_refuse", "payload": ""})
    assert refuse["error"] == {"code": 7, "message": "Not enough coins."}
    missing = await alice.request("rpc", {"id": "e2e_nothing", "payload": ""})
    assert missing["error"] == {"code": 6, "message": "RPC function not found"}

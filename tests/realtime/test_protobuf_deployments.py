"""The protobuf socket end to end on every deployment (tests/deployments.py): one server on SQLite,
one on PostgreSQL, and two nodes in a cluster, where the players' sockets are opened on different
nodes (node i % 2), so every delivery between two of them crosses nodes and the receiving node
makes the protobuf form of frames that arrive from the other one as JSON. Every message kind of
the socket is exercised in protobuf, with a JSON socket in the same channel, party and match."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import orjson
import pytest

from overworld.protocol.pb import realtime_pb2
from tests.deployments import Deployment
from tests.realtime_support import Socket, authenticate, open_socket
from tests.support import unique

pytestmark = pytest.mark.anyio


async def _sockets(deployment: Deployment, formats: list[str], status: bool = False) -> list[Socket]:
    """One signed-up player per format, player i's socket on node i % nodes (on a cluster)."""
    sockets = []
    for i, fmt in enumerate(formats):
        host = f"127.0.0.1:{deployment.nodes[i % len(deployment.nodes)].port}"
        session = await authenticate(host, deployment.server_key)
        sockets.append(await open_socket(host, session, status=status, fmt=fmt))
    return sockets


def _last(sock: Socket) -> Any:
    """The last frame `sock` received, as the protobuf Envelope it was."""
    frame = sock.frames[-1]
    assert isinstance(frame, bytes)
    return realtime_pb2.Envelope.FromString(frame)


async def _close(*sockets: Socket) -> None:
    for s in sockets:
        await s.close()


async def _until(sock: Socket, kind: str, check: Any) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            body = await sock.push(kind)
            if check(body):
                return body


async def test_rpc_ping_status_chat_and_notifications(deployment: Deployment) -> None:
    alice, bob, carol = await _sockets(deployment, ["protobuf", "protobuf", "json"], status=True)
    assert await alice.request("ping") == {"cid": "1", "pong": {}}
    echoed = await alice.request("rpc", {"id": "echo", "payload": '{"x":1}'})
    assert echoed["rpc"]["id"] == "echo" and orjson.loads(echoed["rpc"]["payload"]) == {"x": 1}
    missing = await alice.request("rpc", {"id": "no_such_rpc"})
    assert missing["cid"] == "3" and missing["error"]["code"] == 6

    # Status: follow, a change seen across nodes, unfollow.
    for _ in range(100):  # alice's status presence reaches bob's node
        if (await bob.request("status_follow", {"user_ids": [alice.user_id]}))["status"].get("presences"):
            break
        await asyncio.sleep(0.1)
    assert await alice.request("status_update", {"status": "busy"}) == {"cid": "4"}
    event = await _until(bob, "status_presence_event", lambda e: e.get("joins"))
    assert event["joins"][0]["status"] == "busy" and event["joins"][0]["user_id"] == alice.user_id
    assert _last(bob).status_presence_event.joins[0].status.value == "busy"
    assert "error" not in await bob.request("status_unfollow", {"user_ids": [alice.user_id]})

    # Room chat with a JSON member: presences, message, ack, update, remove, leave.
    room = unique("room")
    channel = (await alice.request("channel_join", {"target": room, "type": 1}))["channel"]
    assert channel["room_name"] == room and channel["self"]["user_id"] == alice.user_id
    for sock in (bob, carol):
        await sock.request("channel_join", {"target": room, "type": 1})
        await _until(alice, "channel_presence_event", lambda e, s=sock: e["joins"][0]["user_id"] == s.user_id)
    ack = (await bob.request("channel_message_send", {"channel_id": channel["id"], "content": '{"t":"hi"}'}))[
        "channel_message_ack"
    ]
    assert ack["persistent"] is True and ack["create_time"].endswith("Z")
    for sock in (alice, carol):
        got = await _until(sock, "channel_message", lambda m: m["message_id"] == ack["message_id"])
        assert got["content"] == '{"t":"hi"}' and got["sender_id"] == bob.user_id and got["code"] == 0
    received = _last(alice).channel_message
    assert received.create_time.seconds > 0 and received.persistent.value is True
    update = {"channel_id": channel["id"], "message_id": ack["message_id"], "content": '{"t":"edit"}'}
    assert "channel_message_ack" in await bob.request("channel_message_update", update)
    assert (await _until(alice, "channel_message", lambda m: m.get("code") == 1))["content"] == '{"t":"edit"}'
    remove = {"channel_id": channel["id"], "message_id": ack["message_id"]}
    assert "channel_message_ack" in await bob.request("channel_message_remove", remove)
    await _until(carol, "channel_message", lambda m: m.get("code") == 2)
    assert set(await bob.request("channel_leave", {"channel_id": channel["id"]})) == {"cid"}  # empty reply
    await _until(alice, "channel_presence_event", lambda e: e.get("leaves"))

    # A direct chat notifies the other user (a notification, on the other node).
    await alice.request("channel_join", {"target": bob.user_id, "type": 2})
    notes = await bob.push("notifications")
    assert notes["notifications"][0]["code"] == -1 and notes["notifications"][0]["sender_id"] == alice.user_id
    assert _last(bob).notifications.notifications[0].create_time.seconds > 0

    bad = await alice.request("channel_join", {"target": "", "type": 1})
    assert bad["error"]["code"] == 3 and bad["cid"]
    await _close(alice, bob, carol)


async def test_parties_with_binary_data(deployment: Deployment) -> None:
    alice, bob, carol = await _sockets(deployment, ["protobuf", "protobuf", "json"])
    party = (await alice.request("party_create", {"open": False, "max_size": 3}))["party"]
    party_id = party["party_id"]
    for sock in (bob, carol):
        assert "error" not in await sock.request("party_join", {"party_id": party_id})
        await _until(alice, "party_join_request", lambda r, s=sock: r["presences"][0]["user_id"] == s.user_id)
    listed = (await alice.request("party_join_request_list", {"party_id": party_id}))["party_join_request"]
    presences = {p["user_id"]: p for p in listed["presences"]}
    assert set(presences) == {bob.user_id, carol.user_id}
    for sock in (bob, carol):
        await alice.request("party_accept", {"party_id": party_id, "presence": presences[sock.user_id]})
        assert (await sock.push("party"))["leader"]["user_id"] == alice.user_id
    # Bob's node knows carol is in (on a cluster, presences reach the other node a moment later).
    await _until(
        bob, "party_presence_event", lambda e: any(p["user_id"] == carol.user_id for p in e["joins"])
    )

    op_code, raw = 2**40, bytes(range(256))
    await bob.send({"party_data_send": {"party_id": party_id, "op_code": str(op_code), "data": _b64(raw)}})
    got = await alice.push("party_data")
    assert _last(alice).party_data.data == raw and _last(alice).party_data.op_code == op_code
    assert got["presence"]["user_id"] == bob.user_id
    from_json = await carol.push("party_data")
    assert from_json["op_code"] == str(op_code) and base64.b64decode(from_json["data"]) == raw

    leader = await alice.request("party_promote", {"party_id": party_id, "presence": presences[bob.user_id]})
    assert leader["party_leader"]["presence"]["user_id"] == bob.user_id
    assert (await carol.push("party_leader"))["presence"]["user_id"] == bob.user_id
    await bob.request("party_remove", {"party_id": party_id, "presence": presences[carol.user_id]})
    await _until(
        alice, "party_presence_event", lambda e: any(p["user_id"] == carol.user_id for p in e["leaves"])
    )
    await alice.request("party_leave", {"party_id": party_id})
    await bob.request("party_close", {"party_id": party_id})
    assert (await bob.push("party_close"))["party_id"] == party_id
    await _close(alice, bob, carol)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_matches_and_the_matchmaker(deployment: Deployment) -> None:
    alice, bob, carol = await _sockets(deployment, ["protobuf", "protobuf", "json"])
    # Relayed: int64 op codes and raw bytes, to a JSON player as well.
    match = (await alice.request("match_create"))["match"]
    for sock in (bob, carol):
        for _ in range(50):  # on a cluster the other node learns of a new relayed match a moment later
            joined = await sock.request("match_join", {"match_id": match["match_id"]})
            if "match" in joined:
                break
            await asyncio.sleep(0.1)
        assert joined["match"]["match_id"] == match["match_id"]
        # Alice's node knows the new member before she sends.
        await _until(
            alice,
            "match_presence_event",
            lambda e, s=sock: any(p["user_id"] == s.user_id for p in e["joins"]),
        )
    body = {"match_id": match["match_id"], "op_code": str(-(2**62)), "data": _b64(b"\x00\xffbin")}
    await alice.send({"match_data_send": body})
    await bob.push("match_data")
    data = _last(bob).match_data
    assert data.op_code == -(2**62) and data.data == b"\x00\xffbin" and data.presence.user_id == alice.user_id
    assert base64.b64decode((await carol.push("match_data"))["data"]) == b"\x00\xffbin"
    await carol.request("match_leave", {"match_id": match["match_id"]})
    await _until(bob, "match_presence_event", lambda e: e.get("leaves"))

    # Authoritative (the example arena): the handler broadcasts a move back to everyone.
    arena = orjson.loads(
        (await alice.request("rpc", {"id": "create_arena", "payload": "{}"}))["rpc"]["payload"]
    )
    joined = (await alice.request("match_join", {"match_id": arena["match_id"]}))["match"]
    assert joined["authoritative"] is True and orjson.loads(joined["label"])["players"] >= 0
    await bob.request("match_join", {"match_id": arena["match_id"]})
    await alice.send(
        {"match_data_send": {"match_id": arena["match_id"], "op_code": "1", "data": _b64(b"north")}}
    )
    moved = await _until(
        bob, "match_data", lambda d: d["match_id"] == arena["match_id"] and d.get("op_code") == "2"
    )
    assert base64.b64decode(moved["data"]) == b"north"

    # Matchmaker: two protobuf players matched (across nodes on a cluster), a removed ticket.
    mode = unique("m")
    query = {"min_count": 2, "max_count": 2, "query": f"+properties.mode:{mode}"}
    ticket = (
        await alice.request(
            "matchmaker_add",
            query | {"string_properties": {"mode": mode}, "numeric_properties": {"level": 7.5}},
        )
    )["matchmaker_ticket"]["ticket"]
    await bob.request("matchmaker_add", query | {"string_properties": {"mode": mode}})
    matched = [await s.push("matchmaker_matched") for s in (alice, bob)]
    assert matched[0]["token"] == matched[1]["token"] and matched[0]["ticket"] == ticket
    me = next(u for u in matched[0]["users"] if u["presence"]["user_id"] == alice.user_id)
    assert me["numeric_properties"] == {"level": 7.5} and me["string_properties"] == {"mode": mode}
    joined = (await alice.request("match_join", {"token": matched[0]["token"]}))["match"]
    assert joined["self"]["user_id"] == alice.user_id
    lone = await carol.request("matchmaker_add", query | {"query": "+properties.mode:nobody"})
    removed = await carol.request("matchmaker_remove", {"ticket": lone["matchmaker_ticket"]["ticket"]})
    assert set(removed) == {"cid"}

    # Party matchmaking: the leader's ticket reaches the member.
    party_id = (await alice.request("party_create", {"open": True, "max_size": 2}))["party"]["party_id"]
    await bob.request("party_join", {"party_id": party_id})
    await bob.push("party")
    await asyncio.sleep(0.2)
    body = {"party_id": party_id, "min_count": 4, "max_count": 4, "query": "+properties.mode:nobody"}
    reply = (await alice.request("party_matchmaker_add", body))["party_matchmaker_ticket"]
    assert await bob.push("party_matchmaker_ticket") == reply
    removed = await alice.request(
        "party_matchmaker_remove", {"party_id": party_id, "ticket": reply["ticket"]}
    )
    assert "error" not in removed
    await _close(alice, bob, carol)

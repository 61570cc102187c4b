"""The realtime socket on one node: connect, envelopes, errors, status, chat, limits."""

from __future__ import annotations

import asyncio
import base64
import uuid

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from overworld.config import Settings
from overworld.node import Node
from overworld.protocol.pb import realtime_pb2
from tests.realtime_support import Socket, authenticate, live_server, open_socket
from tests.support import bearer

# Every test runs with a JSON and with a protobuf socket (tests/realtime_support.py).
pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("socket_format")]


@pytest.fixture
async def host(settings: Settings, node: Node):
    async with live_server(settings, node) as h:
        yield h


async def _user(host: str, node: Node, status: bool = False, username: str | None = None) -> Socket:
    session = await authenticate(host, node.default_title.server_key, username)
    return await open_socket(host, session, status)


async def _user_in(host: str, node: Node, fmt: str) -> Socket:
    session = await authenticate(host, node.default_title.server_key)
    return await open_socket(host, session, fmt=fmt)


# -- connecting -------------------------------------------------------------------------------


async def test_bad_tokens_are_refused_before_the_upgrade_with_401(host):
    for token in ("", "nonsense", "a.b.c"):
        with pytest.raises(InvalidStatus) as info:
            await connect(f"ws://{host}/ws?token={token}")
        assert info.value.response.status_code == 401
        body = orjson.loads(info.value.response.body)
        assert body["code"] == 16 and body["message"]


async def test_unsupported_format_is_refused(host, node):
    session = await authenticate(host, node.default_title.server_key)
    with pytest.raises(InvalidStatus) as info:
        await connect(f"ws://{host}/ws?format=xml&token={session['token']}")
    assert info.value.response.status_code == 400
    assert "json or protobuf" in orjson.loads(info.value.response.body)["message"]


async def test_each_format_gets_its_own_frames(host, node, socket_format):
    sock = await _user(host, node)
    assert (await sock.request("ping"))["pong"] == {}
    frame = sock.frames[-1]
    if socket_format == "protobuf":
        assert isinstance(frame, bytes)
        assert frame == realtime_pb2.Envelope(cid="1", pong=realtime_pb2.Pong()).SerializeToString()
    else:
        assert frame == '{"cid":"1","pong":{}}'
    await sock.close()


async def test_ping_pong_and_cid_correlation(host, node):
    sock = await _user(host, node)
    replies = await asyncio.gather(*(sock.request("ping") for _ in range(5)))
    assert all(r == {"cid": r["cid"], "pong": {}} for r in replies)
    assert len({r["cid"] for r in replies}) == 5
    # A client's pong is accepted silently: no error, no reply, the socket stays open.
    await sock.send({"pong": {}})
    await sock.no_push("error")
    assert (await sock.request("ping"))["pong"] == {}
    await sock.close()


# -- bad envelopes never close the socket -----------------------------------------------------


async def test_malformed_envelopes_get_error_envelopes_and_the_socket_stays_open(host, node, socket_format):
    if socket_format != "json":
        pytest.skip("JSON envelopes; protobuf: test_malformed_protobuf_envelopes")
    sock = await _user(host, node)
    other = await _user(host, node)
    await sock.send_raw("not json at all")
    assert (await sock.push("error"))["code"] == 1
    await sock.send_raw('{"cid": "7", "no_such_message": {}}')
    error = await sock.push("error")
    assert error["code"] == 1 and error["message"] == "Unrecognized message"
    await sock.send_raw('{"cid": "8"}')
    assert (await sock.push("error"))["code"] == 2
    await sock.send_raw('{"cid": "9", "channel_join": {"target": 5}}')
    error = await sock.push("error")
    assert error["code"] == 3 and "target" in error["message"]
    await sock.send_raw('{"cid": "10", "ping": {}, "status_update": {}}')
    assert (await sock.push("error"))["code"] == 3
    reply = await sock.request("channel_join", {"target": "", "type": 1})
    assert reply["error"]["code"] == 3
    assert (await sock.request("ping"))["pong"] == {}
    assert (await other.request("ping"))["pong"] == {}
    await sock.close()
    await other.close()


async def test_malformed_protobuf_envelopes_get_error_envelopes_and_the_socket_stays_open(
    host, node, socket_format
):
    if socket_format != "protobuf":
        pytest.skip("protobuf envelopes; JSON: test_malformed_envelopes_...")
    sock = await _user(host, node)
    await sock.send_raw(b"\x0a\x05ab")  # a cid whose length runs past the end
    error = await sock.push("error")
    assert error["code"] == 1 and "protobuf" in error["message"]
    await sock.send_raw('{"cid": "1", "ping": {}}')  # text on a protobuf socket
    assert (await sock.push("error"))["code"] == 1
    # A field number the schema does not know (a newer message kind): unrecognized, with the cid.
    await sock.send_raw(realtime_pb2.Envelope(cid="7").SerializeToString() + b"\xca\x06\x00")
    assert await sock.push("error") == {"code": 1, "message": "Unrecognized message"}
    assert sock.frames and realtime_pb2.Envelope.FromString(sock.frames[-1]).cid == "7"
    await sock.send_raw(realtime_pb2.Envelope(cid="8").SerializeToString())
    assert (await sock.push("error"))["code"] == 2
    # Kinds the server sends, and Nakama's stream messages, are not requests.
    for kind in ("channel", "stream_data", "match_data"):
        reply = await sock.request(kind, {})
        assert reply["error"] == {"code": 1, "message": "Unrecognized message"}, kind
    reply = await sock.request("channel_join", {"target": "", "type": 1})
    assert reply["error"]["code"] == 3
    assert (await sock.request("ping"))["pong"] == {}
    await sock.close()


async def test_protobuf_and_json_sockets_share_a_party_with_binary_data_and_int64_op_codes(host, node):
    """Party data from a protobuf socket (raw bytes, an int64 op code) reaches a JSON socket as
    base64 and a decimal string, and the other way round."""
    pb = await _user_in(host, node, "protobuf")
    js = await _user_in(host, node, "json")
    party_id = (await pb.request("party_create", {"open": True, "max_size": 3}))["party"]["party_id"]
    await js.request("party_join", {"party_id": party_id})
    await js.push("party")
    big = 2**40 + 3
    raw = bytes(range(256))
    await pb.ws.send(
        realtime_pb2.Envelope(
            party_data_send=realtime_pb2.PartyDataSend(party_id=party_id, op_code=big, data=raw)
        ).SerializeToString()
    )
    data = await js.push("party_data")
    assert data["op_code"] == str(big) and base64.b64decode(data["data"]) == raw
    await js.send({"party_data_send": {"party_id": party_id, "op_code": str(-big), "data": "AAEC"}})
    await pb.push("party_data")
    received = realtime_pb2.Envelope.FromString(pb.frames[-1]).party_data
    assert received.op_code == -big and received.data == b"\x00\x01\x02"
    assert received.presence.user_id == js.user_id
    await pb.close()
    await js.close()


async def test_oversized_message_gets_an_error_and_a_close(host, node):
    sock = await _user(host, node)
    await sock.send({"cid": "1", "rpc": {"id": "x", "payload": "y" * 5000}})
    error = await sock.push("error")
    assert "too large" in error["message"]
    code, _ = await asyncio.wait_for(sock.closed, 5)
    assert code == 1009


async def test_rpc_over_the_socket(host, node):
    sock = await _user(host, node)
    reply = await sock.request("rpc", {"id": "nope", "payload": "{}"})
    assert reply["error"]["code"] == 6
    reply = await sock.request("rpc", {"payload": "{}"})
    assert reply["error"]["code"] == 3
    await sock.close()


# -- status -------------------------------------------------------------------------------------


async def test_status_follow_update_and_offline(host, node):
    alice = await _user(host, node, status=True)
    bob = await _user(host, node)
    status = (await bob.request("status_follow", {"user_ids": [alice.user_id]}))["status"]
    assert [p["user_id"] for p in status["presences"]] == [alice.user_id]
    assert (await alice.request("status_update", {"status": "in a match"})) == {"cid": "1"}
    event = await bob.push("status_presence_event")
    assert event["joins"][0]["status"] == "in a match" and event["joins"][0]["user_id"] == alice.user_id
    assert event["leaves"][0]["user_id"] == alice.user_id
    await alice.close()
    event = await bob.push("status_presence_event")
    assert event["leaves"][0]["user_id"] == alice.user_id and not event.get("joins")
    await bob.request("status_unfollow", {"user_ids": [alice.user_id]})
    again = await _user(host, node, status=True)
    await bob.no_push("status_presence_event")
    bad = await bob.request("status_follow", {"user_ids": ["not-a-uuid"]})
    assert bad["error"]["code"] == 3
    await bob.close()
    await again.close()


async def test_status_follow_by_username_ignores_unknown_and_self(host, node):
    alice = await _user(host, node, status=True)
    bob = await _user(host, node)
    reply = await bob.request(
        "status_follow",
        {"usernames": [alice.session["username"], "nobody-" + uuid.uuid4().hex], "user_ids": [bob.user_id]},
    )
    assert [p["user_id"] for p in reply["status"]["presences"]] == [alice.user_id]
    await alice.close()
    await bob.close()


# -- chat ---------------------------------------------------------------------------------------


async def test_room_chat_delivers_to_members_and_persists_history(host, node):
    alice = await _user(host, node)
    bob = await _user(host, node)
    room = "lobby-" + uuid.uuid4().hex[:8]
    channel = (await alice.request("channel_join", {"target": room, "type": 1}))["channel"]
    assert channel["id"] == f"2...{room}" and channel["room_name"] == room
    assert channel["self"]["user_id"] == alice.user_id
    own = await alice.push("channel_presence_event")  # everyone on the stream hears a join, the joiner too
    assert own["joins"][0]["user_id"] == alice.user_id
    joined = (await bob.request("channel_join", {"target": room, "type": 1, "persistence": True}))["channel"]
    assert {p["user_id"] for p in joined["presences"]} == {alice.user_id, bob.user_id}
    event = await alice.push("channel_presence_event")
    assert event["channel_id"] == channel["id"] and event["joins"][0]["user_id"] == bob.user_id

    ack = (await bob.request("channel_message_send", {"channel_id": channel["id"], "content": '{"hi":1}'}))[
        "channel_message_ack"
    ]
    assert ack["persistent"] is True and ack["code"] == 0 and ack["room_name"] == room
    message = await alice.push("channel_message")
    assert message["message_id"] == ack["message_id"] and message["content"] == '{"hi":1}'
    assert message["sender_id"] == bob.user_id and message["username"] == bob.session["username"]

    updated = await bob.request(
        "channel_message_update",
        {"channel_id": channel["id"], "message_id": ack["message_id"], "content": '{"hi":2}'},
    )
    assert updated["channel_message_ack"]["code"] == 1
    assert (await alice.push("channel_message"))["content"] == '{"hi":2}'
    stolen = await alice.request(
        "channel_message_remove", {"channel_id": channel["id"], "message_id": ack["message_id"]}
    )
    assert stolen["error"]["code"] == 3

    async with httpx.AsyncClient(base_url=f"http://{host}") as http:
        history = (
            await http.get(f"/v2/channel/{channel['id']}", headers=bearer(alice.session["token"]))
        ).json()
    assert [m["content"] for m in history["messages"]] == ['{"hi":2}']

    await bob.request("channel_leave", {"channel_id": channel["id"]})
    event = await alice.push("channel_presence_event")
    assert event["leaves"][0]["user_id"] == bob.user_id
    denied = await bob.request("channel_message_send", {"channel_id": channel["id"], "content": "{}"})
    assert denied["error"]["code"] == 3
    await alice.close()
    await bob.close()


async def test_chat_content_must_be_a_json_object(host, node):
    sock = await _user(host, node)
    channel = (await sock.request("channel_join", {"target": "r" + uuid.uuid4().hex[:6], "type": 1}))[
        "channel"
    ]
    for content in ("hello", "[1]", "1"):
        reply = await sock.request("channel_message_send", {"channel_id": channel["id"], "content": content})
        assert reply["error"]["code"] == 3
    await sock.close()


async def test_hidden_presences_are_not_listed_or_announced(host, node):
    alice = await _user(host, node)
    bob = await _user(host, node)
    room = "r" + uuid.uuid4().hex[:6]
    await alice.request("channel_join", {"target": room, "type": 1})
    await alice.push("channel_presence_event")
    joined = (await bob.request("channel_join", {"target": room, "type": 1, "hidden": True}))["channel"]
    assert [p["user_id"] for p in joined["presences"]] == [alice.user_id]
    await alice.no_push("channel_presence_event")
    await alice.close()
    await bob.close()


async def test_direct_messages_notify_the_other_user_and_are_private(host, node):
    alice = await _user(host, node)
    bob = await _user(host, node)
    eve = await _user(host, node)
    channel = (await alice.request("channel_join", {"target": bob.user_id, "type": 2}))["channel"]
    one, two = sorted([alice.user_id, bob.user_id])
    assert channel["id"] == f"4.{one}.{two}." and channel["user_id_one"] == one
    notes = await bob.push("notifications")
    assert notes["notifications"][0]["code"] == -1 and notes["notifications"][0]["sender_id"] == alice.user_id
    self_dm = await alice.request("channel_join", {"target": alice.user_id, "type": 2})
    assert self_dm["error"]["code"] == 3
    missing = await alice.request("channel_join", {"target": str(uuid.uuid4()), "type": 2})
    assert missing["error"]["code"] == 3
    await alice.request("channel_message_send", {"channel_id": channel["id"], "content": '{"a":1}'})
    async with httpx.AsyncClient(base_url=f"http://{host}") as http:
        ok = await http.get(f"/v2/channel/{channel['id']}", headers=bearer(bob.session["token"]))
        assert len(ok.json()["messages"]) == 1
        denied = await http.get(f"/v2/channel/{channel['id']}", headers=bearer(eve.session["token"]))
        assert denied.status_code == 403
    for s in (alice, bob, eve):
        await s.close()


async def test_chat_flood_limit_per_user(host, node):
    sock = await _user(host, node)
    channel = (await sock.request("channel_join", {"target": "r" + uuid.uuid4().hex[:6], "type": 1}))[
        "channel"
    ]
    replies = [
        await sock.request("channel_message_send", {"channel_id": channel["id"], "content": "{}"})
        for _ in range(node.settings.chat_rate_limit * 2 + 5)
    ]
    errors = [r for r in replies if "error" in r]
    assert errors and "rate limit" in errors[0]["error"]["message"].lower()
    await sock.close()


# -- history paging -----------------------------------------------------------------------------


async def test_channel_history_cursors_in_both_directions(host, node):
    sock = await _user(host, node)
    channel = (await sock.request("channel_join", {"target": "h" + uuid.uuid4().hex[:6], "type": 1}))[
        "channel"
    ]
    for i in range(5):
        await sock.request("channel_message_send", {"channel_id": channel["id"], "content": f'{{"n":{i}}}'})
        await asyncio.sleep(0.002)
    headers = bearer(sock.session["token"])
    async with httpx.AsyncClient(base_url=f"http://{host}") as http:
        url = f"/v2/channel/{channel['id']}"
        first = (await http.get(url, params={"limit": 2, "forward": "true"}, headers=headers)).json()
        assert [orjson.loads(m["content"])["n"] for m in first["messages"]] == [0, 1]
        second = (
            await http.get(url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers)
        ).json()
        assert [orjson.loads(m["content"])["n"] for m in second["messages"]] == [2, 3]
        back = (
            await http.get(url, params={"limit": 2, "cursor": second["prev_cursor"]}, headers=headers)
        ).json()
        assert [orjson.loads(m["content"])["n"] for m in back["messages"]] == [1, 0]
        newest = (await http.get(url, params={"limit": 3, "forward": "false"}, headers=headers)).json()
        assert [orjson.loads(m["content"])["n"] for m in newest["messages"]] == [4, 3, 2]
        bad = await http.get(url, params={"limit": 0}, headers=headers)
        assert bad.status_code == 400
        bad = await http.get("/v2/channel/not-a-channel", headers=headers)
        assert bad.status_code == 400
    await sock.close()


# -- notifications -----------------------------------------------------------------------------


async def test_notifications_live_listed_with_cacheable_cursor_and_deleted(host, node):
    sock = await _user(host, node)
    title_id = node.default_title.id
    notes = [
        node.notifications.make(sock.user_id, f"subject {i}", f'{{"i": {i}}}', 5, persistent=i != 2)
        for i in range(3)
    ]
    await node.notifications.send(title_id, notes)
    live = await sock.push("notifications")
    assert [n["subject"] for n in live["notifications"]] == ["subject 0", "subject 1", "subject 2"]
    assert live["notifications"][2].get("persistent", False) is False
    headers = bearer(sock.session["token"])
    async with httpx.AsyncClient(base_url=f"http://{host}") as http:
        page = (await http.get("/v2/notification", params={"limit": 10}, headers=headers)).json()
        assert [n["subject"] for n in page["notifications"]] == ["subject 0", "subject 1"]
        cursor = page["cacheable_cursor"]
        empty = (
            await http.get(
                "/v2/notification", params={"limit": 10, "cacheable_cursor": cursor}, headers=headers
            )
        ).json()
        assert not empty.get("notifications")
        await node.notifications.send(title_id, [node.notifications.make(sock.user_id, "later", "{}", 6)])
        newer = (
            await http.get(
                "/v2/notification", params={"limit": 10, "cacheable_cursor": cursor}, headers=headers
            )
        ).json()
        assert [n["subject"] for n in newer["notifications"]] == ["later"]
        ids = [n["id"] for n in page["notifications"]]
        deleted = await http.delete("/v2/notification", params={"ids": ids}, headers=headers)
        assert deleted.status_code == 200
        left = (await http.get("/v2/notification", params={"limit": 10}, headers=headers)).json()
        assert [n["subject"] for n in left["notifications"]] == ["later"]
    await sock.close()


# -- sessions ---------------------------------------------------------------------------------


async def test_logout_closes_the_socket(host, node):
    sock = await _user(host, node)
    other = await _user(host, node)
    async with httpx.AsyncClient(base_url=f"http://{host}") as http:
        response = await http.post(
            "/v2/session/logout", json={"token": sock.session["token"]}, headers=bearer(sock.session["token"])
        )
        assert response.status_code == 200
    code, reason = await asyncio.wait_for(sock.closed, 5)
    assert code == 1000 and "revoked" in reason
    assert (await other.request("ping"))["pong"] == {}
    await other.close()


async def test_single_socket_per_user_closes_the_older_one(host, node, settings):
    node.hub._max_per_user = 1
    session = await authenticate(host, node.default_title.server_key)
    first = await open_socket(host, session)
    await first.request("ping")
    second = await open_socket(host, session)
    code, _ = await asyncio.wait_for(first.closed, 5)
    assert code == 1008
    assert (await second.request("ping"))["pong"] == {}
    await second.close()


# -- parties ------------------------------------------------------------------------------------


async def test_closed_party_requests_accept_data_promote_leave_and_close(host, node):
    alice = await _user(host, node)
    bob = await _user(host, node)
    carol = await _user(host, node)
    party = (await alice.request("party_create", {"open": False, "max_size": 2}))["party"]
    party_id = party["party_id"]
    assert party["leader"]["user_id"] == alice.user_id and party["max_size"] == 2
    assert [p["user_id"] for p in party["presences"]] == [alice.user_id]

    assert await bob.request("party_join", {"party_id": party_id}) == {"cid": "1"}
    request = await alice.push("party_join_request")
    assert request["presences"][0]["user_id"] == bob.user_id
    listed = (await alice.request("party_join_request_list", {"party_id": party_id}))["party_join_request"]
    assert [p["user_id"] for p in listed["presences"]] == [bob.user_id]
    bob_presence = listed["presences"][0]
    refused = await carol.request("party_accept", {"party_id": party_id, "presence": bob_presence})
    assert refused["error"]["code"] == 3  # only the leader accepts
    await alice.request("party_accept", {"party_id": party_id, "presence": bob_presence})
    joined = await bob.push("party")
    assert joined["party_id"] == party_id and joined["leader"]["user_id"] == alice.user_id
    event = await alice.push("party_presence_event")
    assert any(p["user_id"] == bob.user_id for p in event["joins"])

    await carol.request("party_join", {"party_id": party_id})
    carol_presence = (await alice.push("party_join_request"))["presences"][0]
    full = await alice.request("party_accept", {"party_id": party_id, "presence": carol_presence})
    assert full["error"]["code"] == 3 and "full" in full["error"]["message"]

    await bob.send({"party_data_send": {"party_id": party_id, "op_code": "7", "data": "aGk="}})
    data = await alice.push("party_data")
    assert data["op_code"] == "7" and data["data"] == "aGk=" and data["presence"]["user_id"] == bob.user_id
    await bob.no_push("party_data")

    leader = (await alice.request("party_promote", {"party_id": party_id, "presence": bob_presence}))[
        "party_leader"
    ]
    assert leader["presence"]["user_id"] == bob.user_id
    assert (await bob.push("party_leader"))["presence"]["user_id"] == bob.user_id
    await alice.request("party_leave", {"party_id": party_id})
    left = await bob.push("party_presence_event")
    assert left["leaves"][0]["user_id"] == alice.user_id
    await bob.request("party_close", {"party_id": party_id})
    assert (await bob.push("party_close"))["party_id"] == party_id
    gone = await carol.request("party_join", {"party_id": party_id})
    assert gone["error"]["code"] == 3
    for s in (alice, bob, carol):
        await s.close()


async def test_open_party_join_and_leader_handover_on_disconnect(host, node):
    alice = await _user(host, node)
    bob = await _user(host, node)
    party_id = (await alice.request("party_create", {"open": True, "max_size": 4}))["party"]["party_id"]
    await bob.request("party_join", {"party_id": party_id})
    assert [p["user_id"] for p in (await bob.push("party"))["presences"]] == [alice.user_id, bob.user_id]
    await alice.close()
    assert (await bob.push("party_leader"))["presence"]["user_id"] == bob.user_id
    bad = await bob.request("party_create", {"open": True, "max_size": 0})
    assert bad["error"]["code"] == 3
    bad = await bob.request("party_join", {"party_id": "nonsense"})
    assert bad["error"]["code"] == 3
    await bob.close()


# -- server code --------------------------------------------------------------------------------


async def test_before_hook_can_reject_a_channel_join_and_server_code_sends_notifications(host, node):
    from overworld.errors import PermissionDenied
    from overworld.runtime.server_api import ServerApi

    async def no_secret_rooms(ctx, request):
        if request.target.startswith("secret"):
            raise PermissionDenied("No secret rooms.")
        return request

    node.hooks.before("ChannelJoin", no_secret_rooms, node.default_title.id)
    sock = await _user(host, node)
    refused = await sock.request("channel_join", {"target": "secret-1", "type": 1})
    assert refused["error"] == {"code": 3, "message": "No secret rooms."}
    assert "channel" in await sock.request("channel_join", {"target": "open-1", "type": 1})

    nk = ServerApi(node.runtime, node.default_title, "test")
    await nk.notification_send(sock.user_id, "Reward", {"coins": 5}, code=101)
    note = (await sock.push("notifications"))["notifications"][0]
    assert (
        note["subject"] == "Reward" and orjson.loads(note["content"]) == {"coins": 5} and note["code"] == 101
    )
    with pytest.raises(Exception, match="greater than 0"):
        await nk.notification_send(sock.user_id, "Nope", {}, code=-2)
    assert await nk.notifications_send_all("Maintenance", {"minutes": 30}, code=900) >= 1
    assert (await sock.push("notifications"))["notifications"][0]["subject"] == "Maintenance"
    await sock.close()


async def test_friend_requests_notify_and_group_channels_need_membership(host, node):
    alice = await _user(host, node)
    bob = await _user(host, node)
    async with httpx.AsyncClient(base_url=f"http://{host}") as http:
        added = await http.post(
            "/v2/friend", params={"ids": bob.user_id}, headers=bearer(alice.session["token"])
        )
        assert added.status_code == 200, added.text
        note = (await bob.push("notifications"))["notifications"][0]
        assert note["code"] == -2 and note["sender_id"] == alice.user_id
        group = await http.post(
            "/v2/group",
            json={"name": "g" + uuid.uuid4().hex[:8], "open": True},
            headers=bearer(alice.session["token"]),
        )
        assert group.status_code == 200, group.text
        group_id = group.json()["id"]
        denied = await bob.request("channel_join", {"target": group_id, "type": 3})
        assert denied["error"]["code"] == 3
        joined = await http.post(f"/v2/group/{group_id}/join", headers=bearer(bob.session["token"]))
        assert joined.status_code == 200, joined.text
    channel = (await bob.request("channel_join", {"target": group_id, "type": 3}))["channel"]
    assert channel["id"] == f"3.{group_id}.." and channel["group_id"] == group_id
    await alice.close()
    await bob.close()


# -- online in users, friends and group members ---------------------------------------------------


async def test_online_tells_whether_a_user_has_a_socket_open(host, node):
    alice = await _user(host, node)  # connected (not appearing online: connected is enough)
    bob = await authenticate(host, node.default_title.server_key)  # no socket
    carol = await authenticate(host, node.default_title.server_key)
    ids = [alice.session["user_id"], bob["user_id"]]
    async with httpx.AsyncClient(base_url=f"http://{host}") as http:
        h = bearer(carol["token"])

        async def online_of(path: str, key: str, **params: object) -> dict[str, bool]:
            response = await http.get(path, params=params, headers=h)
            assert response.status_code == 200, response.text
            entries = response.json().get(key, [])
            users = [e.get("user", e) for e in entries]
            return {u["id"]: u.get("online", False) for u in users if u["id"] in ids}

        assert await online_of("/v2/user", "users", ids=ids) == {ids[0]: True, ids[1]: False}
        for friend in ids:
            await http.post("/v2/friend", params={"ids": friend}, headers=h)
        assert await online_of("/v2/friend", "friends") == {ids[0]: True, ids[1]: False}
        group = (
            await http.post("/v2/group", json={"name": str(uuid.uuid4()), "open": True}, headers=h)
        ).json()
        await http.post(f"/v2/group/{group['id']}/add", params={"user_ids": ids}, headers=h)
        assert await online_of(f"/v2/group/{group['id']}/user", "group_users") == {
            ids[0]: True,
            ids[1]: False,
        }

        await alice.close()
        for _ in range(100):  # the socket's presence leaves as it closes
            if await online_of("/v2/user", "users", ids=ids) == {ids[0]: False, ids[1]: False}:
                break
            await asyncio.sleep(0.02)
        assert await online_of("/v2/user", "users", ids=ids) == {ids[0]: False, ids[1]: False}

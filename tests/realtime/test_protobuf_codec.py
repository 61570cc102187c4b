"""The protobuf form of every envelope is the JSON form in protobuf: each message kind the server
sends, encoded by `overworld.protocol.protobuf`, reads back through the protobuf library's own
protojson mapping as exactly the JSON the JSON socket sends; each kind a client sends decodes to
the same message as its JSON does."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from google.protobuf import json_format

from overworld.api.calls import SOCKET_CALLS
from overworld.api.socket import dispatch
from overworld.protocol import matches as wm
from overworld.protocol import matchmaker as mm
from overworld.protocol import protobuf
from overworld.protocol import realtime as rt
from overworld.protocol.pb import realtime_pb2
from overworld.realtime import codec

ME = rt.UserPresence(user_id="u1", session_id="s1", username="ann", persistence=True, status="away")
YOU = rt.UserPresence(user_id="u2", session_id="s2", username="bob")
TARGET = {"room_name": "lobby", "group_id": "g", "user_id_one": "a", "user_id_two": "b"}
STAMP = "2026-12-06T07:00:00.123Z"
MM_USER = mm.MatchmakerUser(
    presence=ME, party_id="p.n", string_properties={"mode": "duel"}, numeric_properties={"level": 7.5}
)

# Every kind the server sends, with every field set (and some of them at a falsy value that still
# shows in JSON, such as a wrapper holding 0 or false).
SENT: dict[str, Any] = {
    "channel": rt.Channel(id="2...lobby", presences=[ME, YOU], self=ME, **TARGET),
    "channel_message": rt.ChannelMessage(
        channel_id="2...lobby", message_id="m", code=0, sender_id="u1", username="ann", content='{"a":1}',
        create_time=STAMP, update_time="2026-12-06T07:00:01Z", persistent=False, **TARGET,
    ),
    "channel_message_ack": rt.ChannelMessageAck(
        channel_id="c", message_id="m", code=2, username="ann", create_time=STAMP, update_time=STAMP,
        persistent=True, **TARGET,
    ),
    "channel_presence_event": rt.ChannelPresenceEvent(channel_id="c", joins=[ME], leaves=[YOU], **TARGET),
    "error": rt.Error(code=3, message="bad", context={"k": "v"}),
    "notifications": rt.Notifications(
        notifications=[
            rt.Notification(
                id="n", subject="s", content="{}", code=-2, sender_id="u2", create_time=STAMP, persistent=True
            )
        ]
    ),
    "status": rt.Status(presences=[ME]),
    "status_presence_event": rt.StatusPresenceEvent(joins=[ME], leaves=[YOU]),
    "party": rt.Party(
        party_id="p.n", open=True, max_size=4, self=ME, leader=YOU, presences=[ME, YOU], label='{"m":1}',
        hidden=True,
    ),
    "party_update": rt.PartyUpdate(party_id="p.n", label='{"m":2}', open=True, hidden=False, max_size=6),
    "party_presence_event": rt.PartyPresenceEvent(party_id="p.n", joins=[ME], leaves=[YOU]),
    "party_leader": rt.PartyLeader(party_id="p.n", presence=YOU),
    "party_join_request": rt.PartyJoinRequest(party_id="p.n", presences=[YOU]),
    "party_data": rt.PartyData(party_id="p.n", presence=ME, op_code=str(-(2**63)), data="AP8="),
    "party_close": rt.PartyClose(party_id="p.n"),
    "party_matchmaker_ticket": mm.PartyMatchmakerTicket(party_id="p.n", ticket="t"),
    "match": wm.Match(match_id="m.n", authoritative=True, label="", size=2, presences=[YOU], self=ME),
    "match_data": wm.MatchData(match_id="m.n", presence=ME, op_code=str(2**63 - 1), data="aGk=", reliable=True),
    "match_presence_event": wm.MatchPresenceEvent(match_id="m.", joins=[ME], leaves=[YOU]),
    "matchmaker_ticket": mm.MatchmakerTicket(ticket="t"),
    "matchmaker_matched": mm.MatchmakerMatched(ticket="t", token="tok", users=[MM_USER], self=MM_USER),
    "rpc": rt.Rpc(id="echo", payload="{}"),
    "pong": rt.Ping(),
}  # fmt: skip


def _json(kind: str, message: Any, cid: str = "") -> dict[str, Any]:
    result: dict[str, Any] = msgspec.json.decode(codec.frame(kind, message, cid).json())
    return result


def _read(data: bytes) -> dict[str, Any]:
    message = realtime_pb2.Envelope.FromString(data)
    result: dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return result


def test_every_kind_the_server_sends_is_covered() -> None:
    replies = {call.reply for call in SOCKET_CALLS if call.reply}
    pushed = {"channel_message", "channel_presence_event", "status_presence_event", "notifications", "error"}
    pushed |= {"party_presence_event", "party_data", "party_close", "match_data", "match_presence_event"}
    pushed |= {"matchmaker_matched", "party_join_request", "party_leader", "party", "rpc", "pong"}
    pushed |= {"party_update"}
    assert replies | pushed <= set(SENT)


@pytest.mark.parametrize("kind", sorted(SENT))
def test_protobuf_reads_back_as_the_json_form(kind: str) -> None:
    message = SENT[kind]
    for cid in ("", "42"):
        expected = _json(kind, message, cid)
        assert _read(protobuf.encode(kind, message, cid)) == expected
        # From the builtins (a frame that came from another node as JSON): the same bytes.
        assert protobuf.encode(kind, expected[kind], cid) == protobuf.encode(kind, message, cid)
        frame = codec.Frame.of_json(codec.frame(kind, message, cid).json())
        assert _read(frame.protobuf()) == expected


def test_int64_bytes_wrappers_and_timestamps_take_their_protobuf_types() -> None:
    envelope = realtime_pb2.Envelope.FromString(protobuf.encode("match_data", SENT["match_data"]))
    assert envelope.match_data.op_code == 2**63 - 1 and envelope.match_data.data == b"hi"
    assert envelope.match_data.presence.status.value == "away"
    ack = realtime_pb2.Envelope.FromString(protobuf.encode("channel_message", SENT["channel_message"]))
    message = ack.channel_message
    assert message.HasField("code") and message.code.value == 0
    assert message.HasField("persistent") and message.persistent.value is False
    assert message.create_time.seconds == 1796540400 and message.create_time.nanos == 123_000_000
    match = realtime_pb2.Envelope.FromString(protobuf.encode("match", SENT["match"])).match
    assert match.HasField("label") and match.label.value == ""
    relayed = realtime_pb2.Envelope.FromString(protobuf.encode("match", wm.Match(match_id="m."))).match
    assert not relayed.HasField("label")
    assert protobuf.encode("", None, "7") == realtime_pb2.Envelope(cid="7").SerializeToString()


# Every kind a client sends, with every field set, in protojson (as a client's JSON would be).
RECEIVED: dict[str, dict[str, Any]] = {
    "channel_join": {"target": "lobby", "type": 1, "persistence": False, "hidden": True},
    "channel_leave": {"channel_id": "c"},
    "channel_message_send": {"channel_id": "c", "content": '{"a":1}'},
    "channel_message_update": {"channel_id": "c", "message_id": "m", "content": "{}"},
    "channel_message_remove": {"channel_id": "c", "message_id": "m"},
    "ping": {},
    "pong": {},
    "rpc": {"id": "echo", "payload": "x", "http_key": "k"},
    "status_follow": {"user_ids": ["a", "b"], "usernames": ["c"]},
    "status_unfollow": {"user_ids": ["a"]},
    "status_update": {"status": ""},
    "party_create": {"open": True, "max_size": 3, "label": '{"mode":"duo"}', "hidden": True},
    "party_update": {"party_id": "p", "label": '{"mode":"trio"}', "open": True, "hidden": True, "max_size": 5},
    "party_join": {"party_id": "p"},
    "party_leave": {"party_id": "p"},
    "party_promote": {"party_id": "p", "presence": msgspec.to_builtins(YOU)},
    "party_accept": {"party_id": "p", "presence": msgspec.to_builtins(ME)},
    "party_remove": {"party_id": "p", "presence": msgspec.to_builtins(YOU)},
    "party_close": {"party_id": "p"},
    "party_join_request_list": {"party_id": "p"},
    "party_data_send": {"party_id": "p", "op_code": "-9", "data": "AP8="},
    "match_create": {"name": "arena"},
    "match_join": {"token": "t", "metadata": {"k": "v"}},
    "match_leave": {"match_id": "m."},
    "match_data_send": {
        "match_id": "m.", "op_code": str(2**62), "data": "aGk=", "presences": [msgspec.to_builtins(ME)],
        "reliable": True,
    },
    "matchmaker_add": {
        "min_count": 2, "max_count": 4, "query": "*", "string_properties": {"m": "d"},
        "numeric_properties": {"l": 1.5}, "count_multiple": 2,
    },
    "matchmaker_remove": {"ticket": "t"},
    "party_matchmaker_add": {
        "party_id": "p", "min_count": 2, "max_count": 4, "query": "*", "string_properties": {"m": "d"},
        "numeric_properties": {"l": 1.5}, "count_multiple": 0,
    },
    "party_matchmaker_remove": {"party_id": "p", "ticket": "t"},
}  # fmt: skip


def test_every_kind_a_client_sends_is_covered() -> None:
    assert set(RECEIVED) == set(rt.KINDS)


@pytest.mark.parametrize("kind", sorted(RECEIVED))
def test_a_protobuf_request_decodes_to_the_message_its_json_decodes_to(kind: str) -> None:
    envelope = {"cid": "5", kind: RECEIVED[kind]}
    from_json = msgspec.json.decode(msgspec.json.encode(envelope), type=rt.Envelope)
    data = json_format.ParseDict(envelope, realtime_pb2.Envelope()).SerializeToString()
    cid, decoded_kind, body = protobuf.decode(data)
    assert (cid, decoded_kind) == ("5", kind)
    message = msgspec.convert(body, dispatch._TYPES[kind])
    expected = getattr(from_json, kind)
    if kind in ("party_data_send", "match_data_send"):  # int64: a JSON string, a protobuf integer
        expected = msgspec.structs.replace(expected, op_code=int(expected.op_code))
    assert message == expected

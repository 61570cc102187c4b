"""Nakama's realtime messages (`rtapi/realtime.proto`), as JSON on the socket.

An envelope is an object with an optional `cid` and exactly one message field. `Envelope`
decodes what clients send (unknown fields are ignored, as protojson does); replies and pushes
are built as `{"cid": ..., "<kind>": message}` by `overworld.realtime.codec`.
"""

from __future__ import annotations

import msgspec

from overworld.protocol.base import Message
from overworld.protocol.matches import MatchCreate, MatchDataSend, MatchJoin, MatchLeave
from overworld.protocol.matchmaker import (
    MatchmakerAdd,
    MatchmakerRemove,
    PartyMatchmakerAdd,
    PartyMatchmakerRemove,
)
from overworld.protocol.presence import UserPresence as UserPresence  # known to most as rt.UserPresence

# -- client to server -------------------------------------------------------------------------


class ChannelJoin(Message):
    target: str = ""
    type: int = 0
    persistence: bool | None = None
    hidden: bool | None = None


class ChannelLeave(Message):
    channel_id: str = ""


class ChannelMessageSend(Message):
    channel_id: str = ""
    content: str = ""


class ChannelMessageUpdate(Message):
    channel_id: str = ""
    message_id: str = ""
    content: str = ""


class ChannelMessageRemove(Message):
    channel_id: str = ""
    message_id: str = ""


class Ping(Message):
    pass


class Rpc(Message):
    id: str = ""
    payload: str = ""
    http_key: str = ""


class StatusFollow(Message):
    user_ids: list[str] = msgspec.field(default_factory=list)
    usernames: list[str] = msgspec.field(default_factory=list)


class StatusUnfollow(Message):
    user_ids: list[str] = msgspec.field(default_factory=list)


class StatusUpdate(Message):
    status: str | None = None


class PartyCreate(Message):
    open: bool = False
    max_size: int = 0
    label: str = ""  # a JSON object, for ListParties queries
    hidden: bool = False  # never listed


class PartyUpdate(Message):
    """party_update (the leader's) and the party_update pushed to every member. label, open and
    hidden replace the party's; max_size is an Overworld extension (0 or absent: unchanged)."""

    party_id: str = ""
    label: str = ""
    open: bool = False
    hidden: bool = False
    max_size: int | None = None


class PartyId(Message):
    """party_join, party_leave, party_close and party_join_request_list carry only the id."""

    party_id: str = ""


class PartyMember(Message):
    """party_promote, party_accept and party_remove: a party and one of its presences."""

    party_id: str = ""
    presence: UserPresence | None = None


class PartyDataSend(Message):
    party_id: str = ""
    op_code: int | str = 0
    data: str = ""


class Envelope(Message):
    cid: str = ""
    channel_join: ChannelJoin | None = None
    channel_leave: ChannelLeave | None = None
    channel_message_send: ChannelMessageSend | None = None
    channel_message_update: ChannelMessageUpdate | None = None
    channel_message_remove: ChannelMessageRemove | None = None
    ping: Ping | None = None
    pong: Ping | None = None  # a client's answer to the server's ping: accepted, nothing sent back
    rpc: Rpc | None = None
    status_follow: StatusFollow | None = None
    status_unfollow: StatusUnfollow | None = None
    status_update: StatusUpdate | None = None
    party_create: PartyCreate | None = None
    party_join: PartyId | None = None
    party_leave: PartyId | None = None
    party_promote: PartyMember | None = None
    party_accept: PartyMember | None = None
    party_remove: PartyMember | None = None
    party_close: PartyId | None = None
    party_join_request_list: PartyId | None = None
    party_data_send: PartyDataSend | None = None
    party_update: PartyUpdate | None = None
    match_create: MatchCreate | None = None
    match_join: MatchJoin | None = None
    match_leave: MatchLeave | None = None
    match_data_send: MatchDataSend | None = None
    matchmaker_add: MatchmakerAdd | None = None
    matchmaker_remove: MatchmakerRemove | None = None
    party_matchmaker_add: PartyMatchmakerAdd | None = None
    party_matchmaker_remove: PartyMatchmakerRemove | None = None


KINDS = tuple(f for f in Envelope.__struct_fields__ if f != "cid")


# -- server to client -------------------------------------------------------------------------


class ChannelTarget(Message):
    """The fields that say which room, group or direct chat a channel message belongs to."""

    room_name: str = ""
    group_id: str = ""
    user_id_one: str = ""
    user_id_two: str = ""


class Channel(Message):
    id: str = ""
    presences: list[UserPresence] = msgspec.field(default_factory=list)
    self: UserPresence | None = None
    room_name: str = ""
    group_id: str = ""
    user_id_one: str = ""
    user_id_two: str = ""


class ChannelMessage(Message):
    channel_id: str = ""
    message_id: str = ""
    code: int | None = None
    sender_id: str = ""
    username: str = ""
    content: str = ""
    create_time: str = ""
    update_time: str = ""
    persistent: bool | None = None
    room_name: str = ""
    group_id: str = ""
    user_id_one: str = ""
    user_id_two: str = ""


class ChannelMessageAck(Message):
    channel_id: str = ""
    message_id: str = ""
    code: int | None = None
    username: str = ""
    create_time: str = ""
    update_time: str = ""
    persistent: bool | None = None
    room_name: str = ""
    group_id: str = ""
    user_id_one: str = ""
    user_id_two: str = ""


class ChannelPresenceEvent(Message):
    channel_id: str = ""
    joins: list[UserPresence] = msgspec.field(default_factory=list)
    leaves: list[UserPresence] = msgspec.field(default_factory=list)
    room_name: str = ""
    group_id: str = ""
    user_id_one: str = ""
    user_id_two: str = ""


class Error(Message):
    code: int = 0
    message: str = ""
    context: dict[str, str] = msgspec.field(default_factory=dict)


class Notification(Message):
    id: str = ""
    subject: str = ""
    content: str = ""
    code: int = 0
    sender_id: str = ""
    create_time: str = ""
    persistent: bool = False


class Notifications(Message):
    notifications: list[Notification] = msgspec.field(default_factory=list)


class Status(Message):
    presences: list[UserPresence] = msgspec.field(default_factory=list)


class StatusPresenceEvent(Message):
    joins: list[UserPresence] = msgspec.field(default_factory=list)
    leaves: list[UserPresence] = msgspec.field(default_factory=list)


class Party(Message):
    party_id: str = ""
    open: bool = False
    max_size: int = 0
    self: UserPresence | None = None
    leader: UserPresence | None = None
    presences: list[UserPresence] = msgspec.field(default_factory=list)
    label: str = ""
    hidden: bool = False


class PartyPresenceEvent(Message):
    party_id: str = ""
    joins: list[UserPresence] = msgspec.field(default_factory=list)
    leaves: list[UserPresence] = msgspec.field(default_factory=list)


class PartyLeader(Message):
    party_id: str = ""
    presence: UserPresence | None = None


class PartyJoinRequest(Message):
    party_id: str = ""
    presences: list[UserPresence] = msgspec.field(default_factory=list)


class PartyData(Message):
    party_id: str = ""
    presence: UserPresence | None = None
    op_code: str = "0"
    data: str = ""


class PartyClose(Message):
    party_id: str = ""

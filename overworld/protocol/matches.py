"""Nakama's realtime match messages (`rtapi/realtime.proto`: MatchCreate, MatchJoin, MatchLeave,
MatchDataSend and what the server sends back)."""

from __future__ import annotations

import msgspec

from overworld.protocol.base import Message
from overworld.protocol.presence import UserPresence

# -- client to server -------------------------------------------------------------------------


class MatchCreate(Message):
    name: str = ""


class MatchJoin(Message):
    match_id: str = ""
    token: str = ""
    metadata: dict[str, str] = msgspec.field(default_factory=dict)


class MatchLeave(Message):
    match_id: str = ""


class MatchDataSend(Message):
    match_id: str = ""
    op_code: int | str = 0
    data: str = ""  # base64, as protojson writes bytes
    presences: list[UserPresence] = msgspec.field(default_factory=list)
    reliable: bool = True


# -- server to client -------------------------------------------------------------------------


class Match(Message):
    """The reply to match_create and match_join."""

    match_id: str = ""
    authoritative: bool = False
    label: str | None = None  # relayed matches have none
    size: int = 0
    presences: list[UserPresence] = msgspec.field(default_factory=list)
    self: UserPresence | None = None


class MatchData(Message):
    match_id: str = ""
    presence: UserPresence | None = None  # None when the server (a match handler) sent it
    op_code: str = "0"  # int64, a string in JSON
    data: str = ""  # base64
    reliable: bool = False


class MatchPresenceEvent(Message):
    match_id: str = ""
    joins: list[UserPresence] = msgspec.field(default_factory=list)
    leaves: list[UserPresence] = msgspec.field(default_factory=list)


# -- REST (apigrpc: ListMatches) --------------------------------------------------------------


class ApiMatch(Message):
    """One match in `GET /v2/match`'s list."""

    match_id: str = ""
    authoritative: bool = False
    label: str | None = None
    size: int = 0
    tick_rate: int = 0
    handler_name: str = ""


class MatchList(Message):
    matches: list[ApiMatch] = msgspec.field(default_factory=list)


class ListMatchesRequest(Message):
    limit: int | None = None
    authoritative: bool | None = None
    label: str | None = None
    min_size: int | None = None
    max_size: int | None = None
    query: str | None = None

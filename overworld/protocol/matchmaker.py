"""Nakama's realtime matchmaker messages (`rtapi/realtime.proto`: MatchmakerAdd, MatchmakerRemove,
PartyMatchmakerAdd, PartyMatchmakerRemove and what the server sends back)."""

from __future__ import annotations

import msgspec

from overworld.protocol.base import Message
from overworld.protocol.presence import UserPresence

# -- client to server -------------------------------------------------------------------------


class MatchmakerAdd(Message):
    min_count: int = 0
    max_count: int = 0
    query: str = ""
    string_properties: dict[str, str] = msgspec.field(default_factory=dict)
    numeric_properties: dict[str, float] = msgspec.field(default_factory=dict)
    count_multiple: int | None = None


class MatchmakerRemove(Message):
    ticket: str = ""


class PartyMatchmakerAdd(Message):
    party_id: str = ""
    min_count: int = 0
    max_count: int = 0
    query: str = ""
    string_properties: dict[str, str] = msgspec.field(default_factory=dict)
    numeric_properties: dict[str, float] = msgspec.field(default_factory=dict)
    count_multiple: int | None = None


class PartyMatchmakerRemove(Message):
    party_id: str = ""
    ticket: str = ""


# -- server to client -------------------------------------------------------------------------


class MatchmakerTicket(Message):
    ticket: str = ""


class PartyMatchmakerTicket(Message):
    party_id: str = ""
    ticket: str = ""


class MatchmakerUser(Message):
    presence: UserPresence | None = None
    party_id: str = ""
    string_properties: dict[str, str] = msgspec.field(default_factory=dict)
    numeric_properties: dict[str, float] = msgspec.field(default_factory=dict)


class MatchmakerMatched(Message):
    """Sent to each matched player: exactly one of `match_id` (an authoritative match chosen
    by server code, or the match a backfill fills) and `token` (to join a relayed match)."""

    ticket: str = ""
    match_id: str | None = None
    token: str | None = None
    users: list[MatchmakerUser] = msgspec.field(default_factory=list)
    self: MatchmakerUser | None = None


# -- REST -------------------------------------------------------------------------------------


class MatchmakerCompletionStats(Message):
    create_time: str = ""  # RFC 3339: when the ticket was made
    complete_time: str = ""  # when it matched


class MatchmakerStats(Message):
    """`GET /v2/matchmaker/stats` (api.MatchmakerStats)."""

    ticket_count: int = 0
    oldest_ticket_create_time: str | None = None
    completions: list[MatchmakerCompletionStats] = msgspec.field(default_factory=list)

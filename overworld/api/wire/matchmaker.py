"""Nakama's realtime matchmaker messages (`rtapi/realtime.proto`: MatchmakerAdd, MatchmakerRemove,
PartyMatchmakerAdd, PartyMatchmakerRemove and what the server sends back)."""

from __future__ import annotations

import msgspec

from overworld.api.wire.base import Message

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

"""Nakama's realtime match messages (`rtapi/realtime.proto`: MatchCreate, MatchJoin, MatchLeave,
MatchDataSend and what the server sends back)."""

from __future__ import annotations

import msgspec

from overworld.api.wire.base import Message
from overworld.api.wire.presence import UserPresence

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

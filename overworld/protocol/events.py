"""Client events (Nakama's api.proto `Event`): `POST /v2/event` hands one to the server's event
handlers."""

from __future__ import annotations

import msgspec

from overworld.protocol.base import Message


class Event(Message):
    name: str = ""
    properties: dict[str, str] = msgspec.field(default_factory=dict)
    timestamp: str = ""  # RFC 3339, as the client saw it; the server stamps its own time
    external: bool = False

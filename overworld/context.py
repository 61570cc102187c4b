"""Who is making a call: passed from the protocol adapters to hooks and (later) server code."""

from __future__ import annotations

from dataclasses import dataclass, field

from overworld.titles.models import Title


@dataclass(frozen=True, slots=True)
class CallContext:
    title: Title
    user_id: str = ""  # empty for calls made with a server key or http key
    username: str = ""
    vars: dict[str, str] = field(default_factory=dict)
    token_id: str = ""  # the session token's id, for logout
    session_expires_at: int = 0
    client_ip: str = ""
    request_id: str = ""

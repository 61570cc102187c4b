"""Encode frames for the socket (JSON text; a protobuf codec would sit beside this one)."""

from __future__ import annotations

from typing import Any

import msgspec

from overworld.protocol import realtime as rt
from overworld.protocol.streams import Mode, Stream
from overworld.subsystems.presence.base import Presence

_encode = msgspec.json.Encoder().encode


def frame(kind: str, message: Any, cid: str = "") -> str:
    """One envelope as a text frame: `{"cid": ..., kind: message}` (no cid when empty)."""
    envelope = {"cid": cid, kind: message} if cid else {kind: message}
    return _encode(envelope).decode()


def reply(cid: str) -> str:
    """The empty reply to a request that returns nothing (status update, channel leave...)."""
    return _encode({"cid": cid}).decode() if cid else ""


def error(code: int, message: str, cid: str = "", context: dict[str, str] | None = None) -> str:
    return frame("error", rt.Error(code=code, message=message, context=context or {}), cid)


def user_presence(p: Presence, with_status: bool = False) -> rt.UserPresence:
    m = p.meta
    return rt.UserPresence(
        user_id=p.user_id,
        session_id=p.session_id,
        username=m.username,
        persistence=m.persistence,
        status=m.status if with_status else None,
    )


def channel_id(stream: Stream) -> str:
    return f"{stream.mode}.{stream.subject}.{stream.subcontext}.{stream.label}"


def channel_target(stream: Stream) -> dict[str, str]:
    """The room_name / group_id / user_id_one / user_id_two fields for a channel stream."""
    if stream.mode == Mode.CHANNEL:
        return {"room_name": stream.label}
    if stream.mode == Mode.GROUP:
        return {"group_id": stream.subject}
    if stream.mode == Mode.DM:
        return {"user_id_one": stream.subject, "user_id_two": stream.subcontext}
    return {}

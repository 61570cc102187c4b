"""Frames for the socket, in both of its formats: JSON text and protobuf binary.

A `Frame` is one envelope (`{"cid": ..., kind: message}`) whose wire forms are made on demand and
at most once each: the JSON bytes, the protobuf bytes, and each as a complete WebSocket frame. A
frame sent to many sockets (a chat message to a room, a presence event) is so encoded once per
format, whatever the number of sockets; a reply is encoded once, in its socket's format. Between
cluster nodes a frame travels as its JSON (`Frame.of_json` on arrival), from which a node that has
protobuf sockets makes the protobuf form itself, again once.
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from overworld.protocol import protobuf
from overworld.protocol import realtime as rt
from overworld.protocol.streams import Mode, Stream
from overworld.subsystems.presence.base import Presence

_encode = msgspec.json.Encoder().encode
TEXT, BINARY = 0x81, 0x82  # first byte of a final, unfragmented text / binary WebSocket frame


def ws_frame(opcode: int, payload: bytes) -> bytes:
    """`payload` as an unmasked, unfragmented WebSocket frame (what a server sends)."""
    n = len(payload)
    if n < 126:
        return bytes((opcode, n)) + payload
    if n < 65_536:
        return bytes((opcode, 126)) + n.to_bytes(2, "big") + payload
    return bytes((opcode, 127)) + n.to_bytes(8, "big") + payload


class Frame:
    """One outgoing envelope; `kind` "" for the empty reply `{"cid": ...}`."""

    __slots__ = ("_json", "_pb", "_text", "_ws_json", "_ws_pb", "cid", "kind", "message")

    def __init__(self, kind: str, message: Any, cid: str = "") -> None:
        self.kind = kind
        self.message = message
        self.cid = cid
        self._json: bytes | None = None
        self._pb: bytes | None = None
        self._text: str | None = None
        self._ws_json: bytes | None = None
        self._ws_pb: bytes | None = None

    @classmethod
    def of_json(cls, data: bytes) -> Frame:
        """A frame received as JSON (from another node)."""
        frame = cls("", None)
        frame._json = data
        return frame

    def json(self) -> bytes:
        data = self._json
        if data is None:
            kind, cid = self.kind, self.cid
            if not kind:
                envelope: dict[str, Any] = {"cid": cid}
            else:
                envelope = {"cid": cid, kind: self.message} if cid else {kind: self.message}
            data = self._json = _encode(envelope)
        return data

    def text(self) -> str:
        """The JSON form as `str` (for ASGI text messages)."""
        text = self._text
        if text is None:
            text = self._text = self.json().decode()
        return text

    def protobuf(self) -> bytes:
        data = self._pb
        if data is None:
            if self.message is None and self._json is not None:  # arrived as JSON
                envelope = orjson.loads(self._json)
                self.cid = envelope.pop("cid", "")
                self.kind, self.message = next(iter(envelope.items()), ("", None))
            data = self._pb = protobuf.encode(self.kind, self.message, self.cid)
        return data

    def ws_json(self) -> bytes:
        """The JSON form as a WebSocket text frame."""
        wire = self._ws_json
        if wire is None:
            wire = self._ws_json = ws_frame(TEXT, self.json())
        return wire

    def ws_protobuf(self) -> bytes:
        """The protobuf form as a WebSocket binary frame."""
        wire = self._ws_pb
        if wire is None:
            wire = self._ws_pb = ws_frame(BINARY, self.protobuf())
        return wire


def frame(kind: str, message: Any, cid: str = "") -> Frame:
    """One envelope `{"cid": ..., kind: message}` (no cid when empty)."""
    return Frame(kind, message, cid)


def reply(cid: str) -> Frame:
    """The empty reply to a request that returns nothing (status update, channel leave...)."""
    return Frame("", None, cid)


def error(code: int, message: str, cid: str = "", context: dict[str, str] | None = None) -> Frame:
    return Frame("error", rt.Error(code=code, message=message, context=context or {}), cid)


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

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
    """One outgoing envelope; `kind` "" for the empty reply `{"cid": ...}`. Build one with
    `codec.frame(kind, message, cid)`; each form is made on first use and kept."""

    __slots__ = ("_json", "_pb", "_ws_json", "_ws_pb", "cid", "kind", "message")
    _json: bytes | None
    _pb: bytes | None
    _ws_json: bytes | None
    _ws_pb: bytes | None

    def __init__(self, kind: str, message: Any, cid: str = "") -> None:
        self.kind = kind
        self.message = message
        self.cid = cid
        self._json = self._pb = self._ws_json = self._ws_pb = None

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
                data = _encode({"cid": cid})
            else:
                data = _encode({"cid": cid, kind: self.message} if cid else {kind: self.message})
            self._json = data
        return data

    def text(self) -> str:
        """The JSON form as `str` (for ASGI text messages)."""
        return self.json().decode()

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
        """The JSON form as a WebSocket text frame (the hot path of every JSON socket: inlined)."""
        wire = self._ws_json
        if wire is None:
            data = self._json
            if data is None:
                data = self.json()
            n = len(data)
            if n < 126:
                wire = bytes((TEXT, n)) + data
            elif n < 65_536:
                wire = b"\x81\x7e" + n.to_bytes(2, "big") + data
            else:
                wire = ws_frame(TEXT, data)
            self._ws_json = wire
        return wire

    def ws_protobuf(self) -> bytes:
        """The protobuf form as a WebSocket binary frame."""
        wire = self._ws_pb
        if wire is None:
            wire = self._ws_pb = ws_frame(BINARY, self.protobuf())
        return wire


frame = Frame  # codec.frame(kind, message, cid): one envelope `{"cid": ..., kind: message}`


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

"""Decode one envelope, run its handler, and answer with the reply or an error envelope.

A bad envelope (not JSON or not protobuf, no message, two messages, a field of the wrong type, an
unknown kind) is answered with an error envelope and the socket stays open; so is a handler's error. Nothing a
client sends can close another socket or stop the server.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, get_args

import msgspec
import orjson
import structlog

from overworld.api.calls import SOCKET_CALLS
from overworld.api.socket.errors import (
    BAD_INPUT,
    MISSING_PAYLOAD,
    RUNTIME_EXCEPTION,
    RUNTIME_FUNCTION_EXCEPTION,
    RUNTIME_FUNCTION_NOT_FOUND,
    UNRECOGNIZED_PAYLOAD,
    SocketError,
    realtime_code,
)
from overworld.errors import ApiError, Code, RateLimited
from overworld.protocol import protobuf
from overworld.protocol import realtime as rt
from overworld.protocol.jsondepth import MAX_JSON_DEPTH, too_deep, top_level_string
from overworld.realtime import codec
from overworld.realtime.connection import POLICY, TOO_BIG, Connection
from overworld.realtime.hub import SOCKET_MESSAGES

if TYPE_CHECKING:
    from overworld.services import Services

log = structlog.get_logger(__name__)
Reply = tuple[str, Any] | None
Handler = Callable[["Services", Connection, Any], Awaitable[Reply]]
_decode = msgspec.json.Decoder(rt.Envelope).decode
_convert = msgspec.convert
# The message type of each kind a client may send (the Struct in rt.Envelope's `X | None`).
_TYPES: dict[str, type[Any]] = {
    f.name: next(t for t in get_args(f.type) if t is not type(None))
    for f in msgspec.structs.fields(rt.Envelope)
    if f.name != "cid"
}
Decoded = tuple[str, str, Any]  # cid, kind, message
_KIND_COUNTERS = {kind: SOCKET_MESSAGES.labels(kind) for kind in rt.KINDS}


async def _ping(node: Services, conn: Connection, msg: rt.Ping) -> Reply:
    return "pong", rt.Ping()


async def _rpc(node: Services, conn: Connection, msg: rt.Rpc) -> Reply:
    from overworld.api.operations.rpc import RPC_NOT_FOUND, call_rpc

    if not msg.id:
        raise SocketError(BAD_INPUT, "RPC ID must be set")
    try:
        payload = await call_rpc(node, conn.ctx, msg.id, msg.payload)
    except ApiError as exc:
        missing = exc.code == Code.NOT_FOUND and exc.message == RPC_NOT_FOUND
        code = RUNTIME_FUNCTION_NOT_FOUND if missing else RUNTIME_FUNCTION_EXCEPTION
        if exc.code == Code.UNAVAILABLE:  # the database or Redis, not the function: as other calls
            code = int(Code.UNAVAILABLE)
        raise SocketError(code, exc.message) from None
    return "rpc", rt.Rpc(id=msg.id, payload=payload)


async def _pong(node: Services, conn: Connection, msg: rt.Ping) -> Reply:
    return None  # Nakama's clients answer server pings at the protocol level or with a pong


# Every API call of the socket, by its message kind (overworld.api.calls), and the messages that
# are not API calls: ping and pong, and rpc (server code's functions, which have no hooks).
HANDLERS: dict[str, Handler] = {
    "ping": _ping,
    "pong": _pong,
    "rpc": _rpc,
    **{call.kind: call.serve for call in SOCKET_CALLS},
}


async def handle(node: Services, conn: Connection, data: str | bytes) -> None:
    """Handle one frame from `conn`."""
    if len(data) > node.settings.socket_max_message_bytes:
        conn.reply(
            codec.error(
                BAD_INPUT,
                f"Message too large: at most {node.settings.socket_max_message_bytes} bytes",
                _frame_cid(conn, data),
            )
        )
        conn.close(TOO_BIG, "Message too large", flush=True)
        return
    if not conn.limit.take():
        conn.reply(
            codec.error(
                BAD_INPUT,
                f"Rate limit exceeded: at most {node.settings.socket_rate_limit} messages per second",
                _frame_cid(conn, data),
            )
        )
        if conn.limit.overrun():  # a flood of refused messages ends in a close
            conn.close(POLICY, "Rate limit exceeded", flush=True)
        return
    decoded = _decode_protobuf(conn, data) if conn.binary else _decode_json(conn, data)
    if decoded is None:
        return
    cid, kind, message = decoded
    handler = HANDLERS.get(kind)
    if handler is None:
        conn.reply(codec.error(UNRECOGNIZED_PAYLOAD, f"Unsupported message: {kind}", cid))
        return
    _KIND_COUNTERS[kind].inc()
    limits = node.limits
    if limits.enabled:
        try:
            pending = limits.spend(kind, conn.title_id, conn.user_id, conn.ctx.client_ip)
            if pending is not None:
                await pending
        except RateLimited as exc:  # answered, and the socket stays open
            conn.send(codec.error(int(exc.code), exc.message, cid, {"retry_after": str(exc.retry_after)}))
            return
        except Exception as exc:
            unavailable = node.outages.unavailable(exc)
            if unavailable is None:
                raise
            conn.send(codec.error(int(unavailable.code), unavailable.message, cid))
            return
    # `conn.reply` sends the answer ahead of what the handler may have held back (a join's own
    # presence events, which must not reach the client before the join's reply).
    try:
        result = await handler(node, conn, message)
    except SocketError as exc:
        conn.reply(codec.error(exc.code, exc.message, cid))
        return
    except ApiError as exc:
        conn.reply(codec.error(realtime_code(exc), exc.message, cid))
        return
    except Exception as exc:
        unavailable = node.outages.unavailable(exc)
        if unavailable is not None:
            # Nakama's realtime codes have no "unavailable": the gRPC code, as REST answers.
            conn.reply(codec.error(int(unavailable.code), unavailable.message, cid))
            return
        log.exception("socket handler failed", kind=kind)
        conn.reply(codec.error(RUNTIME_EXCEPTION, "Internal server error", cid))
        return
    if result is not None:
        conn.reply(codec.frame(result[0], result[1], cid))
    else:
        conn.reply(codec.reply(cid) if cid else None)


def _decode_json(conn: Connection, data: str | bytes) -> Decoded | None:
    """A JSON frame's cid, kind and message, or None once an error has been sent back."""
    if too_deep(data):
        conn.reply(
            codec.error(
                BAD_INPUT,
                f"Invalid message: JSON nested deeper than {MAX_JSON_DEPTH} levels",
                top_level_string(data, "cid"),
            )
        )
        return None
    try:
        envelope = _decode(data)
    except msgspec.ValidationError as exc:
        conn.reply(codec.error(BAD_INPUT, f"Invalid message: {exc}", _cid_of(data)))
        return None
    except msgspec.DecodeError:
        conn.reply(
            codec.error(
                UNRECOGNIZED_PAYLOAD,
                "Could not parse message: expected a JSON object",
                top_level_string(data, "cid"),
            )
        )
        return None
    cid = envelope.cid
    kinds = [k for k in rt.KINDS if getattr(envelope, k) is not None]
    if len(kinds) != 1:
        if kinds:
            conn.reply(codec.error(BAD_INPUT, "An envelope must hold exactly one message", cid))
        elif _has_other_fields(data):
            conn.reply(codec.error(UNRECOGNIZED_PAYLOAD, "Unrecognized message", cid))
        else:
            conn.reply(codec.error(MISSING_PAYLOAD, "Missing message", cid))
        return None
    kind = kinds[0]
    return cid, kind, getattr(envelope, kind)


def _decode_protobuf(conn: Connection, data: str | bytes) -> Decoded | None:
    """A protobuf frame's cid, kind and message, or None once an error has been sent back. The
    message is the same Struct as from JSON (`overworld.protocol.protobuf` makes the protojson
    builtins of the protobuf message)."""
    if isinstance(data, str):
        conn.reply(codec.error(UNRECOGNIZED_PAYLOAD, "Could not parse message: expected a binary frame"))
        return None
    try:
        cid, kind, body = protobuf.decode(data)
    except protobuf.InvalidMessage as exc:
        conn.reply(codec.error(BAD_INPUT, f"Invalid message: {exc}", protobuf.cid_of(data)))
        return None
    except protobuf.DecodeError:
        conn.reply(
            codec.error(
                UNRECOGNIZED_PAYLOAD,
                "Could not parse message: expected a protobuf Envelope",
                protobuf.cid_of(data),
            )
        )
        return None
    if kind is None:
        if protobuf.has_unknown(data, cid):
            conn.reply(codec.error(UNRECOGNIZED_PAYLOAD, "Unrecognized message", cid))
        else:
            conn.reply(codec.error(MISSING_PAYLOAD, "Missing message", cid))
        return None
    message_type = _TYPES.get(kind)
    if message_type is None:  # a message only the server sends, or one not served
        conn.reply(codec.error(UNRECOGNIZED_PAYLOAD, "Unrecognized message", cid))
        return None
    try:
        message = _convert(body, message_type)
    except msgspec.ValidationError as exc:
        conn.reply(codec.error(BAD_INPUT, f"Invalid message: {exc}", cid))
        return None
    return cid, kind, message


def _loose_object(data: str | bytes) -> dict[str, Any]:
    """The frame as a JSON object, for error replies; empty when it is not one."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _cid_of(data: str | bytes) -> str:
    """The cid of a frame msgspec decoded but found invalid, for its error reply."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:  # numbers msgspec reads but orjson does not (1e999, 2**70)
        return top_level_string(data, "cid")
    cid = value.get("cid") if isinstance(value, dict) else None
    return cid if isinstance(cid, str) else ""


def _frame_cid(conn: Connection, data: str | bytes) -> str:
    """The cid of a frame refused before it is decoded (too large, over the rate limit), so that
    the client can match the error to its request; "" when it has none or none can be read."""
    if conn.binary:
        return protobuf.cid_of(data) if isinstance(data, bytes) else ""
    if not too_deep(data):
        with contextlib.suppress(orjson.JSONDecodeError):
            value = orjson.loads(data)
            cid = value.get("cid") if isinstance(value, dict) else None
            return cid if isinstance(cid, str) else ""
    return top_level_string(data, "cid")


def _has_other_fields(data: str | bytes) -> bool:
    return any(k != "cid" for k in _loose_object(data))

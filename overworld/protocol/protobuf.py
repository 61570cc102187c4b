"""The protobuf form of the realtime envelopes (`/ws?format=protobuf`).

The schema is `protocol/pb/realtime.proto`; `protocol/pb/realtime_pb2.py` is generated from it when
Overworld is built (setup.py). This module converts between that wire form and the form the rest
of Overworld uses, which is the protojson form of the JSON socket (`protocol.realtime`):

- out: an envelope given as `kind` and a message (a msgspec Struct, or the builtins of one, e.g.
  decoded from the JSON a node sent to another) becomes protobuf bytes;
- in: protobuf bytes become the builtins of an `Envelope` (then `msgspec.convert`ed to it, so the
  handlers receive exactly what the JSON socket gives them).

The differences between the two forms are handled field by field, from the schema's descriptors:
int64 fields are decimal strings in JSON and integers here; bytes are base64 in JSON and raw here;
wrappers (`StringValue`, `BoolValue`, `Int32Value`) are a bare value or absent in JSON and a
message here; timestamps are RFC 3339 strings in JSON and `Timestamp` messages here.
"""

from __future__ import annotations

import binascii
import datetime
from collections.abc import Callable
from typing import Any

import msgspec
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError

from overworld.protocol.pb import realtime_pb2 as pb

__all__ = ["DecodeError", "InvalidMessage", "decode", "encode", "has_unknown", "kinds"]


class InvalidMessage(ValueError):
    """A well-formed envelope with a value no wire message may hold (a timestamp out of range)."""


_WRAPPERS = {
    "google.protobuf.StringValue",
    "google.protobuf.BoolValue",
    "google.protobuf.Int32Value",
    "google.protobuf.Int64Value",
    "google.protobuf.UInt32Value",
    "google.protobuf.DoubleValue",
}
_TIMESTAMP = "google.protobuf.Timestamp"
_T = FieldDescriptor
Convert = Callable[[Any], Any]
_to_builtins = msgspec.to_builtins
_Envelope = pb.Envelope
_parse = pb.Envelope.FromString


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _message_type(field: Any) -> Descriptor:
    """The message type of a message field (typed loosely by the protobuf stubs)."""
    message: Descriptor | None = field.message_type
    if message is None:
        raise TypeError(f"{field.full_name} is not a message field")
    return message


def _is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


# -- out: protojson builtins to protobuf --------------------------------------------------------


def _int64(value: Any) -> int:
    return int(value)


def _b64(value: Any) -> bytes:
    return binascii.a2b_base64(value) if value else b""


def _wrap(value: Any) -> dict[str, Any]:
    return {"value": value}


def _timestamp(value: Any) -> dict[str, int]:
    moment = datetime.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    seconds = int(moment.timestamp())
    return {"seconds": seconds, "nanos": moment.microsecond * 1000}


_OUT_PLANS: dict[str, dict[str, Convert | None]] = {}


def _out_plan(message: Descriptor) -> dict[str, Convert | None]:
    """For each field of `message`, how a protojson value becomes what the protobuf constructor
    takes (None: as it is)."""
    plan = _OUT_PLANS.get(message.full_name)
    if plan is not None:
        return plan
    plan = _OUT_PLANS[message.full_name] = {}
    for field in message.fields:
        plan[field.name] = _out_field(field)
    return plan


def _out_field(field: FieldDescriptor) -> Convert | None:
    one: Convert | None
    if _is_map(field):
        value_field = _message_type(field).fields_by_name["value"]
        if value_field.type == _T.TYPE_MESSAGE:
            sub = _out_message(_message_type(value_field))
            return lambda v: {k: sub(x) for k, x in v.items()}
        return None
    if field.type == _T.TYPE_MESSAGE:
        name = _message_type(field).full_name
        if name in _WRAPPERS:
            one = _wrap
        elif name == _TIMESTAMP:
            one = _timestamp
        else:
            one = _out_message(_message_type(field))
    elif field.type in (_T.TYPE_INT64, _T.TYPE_SINT64, _T.TYPE_SFIXED64, _T.TYPE_UINT64, _T.TYPE_FIXED64):
        one = _int64
    elif field.type == _T.TYPE_BYTES:
        one = _b64
    else:
        return None
    if _is_repeated(field):
        each = one
        return lambda v: [each(x) for x in v]
    return one


def _out_message(message: Descriptor) -> Convert:
    def convert(value: Any) -> dict[str, Any]:
        plan = _out_plan(message)
        out = {}
        for key, item in value.items():
            if item is None:
                continue
            fix = plan[key]  # a KeyError: a field the schema lacks (tests/realtime check them all)
            out[key] = item if fix is None else fix(item)
        return out

    return convert


_KIND_FIELDS = pb.Envelope.DESCRIPTOR.oneofs_by_name["message"].fields
_ENVELOPE_FIELDS = {f.name: _out_message(_message_type(f)) for f in _KIND_FIELDS}


def encode(kind: str, message: Any, cid: str = "") -> bytes:
    """The protobuf envelope `{cid, kind: message}`; `kind` "" for an envelope with only a cid.
    `message` is a msgspec Struct or its builtins in protojson form."""
    if not kind:
        return _Envelope(cid=cid).SerializeToString()
    body = message if isinstance(message, dict) else _to_builtins(message)
    fields = _ENVELOPE_FIELDS[kind](body)
    if cid:
        return _Envelope(cid=cid, **{kind: fields}).SerializeToString()
    return _Envelope(**{kind: fields}).SerializeToString()


def kinds() -> tuple[str, ...]:
    """Every message kind of the envelope."""
    return tuple(_ENVELOPE_FIELDS)


# -- in: protobuf to protojson builtins ---------------------------------------------------------

_IN_PLANS: dict[str, dict[str, Convert | None]] = {}


def _in_plan(message: Descriptor) -> dict[str, Convert | None]:
    plan = _IN_PLANS.get(message.full_name)
    if plan is None:
        plan = _IN_PLANS[message.full_name] = {f.name: _in_field(f) for f in message.fields}
    return plan


def _unwrap(value: Any) -> Any:
    return value.value


def _b64_text(value: bytes) -> str:
    return binascii.b2a_base64(value, newline=False).decode()


def _in_field(field: FieldDescriptor) -> Convert | None:
    one: Convert | None
    if _is_map(field):
        return dict
    if field.type == _T.TYPE_MESSAGE:
        name = _message_type(field).full_name
        if name in _WRAPPERS:
            one = _unwrap
        elif name == _TIMESTAMP:
            one = _timestamp_text
        else:
            one = _in_message(_message_type(field))
    elif field.type == _T.TYPE_BYTES:
        one = _b64_text
    else:
        one = None
    if _is_repeated(field):
        each = one
        return list if each is None else (lambda v: [each(x) for x in v])
    return one


def _timestamp_text(value: Any) -> str:
    moment: datetime.datetime = value.ToDatetime(tzinfo=datetime.UTC)
    return moment.isoformat().replace("+00:00", "Z")


def _in_message(message: Descriptor) -> Convert:
    def convert(value: Any) -> dict[str, Any]:
        plan = _in_plan(message)
        out = {}
        for field, item in value.ListFields():
            fix = plan[field.name]
            out[field.name] = item if fix is None else fix(item)
        return out

    return convert


_IN_ENVELOPE = {f.name: _in_message(_message_type(f)) for f in _KIND_FIELDS}


def decode(data: bytes) -> tuple[str, str | None, dict[str, Any] | None]:
    """A protobuf envelope as `(cid, kind, message builtins)`; kind None when it holds no message
    (see `has_unknown`). Raises `DecodeError` when `data` is not a protobuf envelope, and
    `InvalidMessage` when a value in it has no JSON form (a timestamp out of range)."""
    envelope = _parse(data)
    kind = envelope.WhichOneof("message")
    if kind is None:
        return envelope.cid, None, None
    try:
        return envelope.cid, kind, _IN_ENVELOPE[kind](getattr(envelope, kind))
    except (ValueError, OverflowError) as exc:  # Timestamp.ToDatetime: nanos < 0, year 10000, ...
        raise InvalidMessage(str(exc)) from None


def has_unknown(data: bytes, cid: str) -> bool:
    """Whether an envelope without a message had fields this schema does not know (a message kind
    newer than it) rather than only a cid."""
    return len(data) > _Envelope(cid=cid).ByteSize()


def cid_of(data: bytes) -> str:
    """The `cid` (field 1) of a protobuf envelope, read from its top-level fields only, even where
    the envelope as a whole does not parse (for error replies); "" when there is none."""
    cid, i, end = "", 0, len(data)
    try:
        while i < end:
            key, i = _varint(data, i)
            field, wire = key >> 3, key & 7
            if wire == 0:
                _, i = _varint(data, i)
            elif wire == 1:
                i += 8
            elif wire == 5:
                i += 4
            elif wire == 2:
                size, i = _varint(data, i)
                if i + size > end:
                    break
                if field == 1:
                    cid = data[i : i + size].decode()
                i += size
            else:
                break
    except (IndexError, UnicodeDecodeError):
        pass
    return cid


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i
        shift += 7
        if shift > 63:
            raise IndexError("varint too long")

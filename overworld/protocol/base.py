import msgspec

from overworld.errors import InvalidArgument


class Message(msgspec.Struct, omit_defaults=True, kw_only=True):
    """Base of every wire message."""


class Empty(Message):
    pass


def error_body(code: int, message: str) -> bytes:
    """Nakama's error body: `{"error": message, "code": grpc_code, "message": message}`."""
    return msgspec.json.encode({"error": message, "code": int(code), "message": message})


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def int64(value: int | str, name: str) -> int:
    """An int64 field as protojson reads it (a number or a decimal string); InvalidArgument
    naming the field when it is neither or out of range."""
    try:
        number = int(value)
    except ValueError:
        raise InvalidArgument(f"{name} must be an integer.") from None
    if not INT64_MIN <= number <= INT64_MAX:
        raise InvalidArgument(f"{name} is out of the int64 range.")
    return number

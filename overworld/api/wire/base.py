import msgspec


class Message(msgspec.Struct, omit_defaults=True, kw_only=True):
    """Base of every wire message."""


class Empty(Message):
    pass


def error_body(code: int, message: str) -> bytes:
    """Nakama's error body: `{"error": message, "code": grpc_code, "message": message}`."""
    return msgspec.json.encode({"error": message, "code": int(code), "message": message})

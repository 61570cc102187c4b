import msgspec


class Message(msgspec.Struct, omit_defaults=True, kw_only=True):
    """Base of every wire message."""


class Empty(Message):
    pass

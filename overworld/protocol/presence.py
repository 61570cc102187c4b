"""A user's presence on a stream, as every realtime message names it."""

from overworld.protocol.base import Message


class UserPresence(Message):
    user_id: str = ""
    session_id: str = ""
    username: str = ""
    persistence: bool = False
    status: str | None = None

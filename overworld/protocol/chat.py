"""Chat history and notifications over REST (`api.proto`)."""

from __future__ import annotations

import msgspec

from overworld.protocol.base import Message
from overworld.protocol.realtime import ChannelMessage, Notification


class ListChannelMessagesRequest(Message):
    channel_id: str = ""
    limit: int = 1
    forward: bool = True
    cursor: str = ""


class ChannelMessageList(Message):
    messages: list[ChannelMessage] = msgspec.field(default_factory=list)
    next_cursor: str = ""
    prev_cursor: str = ""
    cacheable_cursor: str = ""


class ListNotificationsRequest(Message):
    limit: int = 1
    cacheable_cursor: str = ""


class NotificationList(Message):
    notifications: list[Notification] = msgspec.field(default_factory=list)
    cacheable_cursor: str = ""


class DeleteNotificationsRequest(Message):
    ids: list[str] = msgspec.field(default_factory=list)

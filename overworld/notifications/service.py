"""Send, list and delete notifications.

A persistent notification is stored first and then delivered to the user's open sockets on
any node; a transient one is only delivered. Listing is in time order with a cacheable cursor:
the position after the last notification returned, which a client keeps to later fetch only
what is newer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from uuid_utils import uuid7

from overworld import cursors
from overworld.clock import now_ms
from overworld.db import Database
from overworld.db.database import Tx
from overworld.errors import InvalidArgument
from overworld.notifications.models import Notification as Notification  # re-exported
from overworld.notifications.store import NotificationStore
from overworld.protocol import realtime as rt
from overworld.protocol.jsondepth import check_depth
from overworld.protocol.streams import notifications_stream
from overworld.realtime import codec
from overworld.realtime.hub import Hub
from overworld.subsystems.pubsub.base import PubSub

# Codes at or below zero are the server's own (Nakama's): friend requests, group join requests...
DM_REQUEST = -1
FRIEND_REQUEST = -2
FRIEND_ACCEPT = -3
GROUP_ADD = -4
GROUP_JOIN_REQUEST = -5
FRIEND_JOIN_GAME = -6
SINGLE_SOCKET = -7
USER_BANNED = -8
_BROADCAST_TOPIC = "notifications.all"
MAX_SUBJECT = 255


@dataclass(slots=True)
class NotificationPage:
    notifications: list[Notification]
    cacheable_cursor: str


def check_content(content: str) -> str:
    """Notification content must be a JSON object (as text); returns it unchanged."""
    check_depth(content, "content")
    try:
        value = orjson.loads(content)
    except orjson.JSONDecodeError:
        raise InvalidArgument("Notification content must be a JSON object.") from None
    if not isinstance(value, dict):
        raise InvalidArgument("Notification content must be a JSON object.")
    return content


def _encode_cursor(create_time: int, id: str) -> str:
    return cursors.encode([create_time, id])


def _decode_cursor(cursor: str) -> tuple[int, str]:
    create_time, id = cursors.decode(cursor, (int, str), "Invalid cursor.")
    return int(create_time), str(id)


class NotificationService:
    def __init__(self, db: Database, hub: Hub, pubsub: PubSub) -> None:
        self._store = NotificationStore(db)
        self._hub = hub
        self._pubsub = pubsub

    async def start(self) -> None:
        self._pubsub.subscribe(_BROADCAST_TOPIC, self._on_broadcast)

    def make(
        self,
        user_id: str,
        subject: str,
        content: str,
        code: int,
        sender_id: str = "",
        persistent: bool = True,
    ) -> Notification:
        if not subject or len(subject) > MAX_SUBJECT:
            raise InvalidArgument(f"Notification subject must be 1-{MAX_SUBJECT} characters.")
        return Notification(
            id=str(uuid7()), user_id=user_id, subject=subject, content=check_content(content or "{}"),
            code=code, sender_id=sender_id, create_time=now_ms(), persistent=persistent,
        )  # fmt: skip

    async def send(self, title_id: str, notifications: Sequence[Notification]) -> None:
        """Store the persistent ones (all or none), then deliver all to whoever is connected."""
        stored = [n for n in notifications if n.persistent]
        if stored:
            await self._store.insert(title_id, stored)
        by_user: dict[str, list[rt.Notification]] = {}
        for n in notifications:
            by_user.setdefault(n.user_id, []).append(n.wire())
        for user_id, items in by_user.items():
            frame = codec.frame("notifications", rt.Notifications(notifications=items))
            self._hub.router.send_to_stream(notifications_stream(title_id, user_id), frame)

    async def send_all(self, title_id: str, subject: str, content: str, code: int, persistent: bool) -> int:
        """To every user of the title: stored for each when persistent, delivered to every
        connected one on every node. Returns how many were stored."""
        template = self.make("", subject, content, code, "", persistent)
        stored = 0
        if persistent:
            batch = [
                Notification(id=str(uuid7()), user_id=user_id, subject=template.subject,
                             content=template.content, code=code, sender_id="",
                             create_time=template.create_time)
                for user_id in await self._store.user_ids(title_id)
            ]  # fmt: skip
            if batch:
                await self._store.insert(title_id, batch)
            stored = len(batch)
        message = orjson.dumps(
            {"t": title_id, "s": template.subject, "c": template.content, "k": code,
             "p": persistent, "ct": template.create_time}
        )  # fmt: skip
        await self._pubsub.publish(_BROADCAST_TOPIC, message)
        return stored

    def _on_broadcast(self, payload: bytes) -> None:
        msg = orjson.loads(payload)
        title_id = msg["t"]
        for conn in self._hub.registry:
            if conn.title_id != title_id:
                continue
            note = Notification(
                id=str(uuid7()), user_id=conn.user_id, subject=msg["s"], content=msg["c"],
                code=msg["k"], create_time=msg["ct"], persistent=msg["p"],
            )  # fmt: skip
            conn.send(codec.frame("notifications", rt.Notifications(notifications=[note.wire()])))

    async def list(self, title_id: str, user_id: str, limit: int, cursor: str) -> NotificationPage:
        if not 1 <= limit <= 100:
            raise InvalidArgument("Invalid limit - limit must be between 1 and 100.")
        after_time, after_id = _decode_cursor(cursor) if cursor else (-1, "")
        items = await self._store.page(title_id, user_id, after_time, after_id, limit)
        next_cursor = _encode_cursor(items[-1].create_time, items[-1].id) if items else cursor
        return NotificationPage(items, next_cursor)

    async def delete(self, title_id: str, user_id: str, ids: Sequence[str]) -> None:
        if not ids:
            return
        await self._store.delete(title_id, user_id, ids)

    async def delete_user(self, tx: Tx, title_id: str, user_id: str) -> None:
        """Account deletion: the user's notifications go with it."""
        await self._store.delete_user(tx, title_id, user_id)

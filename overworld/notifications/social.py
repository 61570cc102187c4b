"""Notifications for social events, as Nakama sends them: friend requests and acceptances, group
join requests and additions, and requests to chat directly; and the group channel's messages of
membership changes (joined, added, left, kicked, promoted, banned, demoted)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import orjson
import structlog

from overworld.chat.service import ChatService, DirectRequest, Message
from overworld.db import Tx
from overworld.friends.models import FriendAccepted, FriendRequest
from overworld.friends.service import FriendService
from overworld.groups.models import (
    CHANNEL_GROUP_BAN,
    CHANNEL_GROUP_KICK,
    CHANNEL_GROUP_LEAVE,
    GroupJoinRequest,
    GroupMembershipChanged,
    GroupUsersAdded,
)
from overworld.groups.service import ChannelWriter, GroupService
from overworld.notifications.service import (
    DM_REQUEST,
    FRIEND_ACCEPT,
    FRIEND_REQUEST,
    GROUP_ADD,
    GROUP_JOIN_REQUEST,
    NotificationService,
)
from overworld.protocol.streams import Mode, Stream

log = structlog.get_logger(__name__)
_GONE = (CHANNEL_GROUP_LEAVE, CHANNEL_GROUP_KICK, CHANNEL_GROUP_BAN)
_tasks: set[asyncio.Task[None]] = set()


def _json(value: dict[str, str]) -> str:
    return orjson.dumps(value).decode()


def _soon(send: Awaitable[None]) -> None:
    """Listeners must return at once: send in the background, logging a failure."""

    async def run() -> None:
        try:
            await send
        except Exception:
            log.exception("could not send a social notification")

    task = asyncio.get_running_loop().create_task(run())
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


def direct_request(notifications: NotificationService) -> DirectRequest:
    """What chat calls when a user opens a direct channel: a notification asking the other."""

    async def send(title_id: str, to_user: str, from_user: str, from_name: str) -> None:
        note = notifications.make(
            to_user, f"{from_name} wants to chat", _json({"username": from_name}), DM_REQUEST, from_user
        )
        await notifications.send(title_id, [note])

    return send


def connect(notifications: NotificationService, friends: FriendService, groups: GroupService) -> None:
    def friend_request(e: FriendRequest) -> None:
        note = notifications.make(
            e.to_user_id, f"{e.from_username} wants to add you as a friend",
            _json({"username": e.from_username}), FRIEND_REQUEST, e.from_user_id,
        )  # fmt: skip
        _soon(notifications.send(e.title_id, [note]))

    def friend_accepted(e: FriendAccepted) -> None:
        note = notifications.make(
            e.to_user_id, f"{e.from_username} accepted your friend request",
            _json({"username": e.from_username}), FRIEND_ACCEPT, e.from_user_id,
        )  # fmt: skip
        _soon(notifications.send(e.title_id, [note]))

    def join_request(e: GroupJoinRequest) -> None:
        content = _json({"group_id": e.group_id, "username": e.username})
        subject = f"User {e.username} wants to join your group"
        notes = [notifications.make(a, subject, content, GROUP_JOIN_REQUEST, e.user_id) for a in e.admin_ids]
        _soon(notifications.send(e.title_id, notes))

    def users_added(e: GroupUsersAdded) -> None:
        content = _json({"group_id": e.group_id, "name": e.group_name})
        subject = f"You've been added to group {e.group_name}"
        notes = [notifications.make(u, subject, content, GROUP_ADD, e.caller_id) for u in e.user_ids]
        _soon(notifications.send(e.title_id, notes))

    friends.on_friend_request(friend_request)
    friends.on_friend_accepted(friend_accepted)
    groups.on_join_request(join_request)
    groups.on_users_added(users_added)


def group_channel(chat: ChatService) -> ChannelWriter:
    """What groups call in a membership change's transaction: Nakama's channel message for each
    change (code 3 joined .. 9 demoted, sender the user concerned, content "{}"), stored with the
    change; once committed, delivered to the group channel, and the users who left, were kicked or
    banned are taken out of it."""

    async def write(tx: Tx, changes: Sequence[GroupMembershipChanged]) -> Callable[[], None]:
        posted: list[tuple[Message, GroupMembershipChanged]] = []
        for c in changes:
            stream = Stream(c.title_id, Mode.GROUP, c.group_id)
            posted.append((await chat.store_system(tx, stream, c.code, c.user_id, c.username), c))

        def committed() -> None:
            for message, c in posted:
                chat.deliver(message)
                if c.code in _GONE:
                    chat.remove_user(message.stream, c.user_id)

        return committed

    return write

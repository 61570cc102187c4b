"""Notifications for social events, as Nakama sends them: friend requests and acceptances, group
join requests and additions, and requests to chat directly."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import orjson
import structlog

from overworld.chat.service import DirectRequest
from overworld.friends.models import FriendAccepted, FriendRequest
from overworld.friends.service import FriendService
from overworld.groups.models import GroupJoinRequest, GroupUsersAdded
from overworld.groups.service import GroupService
from overworld.notifications.service import (
    DM_REQUEST,
    FRIEND_ACCEPT,
    FRIEND_REQUEST,
    GROUP_ADD,
    GROUP_JOIN_REQUEST,
    NotificationService,
)

log = structlog.get_logger(__name__)
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

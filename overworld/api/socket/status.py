"""Status on the socket: the operations of status_follow, status_unfollow and status_update
(declared in overworld.api.calls)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from overworld.errors import InvalidArgument
from overworld.ids import parse_uuid
from overworld.protocol import realtime as rt
from overworld.protocol.streams import status_stream
from overworld.realtime import codec
from overworld.realtime.connection import Connection

if TYPE_CHECKING:
    from overworld.services import Services

MAX_STATUS = 2048


def _check_ids(user_ids: list[str]) -> None:
    for user_id in user_ids:
        if parse_uuid(user_id) is None:
            raise InvalidArgument(f"Invalid user identifier: {user_id!r}")


async def status_follow(node: Services, conn: Connection, req: rt.StatusFollow) -> rt.Status:
    _check_ids(req.user_ids)
    if not req.user_ids and not req.usernames:
        return rt.Status()
    users = await node.accounts.get_users(conn.ctx.title, req.user_ids, req.usernames)
    ids = [u.id for u in users if u.id != conn.user_id]
    followed = node.hub.follows.follow(conn.id, conn.title_id, ids)
    presences = []
    for user_id in followed:
        for p in node.hub.tracker.presences(status_stream(conn.title_id, user_id)):
            presences.append(codec.user_presence(p, with_status=True))
    return rt.Status(presences=presences)


async def status_unfollow(node: Services, conn: Connection, req: rt.StatusUnfollow) -> None:
    _check_ids(req.user_ids)
    node.hub.follows.unfollow(conn.id, conn.title_id, req.user_ids)


async def status_update(node: Services, conn: Connection, req: rt.StatusUpdate) -> None:
    if req.status is not None and len(req.status) > MAX_STATUS:
        raise InvalidArgument(f"Status must be at most {MAX_STATUS} characters.")
    node.hub.set_status(conn, req.status)

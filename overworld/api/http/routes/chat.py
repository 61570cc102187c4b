"""Chat history and notifications over REST."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.di import Provide
from litestar.params import Parameter

from overworld.api import calls
from overworld.api.http.auth import node_of, session_context
from overworld.api.http.routes.bind import route
from overworld.api.http.routes.bounds import INT32
from overworld.context import CallContext
from overworld.protocol.base import Empty
from overworld.protocol.chat import (
    ChannelMessageList,
    DeleteNotificationsRequest,
    ListChannelMessagesRequest,
    ListNotificationsRequest,
    NotificationList,
)

Req = Request[Any, Any, Any]
Limit = Annotated[int, Parameter(query="limit", **INT32, default=1, description="Items per page, 1-100.")]
SESSION = {"ctx": Provide(session_context)}


@route(calls.LIST_CHANNEL_MESSAGES, dependencies=SESSION, tags=["chat"])
async def list_channel_messages(
    request: Req,
    ctx: CallContext,
    channel_id: str,
    limit: Limit,
    forward: Annotated[bool, Parameter(query="forward", default=True, description="Oldest first.")],
    cursor: Annotated[str, Parameter(query="cursor", default="")],
) -> ChannelMessageList:
    """A page of a channel's stored messages (room: anyone; group: members; direct: its two users)."""
    req = ListChannelMessagesRequest(channel_id=channel_id, limit=limit, forward=forward, cursor=cursor)
    return await calls.LIST_CHANNEL_MESSAGES.run(node_of(request), ctx, req)


@route(calls.LIST_NOTIFICATIONS, dependencies=SESSION, tags=["notifications"])
async def list_notifications(
    request: Req,
    ctx: CallContext,
    limit: Limit,
    cacheable_cursor: Annotated[str, Parameter(query="cacheable_cursor", default="")],
) -> NotificationList:
    """The caller's stored notifications, oldest first; keep `cacheable_cursor` to fetch only newer ones."""
    req = ListNotificationsRequest(limit=limit, cacheable_cursor=cacheable_cursor)
    return await calls.LIST_NOTIFICATIONS.run(node_of(request), ctx, req)


@route(calls.DELETE_NOTIFICATIONS, dependencies=SESSION, tags=["notifications"])
async def delete_notifications(
    request: Req, ctx: CallContext, ids: Annotated[list[str] | None, Parameter(query="ids")] = None
) -> Empty:
    """Delete some of the caller's notifications by id."""
    req = DeleteNotificationsRequest(ids=ids or [])
    return await calls.DELETE_NOTIFICATIONS.run(node_of(request), ctx, req)


ROUTES = [list_channel_messages, list_notifications, delete_notifications]

"""Chat history and notifications: the REST operations (the socket's are in api/socket)."""

from __future__ import annotations

from overworld.context import CallContext
from overworld.protocol import chat as wire
from overworld.protocol.base import Empty
from overworld.services import Services


async def list_channel_messages(
    node: Services, ctx: CallContext, req: wire.ListChannelMessagesRequest
) -> wire.ChannelMessageList:
    page = await node.chat.history(
        ctx.title.id, ctx.user_id, req.channel_id, req.limit, req.forward, req.cursor
    )
    return wire.ChannelMessageList(
        messages=[m.wire() for m in page.messages], next_cursor=page.next_cursor,
        prev_cursor=page.prev_cursor, cacheable_cursor=page.cacheable_cursor,
    )  # fmt: skip


async def list_notifications(
    node: Services, ctx: CallContext, req: wire.ListNotificationsRequest
) -> wire.NotificationList:
    page = await node.notifications.list(ctx.title.id, ctx.user_id, req.limit, req.cacheable_cursor)
    return wire.NotificationList(
        notifications=[n.wire() for n in page.notifications], cacheable_cursor=page.cacheable_cursor
    )


async def delete_notifications(
    node: Services, ctx: CallContext, req: wire.DeleteNotificationsRequest
) -> Empty:
    await node.notifications.delete(ctx.title.id, ctx.user_id, req.ids)
    return Empty()

"""Chat on the socket: the operations of channel_join, channel_leave and
channel_message_send/update/remove (declared in overworld.api.calls)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from overworld.chat.service import parse_channel_id
from overworld.protocol import realtime as rt
from overworld.realtime.connection import Connection

if TYPE_CHECKING:
    from overworld.services import Services


async def channel_join(node: Services, conn: Connection, req: rt.ChannelJoin) -> rt.Channel:
    stream = await node.chat.stream_for(conn.title_id, conn.user_id, req.target, req.type)
    persistence = True if req.persistence is None else req.persistence
    conn.hold()  # the join's presence events reach the client after the `channel` reply
    return await node.chat.join(
        conn.title_id, conn.id, conn.user_id, conn.username, stream, persistence, bool(req.hidden)
    )


async def channel_leave(node: Services, conn: Connection, req: rt.ChannelLeave) -> None:
    node.chat.leave(conn.id, parse_channel_id(conn.title_id, req.channel_id))


async def channel_message_send(
    node: Services, conn: Connection, req: rt.ChannelMessageSend
) -> rt.ChannelMessageAck:
    stream = parse_channel_id(conn.title_id, req.channel_id)
    return (await node.chat.send(conn.id, stream, req.content)).ack()


async def channel_message_update(
    node: Services, conn: Connection, req: rt.ChannelMessageUpdate
) -> rt.ChannelMessageAck:
    stream = parse_channel_id(conn.title_id, req.channel_id)
    return (await node.chat.update(conn.id, stream, req.message_id, req.content)).ack()


async def channel_message_remove(
    node: Services, conn: Connection, req: rt.ChannelMessageRemove
) -> rt.ChannelMessageAck:
    stream = parse_channel_id(conn.title_id, req.channel_id)
    return (await node.chat.remove(conn.id, stream, req.message_id)).ack()

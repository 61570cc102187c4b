"""Chat messages on the socket: channel_join, channel_leave, channel_message_send/update/remove."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from overworld.chat.service import parse_channel_id
from overworld.protocol import realtime as rt
from overworld.realtime.connection import Connection

if TYPE_CHECKING:
    from overworld.services import Services

Reply = tuple[str, Any] | None


async def channel_join(node: Services, conn: Connection, msg: rt.ChannelJoin) -> Reply:
    async def run(req: rt.ChannelJoin) -> rt.Channel:
        stream = await node.chat.stream_for(conn.title_id, conn.user_id, req.target, req.type)
        persistence = True if req.persistence is None else req.persistence
        return await node.chat.join(
            conn.title_id, conn.id, conn.user_id, conn.username, stream, persistence, bool(req.hidden)
        )

    return "channel", await node.hooks.call("ChannelJoin", conn.ctx, msg, run)


async def channel_leave(node: Services, conn: Connection, msg: rt.ChannelLeave) -> Reply:
    async def run(req: rt.ChannelLeave) -> None:
        node.chat.leave(conn.id, parse_channel_id(conn.title_id, req.channel_id))

    await node.hooks.call("ChannelLeave", conn.ctx, msg, run)
    return None


async def channel_message_send(node: Services, conn: Connection, msg: rt.ChannelMessageSend) -> Reply:
    async def run(req: rt.ChannelMessageSend) -> rt.ChannelMessageAck:
        stream = parse_channel_id(conn.title_id, req.channel_id)
        return (await node.chat.send(conn.id, stream, req.content)).ack()

    return "channel_message_ack", await node.hooks.call("ChannelMessageSend", conn.ctx, msg, run)


async def channel_message_update(node: Services, conn: Connection, msg: rt.ChannelMessageUpdate) -> Reply:
    async def run(req: rt.ChannelMessageUpdate) -> rt.ChannelMessageAck:
        stream = parse_channel_id(conn.title_id, req.channel_id)
        return (await node.chat.update(conn.id, stream, req.message_id, req.content)).ack()

    return "channel_message_ack", await node.hooks.call("ChannelMessageUpdate", conn.ctx, msg, run)


async def channel_message_remove(node: Services, conn: Connection, msg: rt.ChannelMessageRemove) -> Reply:
    async def run(req: rt.ChannelMessageRemove) -> rt.ChannelMessageAck:
        stream = parse_channel_id(conn.title_id, req.channel_id)
        return (await node.chat.remove(conn.id, stream, req.message_id)).ack()

    return "channel_message_ack", await node.hooks.call("ChannelMessageRemove", conn.ctx, msg, run)


HANDLERS: dict[str, Any] = {
    "channel_join": channel_join,
    "channel_leave": channel_leave,
    "channel_message_send": channel_message_send,
    "channel_message_update": channel_message_update,
    "channel_message_remove": channel_message_remove,
}

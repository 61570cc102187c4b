"""Parties on the socket: party_create, _join, _leave, _promote, _accept, _remove, _close,
_join_request_list and _data_send."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from overworld.protocol import realtime as rt
from overworld.protocol.base import int64
from overworld.realtime.connection import Connection

if TYPE_CHECKING:
    from overworld.services import Services

Reply = tuple[str, Any] | None


async def party_create(node: Services, conn: Connection, msg: rt.PartyCreate) -> Reply:
    async def run(req: rt.PartyCreate) -> rt.Party:
        return node.parties.create(conn, req.open, req.max_size)

    return "party", await node.hooks.call("PartyCreate", conn.ctx, msg, run)


async def party_join(node: Services, conn: Connection, msg: rt.PartyId) -> Reply:
    async def run(req: rt.PartyId) -> None:
        await node.parties.join(conn, req.party_id)

    await node.hooks.call("PartyJoin", conn.ctx, msg, run)
    return None


async def party_leave(node: Services, conn: Connection, msg: rt.PartyId) -> Reply:
    async def run(req: rt.PartyId) -> None:
        node.parties.leave(conn, req.party_id)

    await node.hooks.call("PartyLeave", conn.ctx, msg, run)
    return None


async def party_promote(node: Services, conn: Connection, msg: rt.PartyMember) -> Reply:
    async def run(req: rt.PartyMember) -> rt.PartyLeader:
        return await node.parties.promote(conn, req.party_id, req.presence)

    return "party_leader", await node.hooks.call("PartyPromote", conn.ctx, msg, run)


async def party_accept(node: Services, conn: Connection, msg: rt.PartyMember) -> Reply:
    async def run(req: rt.PartyMember) -> None:
        await node.parties.accept(conn, req.party_id, req.presence)

    await node.hooks.call("PartyAccept", conn.ctx, msg, run)
    return None


async def party_remove(node: Services, conn: Connection, msg: rt.PartyMember) -> Reply:
    async def run(req: rt.PartyMember) -> None:
        await node.parties.remove(conn, req.party_id, req.presence)

    await node.hooks.call("PartyRemove", conn.ctx, msg, run)
    return None


async def party_close(node: Services, conn: Connection, msg: rt.PartyId) -> Reply:
    async def run(req: rt.PartyId) -> None:
        await node.parties.close(conn, req.party_id)

    await node.hooks.call("PartyClose", conn.ctx, msg, run)
    return None


async def party_join_request_list(node: Services, conn: Connection, msg: rt.PartyId) -> Reply:
    async def run(req: rt.PartyId) -> rt.PartyJoinRequest:
        return await node.parties.join_requests(conn, req.party_id)

    return "party_join_request", await node.hooks.call("PartyJoinRequestList", conn.ctx, msg, run)


async def party_data_send(node: Services, conn: Connection, msg: rt.PartyDataSend) -> Reply:
    async def run(req: rt.PartyDataSend) -> None:
        op_code = int64(req.op_code, "op_code")
        node.parties.send_data(conn, req.party_id, op_code, req.data)

    await node.hooks.call("PartyDataSend", conn.ctx, msg, run)
    return None


HANDLERS: dict[str, Any] = {
    "party_create": party_create,
    "party_join": party_join,
    "party_leave": party_leave,
    "party_promote": party_promote,
    "party_accept": party_accept,
    "party_remove": party_remove,
    "party_close": party_close,
    "party_join_request_list": party_join_request_list,
    "party_data_send": party_data_send,
}

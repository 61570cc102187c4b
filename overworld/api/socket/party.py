"""Parties on the socket: the operations of party_create, _join, _leave, _promote, _accept,
_remove, _close, _join_request_list, _data_send and _update (declared in overworld.api.calls)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from overworld.protocol import realtime as rt
from overworld.protocol.base import int64
from overworld.realtime.connection import Connection

if TYPE_CHECKING:
    from overworld.services import Services


async def party_create(node: Services, conn: Connection, req: rt.PartyCreate) -> rt.Party:
    return await node.parties.create(conn, req.open, req.max_size, req.label, req.hidden)


async def party_join(node: Services, conn: Connection, req: rt.PartyId) -> None:
    await node.parties.join(conn, req.party_id)


async def party_leave(node: Services, conn: Connection, req: rt.PartyId) -> None:
    node.parties.leave(conn, req.party_id)


async def party_promote(node: Services, conn: Connection, req: rt.PartyMember) -> rt.PartyLeader:
    return await node.parties.promote(conn, req.party_id, req.presence)


async def party_accept(node: Services, conn: Connection, req: rt.PartyMember) -> None:
    await node.parties.accept(conn, req.party_id, req.presence)


async def party_remove(node: Services, conn: Connection, req: rt.PartyMember) -> None:
    await node.parties.remove(conn, req.party_id, req.presence)


async def party_close(node: Services, conn: Connection, req: rt.PartyId) -> None:
    await node.parties.close(conn, req.party_id)


async def party_join_request_list(node: Services, conn: Connection, req: rt.PartyId) -> rt.PartyJoinRequest:
    return await node.parties.join_requests(conn, req.party_id)


async def party_data_send(node: Services, conn: Connection, req: rt.PartyDataSend) -> None:
    op_code = int64(req.op_code, "op_code")
    node.parties.send_data(conn, req.party_id, op_code, req.data)


async def party_update(node: Services, conn: Connection, req: rt.PartyUpdate) -> None:
    # max_size 0 (protobuf's absent) or absent: unchanged.
    await node.parties.update(conn, req.party_id, req.label, req.open, req.hidden, req.max_size or None)

"""The matchmaker on the socket: the operations of matchmaker_add, matchmaker_remove,
party_matchmaker_add and party_matchmaker_remove (declared in overworld.api.calls;
docs/matchmaking.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from overworld.errors import InvalidArgument, NotFound
from overworld.matchmaking.models import Member
from overworld.protocol import matchmaker as mm
from overworld.protocol.streams import notifications_stream
from overworld.realtime import codec
from overworld.realtime.connection import Connection
from overworld.subsystems.presence.base import Presence, PresenceMeta

if TYPE_CHECKING:
    from overworld.services import Services


async def matchmaker_add(node: Services, conn: Connection, req: mm.MatchmakerAdd) -> mm.MatchmakerTicket:
    me = Member(conn.id, conn.user_id, conn.username, node.hub.node)
    ticket = await node.matchmaker.make_ticket(
        conn.title_id, [me], query=req.query, min_count=req.min_count, max_count=req.max_count,
        count_multiple=req.count_multiple, string_properties=req.string_properties,
        numeric_properties=req.numeric_properties, owner=conn.id,
    )  # fmt: skip
    return mm.MatchmakerTicket(ticket=await node.matchmaker.add(ticket))


async def matchmaker_remove(node: Services, conn: Connection, req: mm.MatchmakerRemove) -> None:
    if not req.ticket:
        raise InvalidArgument("Invalid matchmaker ticket")
    if not await node.matchmaker.remove(conn.title_id, req.ticket, conn.id):
        raise NotFound("Matchmaker ticket not found")


async def party_matchmaker_add(
    node: Services, conn: Connection, req: mm.PartyMatchmakerAdd
) -> mm.PartyMatchmakerTicket:
    members = [
        Member(m.session_id, m.user_id, m.username, m.node)
        for m in await node.parties.matchmaking_members(conn, req.party_id)
    ]
    ticket = await node.matchmaker.make_ticket(
        conn.title_id, members, query=req.query, min_count=req.min_count, max_count=req.max_count,
        count_multiple=req.count_multiple, string_properties=req.string_properties,
        numeric_properties=req.numeric_properties, party_id=req.party_id, owner=req.party_id,
    )  # fmt: skip
    reply = mm.PartyMatchmakerTicket(party_id=req.party_id, ticket=await node.matchmaker.add(ticket))
    others = [
        Presence(notifications_stream(conn.title_id, m.user_id), m.session_id, m.user_id, m.node,
                 PresenceMeta(m.username))
        for m in members if m.session_id != conn.id
    ]  # fmt: skip
    node.hub.router.send_to(others, codec.frame("party_matchmaker_ticket", reply))
    return reply


async def party_matchmaker_remove(node: Services, conn: Connection, req: mm.PartyMatchmakerRemove) -> None:
    if not req.ticket:
        raise InvalidArgument("Invalid matchmaker ticket")
    await node.parties.matchmaking_members(conn, req.party_id)  # the leader only
    if not await node.matchmaker.remove(conn.title_id, req.ticket, req.party_id):
        raise NotFound("Matchmaker ticket not found")

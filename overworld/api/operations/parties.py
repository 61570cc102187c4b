"""Parties over REST: ListParties, the title's listed parties (docs/realtime.md)."""

from __future__ import annotations

from overworld.api import convert
from overworld.context import CallContext
from overworld.protocol.parties import ListPartiesRequest, PartyList
from overworld.services import Services


async def list_parties(node: Services, ctx: CallContext, req: ListPartiesRequest) -> PartyList:
    found, cursor = await node.parties.list_parties(ctx.title.id, req.limit, req.open, req.query, req.cursor)
    return PartyList(parties=[convert.listed_party(entry) for entry in found], cursor=cursor)

"""Matches over REST: the running matches of the caller's title (docs/matches.md)."""

from __future__ import annotations

from overworld.context import CallContext
from overworld.protocol.matches import ListMatchesRequest, MatchList
from overworld.services import Services


async def list_matches(node: Services, ctx: CallContext, req: ListMatchesRequest) -> MatchList:
    found = node.matches.list(
        ctx.title.id, 1 if req.limit is None else req.limit, req.authoritative, req.label, req.min_size,
        req.max_size, req.query,
    )  # fmt: skip
    return MatchList(matches=[m.wire() for m in found])

"""The matchmaker over REST: GetMatchmakerStats (docs/matchmaking.md)."""

from __future__ import annotations

from overworld.api import convert
from overworld.context import CallContext
from overworld.protocol.base import Empty
from overworld.protocol.matchmaker import MatchmakerStats
from overworld.services import Services


async def get_matchmaker_stats(node: Services, ctx: CallContext, req: Empty) -> MatchmakerStats:
    return convert.matchmaker_stats(await node.matchmaker.stats(ctx.title.id))

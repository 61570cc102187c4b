"""`GET /v2/match` (Nakama's ListMatches): the title's running matches, filtered; and
`GET /v2/matchmaker/stats` (GetMatchmakerStats).

Query parameters: `limit` (1-100, default 1), `authoritative`, `label` (exact), `min_size`,
`max_size`, `query` (docs/matches.md: a subset of Nakama's query syntax over the label's fields).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Router
from litestar.di import Provide
from litestar.params import Parameter

from overworld.api import calls
from overworld.api.http.auth import node_of, session_context
from overworld.api.http.routes.bind import route
from overworld.api.http.routes.bounds import INT32
from overworld.context import CallContext
from overworld.protocol.base import Empty
from overworld.protocol.matches import ListMatchesRequest, MatchList
from overworld.protocol.matchmaker import MatchmakerStats

Req = Request[Any, Any, Any]


@route(calls.LIST_MATCHES)
async def list_matches(
    request: Req,
    ctx: CallContext,
    limit: Annotated[int | None, Parameter(query="limit", **INT32, description="1-100 (default 1).")] = None,
    authoritative: Annotated[bool | None, Parameter(query="authoritative")] = None,
    label: Annotated[str | None, Parameter(query="label", description="Exact label.")] = None,
    min_size: Annotated[int | None, Parameter(query="min_size", **INT32)] = None,
    max_size: Annotated[int | None, Parameter(query="max_size", **INT32)] = None,
    # `query` is a name Litestar reserves: the parameter is renamed, not the query string's key.
    label_query: Annotated[str | None, Parameter(query="query", description="Label query.")] = None,
) -> MatchList:
    """Running matches of the caller's title, by kind, label or label query, and size."""
    req = ListMatchesRequest(
        limit=limit, authoritative=authoritative, label=label, min_size=min_size, max_size=max_size,
        query=label_query,
    )  # fmt: skip
    return await calls.LIST_MATCHES.run(node_of(request), ctx, req)


@route(calls.GET_MATCHMAKER_STATS)
async def get_matchmaker_stats(request: Req, ctx: CallContext) -> MatchmakerStats:
    """The matchmaker of the caller's title, cluster-wide, as of its last pass: waiting tickets,
    the oldest one's creation time, and the last players matched."""
    return await calls.GET_MATCHMAKER_STATS.run(node_of(request), ctx, Empty())


router = Router(
    path="/",
    route_handlers=[list_matches, get_matchmaker_stats],
    dependencies={"ctx": Provide(session_context)},
    tags=["matches"],
)
ROUTES = [router]

"""`GET /v2/party` (Nakama's ListParties): the title's listed parties.

Query parameters: `limit` (1-100, default 10), `open`, `query` (a query on the label's fields, as
for match labels), `cursor` (from the previous page, with the same limit, open and query).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Router
from litestar.di import Provide
from litestar.params import Parameter

from overworld.api import calls
from overworld.api.http.auth import node_of, session_context
from overworld.api.http.routes.bind import route
from overworld.context import CallContext
from overworld.protocol.parties import ListPartiesRequest, PartyList

Req = Request[Any, Any, Any]


@route(calls.LIST_PARTIES)
async def list_parties(
    request: Req,
    ctx: CallContext,
    limit: Annotated[int | None, Parameter(query="limit", description="1-100 (default 10).")] = None,
    open_: Annotated[bool | None, Parameter(query="open", description="Only open or closed parties.")] = None,
    # `query` is a name Litestar reserves: the parameter is renamed, not the query string's key.
    label_query: Annotated[str | None, Parameter(query="query", description="Label query.")] = None,
    cursor: Annotated[str | None, Parameter(query="cursor")] = None,
) -> PartyList:
    """Parties of the caller's title that are not hidden, by open and label query."""
    req = ListPartiesRequest(limit=limit, open=open_, query=label_query, cursor=cursor)
    return await calls.LIST_PARTIES.run(node_of(request), ctx, req)


router = Router(
    path="/",
    route_handlers=[list_parties],
    dependencies={"ctx": Provide(session_context)},
    tags=["parties"],
)
ROUTES = [router]

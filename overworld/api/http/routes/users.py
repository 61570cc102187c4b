"""GET /v2/user: public profiles by id or username."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.di import Provide
from litestar.params import Parameter

from overworld.api import calls
from overworld.api.http.auth import node_of, session_context
from overworld.api.http.routes.bind import route
from overworld.context import CallContext
from overworld.protocol.accounts import GetUsersRequest, Users


@route(calls.GET_USERS, dependencies={"ctx": Provide(session_context)}, tags=["users"])
async def get_users(
    request: Request[Any, Any, Any],
    ctx: CallContext,
    ids: Annotated[list[str] | None, Parameter(query="ids")] = None,
    usernames: Annotated[list[str] | None, Parameter(query="usernames")] = None,
    facebook_ids: Annotated[list[str] | None, Parameter(query="facebook_ids")] = None,
) -> Users:
    """Users by id and/or username (100 at most); unknown ones are left out."""
    req = GetUsersRequest(ids=ids or [], usernames=usernames or [], facebook_ids=facebook_ids or [])
    return await calls.GET_USERS.run(node_of(request), ctx, req)


ROUTES = [get_users]

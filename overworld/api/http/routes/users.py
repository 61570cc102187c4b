"""GET /v2/user: public profiles by id or username."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.di import Provide
from litestar.params import Parameter

from overworld.api.http.auth import node_of, session_context
from overworld.api.wire.accounts import User, Users
from overworld.api.wire.base import Message
from overworld.context import CallContext


class GetUsersRequest(Message):
    ids: list[str] = []
    usernames: list[str] = []
    facebook_ids: list[str] = []


@get("/v2/user", dependencies={"ctx": Provide(session_context)}, tags=["users"])
async def get_users(
    request: Request[Any, Any, Any],
    ctx: CallContext,
    ids: Annotated[list[str] | None, Parameter(query="ids")] = None,
    usernames: Annotated[list[str] | None, Parameter(query="usernames")] = None,
    facebook_ids: Annotated[list[str] | None, Parameter(query="facebook_ids")] = None,
) -> Users:
    """Users by id and/or username; unknown ones are left out."""
    node = node_of(request)

    async def run(req: GetUsersRequest) -> Users:
        found = await node.accounts.get_users(ctx.title, req.ids, req.usernames)
        return Users(users=[User.of(u) for u in found])

    req = GetUsersRequest(ids=ids or [], usernames=usernames or [], facebook_ids=facebook_ids or [])
    return await node.hooks.call("GetUsers", ctx, req, run)


ROUTES = [get_users]

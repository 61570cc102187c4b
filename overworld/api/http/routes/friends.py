"""Friends over REST: `/v2/friend` (list, add, delete), `/v2/friend/block`, `/v2/friend/friends`.

As in Nakama's gateway, the ids and usernames of add, delete and block are query parameters
(repeatable), not a body.
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
from overworld.protocol.friends import (
    AddFriendsRequest,
    BlockFriendsRequest,
    DeleteFriendsRequest,
    FriendList,
    FriendsOfFriendsList,
    ListFriendsOfFriendsRequest,
    ListFriendsRequest,
)

Req = Request[Any, Any, Any]
Ids = Annotated[list[str] | None, Parameter(query="ids", description="User ids (repeatable).")]
Usernames = Annotated[list[str] | None, Parameter(query="usernames", description="Usernames (repeatable).")]
Limit = Annotated[int | None, Parameter(query="limit", **INT32)]
Cursor = Annotated[str, Parameter(query="cursor", description="From the previous page.")]


@route(calls.LIST_FRIENDS)
async def list_friends(
    request: Req,
    ctx: CallContext,
    limit: Limit = None,
    state_filter: Annotated[int | None, Parameter(query="state", **INT32)] = None,
    cursor: Cursor = "",
) -> FriendList:
    """The caller's friends (0), sent (1) and received (2) invitations and blocks (3); `limit`
    1-1000 (default 1000)."""
    req = ListFriendsRequest(limit=limit, state=state_filter, cursor=cursor)
    return await calls.LIST_FRIENDS.run(node_of(request), ctx, req)


@route(calls.ADD_FRIENDS)
async def add_friends(
    request: Req,
    ctx: CallContext,
    ids: Ids = None,
    usernames: Usernames = None,
    metadata: Annotated[str, Parameter(query="metadata")] = "",
) -> Empty:
    """Invite users, or accept their invitations."""
    req = AddFriendsRequest(ids=ids or [], usernames=usernames or [], metadata=metadata)
    return await calls.ADD_FRIENDS.run(node_of(request), ctx, req)


@route(calls.DELETE_FRIENDS)
async def delete_friends(
    request: Req, ctx: CallContext, ids: Ids = None, usernames: Usernames = None
) -> Empty:
    """Remove friends, invitations and the caller's blocks."""
    req = DeleteFriendsRequest(ids=ids or [], usernames=usernames or [])
    return await calls.DELETE_FRIENDS.run(node_of(request), ctx, req)


@route(calls.BLOCK_FRIENDS)
async def block_friends(
    request: Req, ctx: CallContext, ids: Ids = None, usernames: Usernames = None
) -> Empty:
    """Block users."""
    req = BlockFriendsRequest(ids=ids or [], usernames=usernames or [])
    return await calls.BLOCK_FRIENDS.run(node_of(request), ctx, req)


@route(calls.LIST_FRIENDS_OF_FRIENDS)
async def list_friends_of_friends(
    request: Req, ctx: CallContext, limit: Limit = None, cursor: Cursor = ""
) -> FriendsOfFriendsList:
    """Friends of the caller's friends; `limit` 1-100 (default 10)."""
    req = ListFriendsOfFriendsRequest(limit=limit, cursor=cursor)
    return await calls.LIST_FRIENDS_OF_FRIENDS.run(node_of(request), ctx, req)


router = Router(
    path="/",
    route_handlers=[list_friends, add_friends, delete_friends, block_friends, list_friends_of_friends],
    dependencies={"ctx": Provide(session_context)},
    tags=["friends"],
)
ROUTES = [router]

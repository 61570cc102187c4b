"""Groups over REST: `/v2/group...` and `/v2/user/{user_id}/group`.

As in Nakama's gateway, the user ids of add, kick, ban, promote and demote are query parameters
(`user_ids`, repeatable), not a body.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Router
from litestar.di import Provide
from litestar.params import Parameter

from overworld.api import calls
from overworld.api.http.auth import node_of, session_context
from overworld.api.http.routes.bind import route
from overworld.api.http.routes.bounds import INT32
from overworld.context import CallContext
from overworld.protocol.base import Empty
from overworld.protocol.groups import (
    AddGroupUsersRequest,
    BanGroupUsersRequest,
    CreateGroupRequest,
    DeleteGroupRequest,
    DemoteGroupUsersRequest,
    Group,
    GroupList,
    GroupUserList,
    JoinGroupRequest,
    KickGroupUsersRequest,
    LeaveGroupRequest,
    ListGroupsRequest,
    ListGroupUsersRequest,
    ListUserGroupsRequest,
    PromoteGroupUsersRequest,
    UpdateGroupRequest,
    UserGroupList,
)

Req = Request[Any, Any, Any]
UserIds = Annotated[list[str] | None, Parameter(query="user_ids", description="User ids (repeatable).")]
Limit = Annotated[int | None, Parameter(query="limit", **INT32, description="1-100.")]
# `state` is a name Litestar reserves for the app state: the parameter is renamed, not the query.
State = Annotated[int | None, Parameter(query="state", **INT32, description="0-4.")]
Cursor = Annotated[str, Parameter(query="cursor", description="From the previous page.")]


@route(calls.LIST_GROUPS)
async def list_groups(
    request: Req,
    ctx: CallContext,
    name: Annotated[str, Parameter(query="name")] = "",
    cursor: Cursor = "",
    limit: Limit = None,
    lang_tag: Annotated[str, Parameter(query="lang_tag")] = "",
    members: Annotated[int | None, Parameter(query="members", **INT32)] = None,
    open: Annotated[bool | None, Parameter(query="open")] = None,
) -> GroupList:
    """Groups by name (`%` wildcard, e.g. `name=heroes%`), or by language, open/closed and at
    most `members` members; `limit` 1-100 (default 1)."""
    req = ListGroupsRequest(
        name=name, cursor=cursor, limit=limit, lang_tag=lang_tag, members=members, open=open
    )
    return await calls.LIST_GROUPS.run(node_of(request), ctx, req)


@route(calls.CREATE_GROUP)
async def create_group(request: Req, ctx: CallContext, data: CreateGroupRequest) -> Group:
    """Create a group with the caller as its superadmin."""
    return await calls.CREATE_GROUP.run(node_of(request), ctx, data)


@route(calls.UPDATE_GROUP)
async def update_group(request: Req, ctx: CallContext, group_id: str, data: UpdateGroupRequest) -> Empty:
    """Change a group's name, description, language, avatar or openness (superadmins, admins)."""
    req = msgspec.structs.replace(data, group_id=group_id)
    return await calls.UPDATE_GROUP.run(node_of(request), ctx, req)


@route(calls.DELETE_GROUP)
async def delete_group(request: Req, ctx: CallContext, group_id: str) -> Empty:
    """Delete a group (superadmins)."""
    req = DeleteGroupRequest(group_id=group_id)
    return await calls.DELETE_GROUP.run(node_of(request), ctx, req)


@route(calls.JOIN_GROUP)
async def join_group(request: Req, ctx: CallContext, group_id: str) -> Empty:
    """Join an open group, or ask to join a closed one."""
    req = JoinGroupRequest(group_id=group_id)
    return await calls.JOIN_GROUP.run(node_of(request), ctx, req)


@route(calls.LEAVE_GROUP)
async def leave_group(request: Req, ctx: CallContext, group_id: str) -> Empty:
    """Leave a group (not as its last superadmin), or withdraw a join request."""
    req = LeaveGroupRequest(group_id=group_id)
    return await calls.LEAVE_GROUP.run(node_of(request), ctx, req)


@route(calls.ADD_GROUP_USERS)
async def add_group_users(request: Req, ctx: CallContext, group_id: str, user_ids: UserIds = None) -> Empty:
    """Add users, or accept their join requests (superadmins, admins)."""
    req = AddGroupUsersRequest(group_id=group_id, user_ids=user_ids or [])
    return await calls.ADD_GROUP_USERS.run(node_of(request), ctx, req)


@route(calls.KICK_GROUP_USERS)
async def kick_group_users(request: Req, ctx: CallContext, group_id: str, user_ids: UserIds = None) -> Empty:
    """Remove members or decline join requests (superadmins, admins)."""
    req = KickGroupUsersRequest(group_id=group_id, user_ids=user_ids or [])
    return await calls.KICK_GROUP_USERS.run(node_of(request), ctx, req)


@route(calls.BAN_GROUP_USERS)
async def ban_group_users(request: Req, ctx: CallContext, group_id: str, user_ids: UserIds = None) -> Empty:
    """Remove members and keep them out (superadmins, admins)."""
    req = BanGroupUsersRequest(group_id=group_id, user_ids=user_ids or [])
    return await calls.BAN_GROUP_USERS.run(node_of(request), ctx, req)


@route(calls.PROMOTE_GROUP_USERS)
async def promote_group_users(
    request: Req, ctx: CallContext, group_id: str, user_ids: UserIds = None
) -> Empty:
    """Move members one rank up (superadmins, admins)."""
    req = PromoteGroupUsersRequest(group_id=group_id, user_ids=user_ids or [])
    return await calls.PROMOTE_GROUP_USERS.run(node_of(request), ctx, req)


@route(calls.DEMOTE_GROUP_USERS)
async def demote_group_users(
    request: Req, ctx: CallContext, group_id: str, user_ids: UserIds = None
) -> Empty:
    """Move members one rank down (superadmins, admins)."""
    req = DemoteGroupUsersRequest(group_id=group_id, user_ids=user_ids or [])
    return await calls.DEMOTE_GROUP_USERS.run(node_of(request), ctx, req)


@route(calls.LIST_GROUP_USERS)
async def list_group_users(
    request: Req,
    ctx: CallContext,
    group_id: str,
    limit: Limit = None,
    state_filter: State = None,
    cursor: Cursor = "",
) -> GroupUserList:
    """A group's users with their state; `limit` 1-100 (default 100)."""
    req = ListGroupUsersRequest(group_id=group_id, limit=limit, state=state_filter, cursor=cursor)
    return await calls.LIST_GROUP_USERS.run(node_of(request), ctx, req)


@route(calls.LIST_USER_GROUPS)
async def list_user_groups(
    request: Req,
    ctx: CallContext,
    user_id: str,
    limit: Limit = None,
    state_filter: State = None,
    cursor: Cursor = "",
) -> UserGroupList:
    """The groups of a user with its state in each; `limit` 1-100 (default 100)."""
    req = ListUserGroupsRequest(user_id=user_id, limit=limit, state=state_filter, cursor=cursor)
    return await calls.LIST_USER_GROUPS.run(node_of(request), ctx, req)


router = Router(
    path="/",
    route_handlers=[
        list_groups, create_group, update_group, delete_group, join_group, leave_group,
        add_group_users, kick_group_users, ban_group_users, promote_group_users, demote_group_users,
        list_group_users, list_user_groups,
    ],
    dependencies={"ctx": Provide(session_context)},
    tags=["groups"],
)  # fmt: skip
ROUTES = [router]

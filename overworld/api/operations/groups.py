"""Groups: create, update, delete, list; join, leave; add, kick, ban, promote, demote; members."""

from __future__ import annotations

from overworld.api import convert
from overworld.context import CallContext
from overworld.groups.models import GroupUpdate
from overworld.protocol import groups as wire
from overworld.protocol.base import Empty
from overworld.services import Services


async def create_group(node: Services, ctx: CallContext, req: wire.CreateGroupRequest) -> wire.Group:
    group = await node.groups.create(
        ctx.title.id,
        ctx.user_id,
        req.name,
        description=req.description,
        avatar_url=req.avatar_url,
        lang_tag=req.lang_tag,
        open=req.open,
        max_count=req.max_count,
    )
    return convert.group(group)


async def update_group(node: Services, ctx: CallContext, req: wire.UpdateGroupRequest) -> Empty:
    update = GroupUpdate(
        name=req.name,
        description=req.description,
        lang_tag=req.lang_tag,
        avatar_url=req.avatar_url,
        open=req.open,
    )
    await node.groups.update(ctx.title.id, ctx.user_id, req.group_id, update)
    return Empty()


async def delete_group(node: Services, ctx: CallContext, req: wire.DeleteGroupRequest) -> Empty:
    await node.groups.delete(ctx.title.id, ctx.user_id, req.group_id)
    return Empty()


async def join_group(node: Services, ctx: CallContext, req: wire.JoinGroupRequest) -> Empty:
    await node.groups.join(ctx.title.id, req.group_id, ctx.user_id)
    return Empty()


async def leave_group(node: Services, ctx: CallContext, req: wire.LeaveGroupRequest) -> Empty:
    await node.groups.leave(ctx.title.id, req.group_id, ctx.user_id)
    return Empty()


async def add_group_users(node: Services, ctx: CallContext, req: wire.AddGroupUsersRequest) -> Empty:
    await node.groups.add_users(ctx.title.id, ctx.user_id, req.group_id, req.user_ids)
    return Empty()


async def kick_group_users(node: Services, ctx: CallContext, req: wire.KickGroupUsersRequest) -> Empty:
    await node.groups.kick(ctx.title.id, ctx.user_id, req.group_id, req.user_ids)
    return Empty()


async def ban_group_users(node: Services, ctx: CallContext, req: wire.BanGroupUsersRequest) -> Empty:
    await node.groups.ban(ctx.title.id, ctx.user_id, req.group_id, req.user_ids)
    return Empty()


async def promote_group_users(node: Services, ctx: CallContext, req: wire.PromoteGroupUsersRequest) -> Empty:
    await node.groups.promote(ctx.title.id, ctx.user_id, req.group_id, req.user_ids)
    return Empty()


async def demote_group_users(node: Services, ctx: CallContext, req: wire.DemoteGroupUsersRequest) -> Empty:
    await node.groups.demote(ctx.title.id, ctx.user_id, req.group_id, req.user_ids)
    return Empty()


async def list_groups(node: Services, ctx: CallContext, req: wire.ListGroupsRequest) -> wire.GroupList:
    page = await node.groups.list_groups(
        ctx.title.id, req.name, req.lang_tag, req.members, req.open, req.limit, req.cursor
    )
    return wire.GroupList(groups=[convert.group(g) for g in page.groups], cursor=page.cursor)


async def list_group_users(
    node: Services, ctx: CallContext, req: wire.ListGroupUsersRequest
) -> wire.GroupUserList:
    page = await node.groups.list_group_users(ctx.title.id, req.group_id, req.limit, req.state, req.cursor)
    connected = node.hub.with_sockets(ctx.title.id, [u.user.id for u in page.group_users])
    return wire.GroupUserList(
        group_users=[
            wire.GroupUser(user=convert.user(u.user, u.user.id in connected), state=u.state)
            for u in page.group_users
        ],
        cursor=page.cursor,
    )


async def list_user_groups(
    node: Services, ctx: CallContext, req: wire.ListUserGroupsRequest
) -> wire.UserGroupList:
    page = await node.groups.list_user_groups(ctx.title.id, req.user_id, req.limit, req.state, req.cursor)
    return wire.UserGroupList(
        user_groups=[wire.UserGroup(group=convert.group(g.group), state=g.state) for g in page.user_groups],
        cursor=page.cursor,
    )

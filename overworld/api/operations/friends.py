"""Friends: list, add (invite or accept), delete, block, friends of friends."""

from __future__ import annotations

from overworld.api import convert
from overworld.context import CallContext
from overworld.protocol import friends as wire
from overworld.protocol.base import Empty
from overworld.services import Services


async def list_friends(node: Services, ctx: CallContext, req: wire.ListFriendsRequest) -> wire.FriendList:
    page = await node.friends.list_friends(ctx.title.id, ctx.user_id, req.limit, req.state, req.cursor)
    connected = node.hub.with_sockets(ctx.title.id, [f.user.id for f in page.friends])
    friends = [convert.friend(f, f.user.id in connected) for f in page.friends]
    return wire.FriendList(friends=friends, cursor=page.cursor)


async def add_friends(node: Services, ctx: CallContext, req: wire.AddFriendsRequest) -> Empty:
    await node.friends.add(ctx.title.id, ctx.user_id, ctx.username, req.ids, req.usernames, req.metadata)
    return Empty()


async def delete_friends(node: Services, ctx: CallContext, req: wire.DeleteFriendsRequest) -> Empty:
    await node.friends.delete(ctx.title.id, ctx.user_id, ctx.username, req.ids, req.usernames)
    return Empty()


async def block_friends(node: Services, ctx: CallContext, req: wire.BlockFriendsRequest) -> Empty:
    await node.friends.block(ctx.title.id, ctx.user_id, ctx.username, req.ids, req.usernames)
    return Empty()


async def list_friends_of_friends(
    node: Services, ctx: CallContext, req: wire.ListFriendsOfFriendsRequest
) -> wire.FriendsOfFriendsList:
    page = await node.friends.list_friends_of_friends(ctx.title.id, ctx.user_id, req.limit, req.cursor)
    return wire.FriendsOfFriendsList(
        friends_of_friends=[
            wire.FriendOfFriend(referrer=f.referrer, user=convert.user(f.user))
            for f in page.friends_of_friends
        ],
        cursor=page.cursor,
    )

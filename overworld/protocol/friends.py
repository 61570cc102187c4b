"""Nakama's friend messages. `state` is a wrapped int in Nakama's API, so it is sent even at 0."""

from __future__ import annotations

import msgspec

from overworld.protocol.accounts import User
from overworld.protocol.base import Message


class AddFriendsRequest(Message):
    ids: list[str] = msgspec.field(default_factory=list)
    usernames: list[str] = msgspec.field(default_factory=list)
    metadata: str = ""


class DeleteFriendsRequest(Message):
    ids: list[str] = msgspec.field(default_factory=list)
    usernames: list[str] = msgspec.field(default_factory=list)


class BlockFriendsRequest(Message):
    ids: list[str] = msgspec.field(default_factory=list)
    usernames: list[str] = msgspec.field(default_factory=list)


class ListFriendsRequest(Message):
    limit: int | None = None
    state: int | None = None
    cursor: str = ""


class ListFriendsOfFriendsRequest(Message):
    limit: int | None = None
    cursor: str = ""


class Friend(Message):
    user: User | None = None
    state: int | None = None
    update_time: str = ""
    metadata: str = ""


class FriendList(Message):
    friends: list[Friend] = msgspec.field(default_factory=list)
    cursor: str = ""


class FriendOfFriend(Message):
    referrer: str = ""
    user: User | None = None


class FriendsOfFriendsList(Message):
    friends_of_friends: list[FriendOfFriend] = msgspec.field(default_factory=list)
    cursor: str = ""

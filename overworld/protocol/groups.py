"""Nakama's group messages. `open` and the user states are wrapped values in Nakama's API, so
they are sent even at false / 0."""

from __future__ import annotations

import msgspec

from overworld.protocol.accounts import User
from overworld.protocol.base import Message


class CreateGroupRequest(Message):
    name: str = ""
    description: str = ""
    lang_tag: str = ""
    avatar_url: str = ""
    open: bool = False
    max_count: int = 0


class UpdateGroupRequest(Message):
    # Absent means unchanged; "" clears description and avatar_url (StringValue wrappers).
    group_id: str = ""
    name: str | None = None
    description: str | None = None
    lang_tag: str | None = None
    avatar_url: str | None = None
    open: bool | None = None


class DeleteGroupRequest(Message):
    group_id: str = ""


class JoinGroupRequest(Message):
    group_id: str = ""


class LeaveGroupRequest(Message):
    group_id: str = ""


class GroupUsersRequest(Message):
    group_id: str = ""
    user_ids: list[str] = msgspec.field(default_factory=list)


# Nakama has one message per call; the hooks see these names.
class AddGroupUsersRequest(GroupUsersRequest):
    pass


class KickGroupUsersRequest(GroupUsersRequest):
    pass


class BanGroupUsersRequest(GroupUsersRequest):
    pass


class PromoteGroupUsersRequest(GroupUsersRequest):
    pass


class DemoteGroupUsersRequest(GroupUsersRequest):
    pass


class ListGroupsRequest(Message):
    name: str = ""
    cursor: str = ""
    limit: int | None = None
    lang_tag: str = ""
    members: int | None = None
    open: bool | None = None


class ListGroupUsersRequest(Message):
    group_id: str = ""
    limit: int | None = None
    state: int | None = None
    cursor: str = ""


class ListUserGroupsRequest(Message):
    user_id: str = ""
    limit: int | None = None
    state: int | None = None
    cursor: str = ""


class Group(Message):
    id: str = ""
    creator_id: str = ""
    name: str = ""
    description: str = ""
    lang_tag: str = ""
    metadata: str = ""
    avatar_url: str = ""
    open: bool | None = None
    edge_count: int = 0
    max_count: int = 0
    create_time: str = ""
    update_time: str = ""


class GroupList(Message):
    groups: list[Group] = msgspec.field(default_factory=list)
    cursor: str = ""


class GroupUser(Message):
    user: User | None = None
    state: int | None = None


class GroupUserList(Message):
    group_users: list[GroupUser] = msgspec.field(default_factory=list)
    cursor: str = ""


class UserGroup(Message):
    group: Group | None = None
    state: int | None = None


class UserGroupList(Message):
    user_groups: list[UserGroup] = msgspec.field(default_factory=list)
    cursor: str = ""

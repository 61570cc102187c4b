"""Groups as the services return them, and the events they announce."""

from __future__ import annotations

from dataclasses import dataclass

from overworld.accounts.models import User

# A user's state in a group, as Nakama numbers it.
SUPERADMIN, ADMIN, MEMBER, JOIN_REQUEST, BANNED = 0, 1, 2, 3, 4

# Nakama's notification codes for these events (the notification layer sends them).
NOTIFICATION_GROUP_ADD = -4
NOTIFICATION_GROUP_JOIN_REQUEST = -5

# Nakama's channel message codes for membership changes posted to the group's chat channel.
CHANNEL_GROUP_JOIN = 3
CHANNEL_GROUP_ADD = 4
CHANNEL_GROUP_LEAVE = 5
CHANNEL_GROUP_KICK = 6
CHANNEL_GROUP_PROMOTE = 7
CHANNEL_GROUP_BAN = 8
CHANNEL_GROUP_DEMOTE = 9


@dataclass(slots=True)
class Group:
    id: str
    creator_id: str
    name: str
    description: str = ""
    avatar_url: str = ""
    lang_tag: str = "en"
    metadata: str = "{}"
    open: bool = False
    edge_count: int = 0
    max_count: int = 100
    create_time: int = 0
    update_time: int = 0


@dataclass(slots=True)
class GroupPage:
    groups: list[Group]
    cursor: str = ""


@dataclass(slots=True)
class GroupUser:
    user: User
    state: int


@dataclass(slots=True)
class GroupUserPage:
    group_users: list[GroupUser]
    cursor: str = ""


@dataclass(slots=True)
class UserGroup:
    group: Group
    state: int


@dataclass(slots=True)
class UserGroupPage:
    user_groups: list[UserGroup]
    cursor: str = ""


@dataclass(slots=True)
class GroupUpdate:
    """Fields to change; None leaves a field as it is. `description` and `avatar_url` "" clear.
    `metadata`, `max_count` and `creator_id` are for server code only."""

    name: str | None = None
    description: str | None = None
    lang_tag: str | None = None
    avatar_url: str | None = None
    open: bool | None = None
    metadata: str | None = None
    max_count: int | None = None
    creator_id: str | None = None


@dataclass(frozen=True, slots=True)
class GroupJoinRequest:
    """`user_id` asked to join the closed group; `admin_ids` are its superadmins and admins (Nakama
    notifies each, code -5, subject "User <username> wants to join your group", content
    {"group_id", "username"})."""

    title_id: str
    group_id: str
    group_name: str
    user_id: str
    username: str
    admin_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GroupUsersAdded:
    """Users were added to the group, or their join requests accepted, by `caller_id` ("" for
    server code). Nakama notifies each, code -4, subject "You've been added to group <name>",
    content {"group_id", "name"}."""

    title_id: str
    group_id: str
    group_name: str
    caller_id: str
    user_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GroupMembershipChanged:
    """One user's membership changed. `code` is Nakama's channel message code (3 join, 4 add,
    5 leave, 6 kick, 7 promote, 8 ban, 9 demote) for the message it posts to the group channel
    (content "{}", sender the user); after leave, kick and ban it also removes the user's
    presences from the group channel."""

    title_id: str
    group_id: str
    code: int
    user_id: str
    username: str


@dataclass(frozen=True, slots=True)
class GroupDeleted:
    title_id: str
    group_id: str

"""Friends as the services return them, and the events they announce."""

from __future__ import annotations

from dataclasses import dataclass

from overworld.accounts.models import User

# Friend.state, as Nakama numbers it: the state of the edge from the listing user to the other.
FRIEND, INVITE_SENT, INVITE_RECEIVED, BLOCKED = 0, 1, 2, 3

# Nakama's notification codes for these events (the notification layer sends them).
NOTIFICATION_FRIEND_REQUEST = -2
NOTIFICATION_FRIEND_ACCEPT = -3


@dataclass(slots=True)
class Friend:
    user: User
    state: int
    update_time: int  # of the relationship, Unix ms
    metadata: str = "{}"


@dataclass(slots=True)
class FriendPage:
    friends: list[Friend]
    cursor: str = ""


@dataclass(slots=True)
class FriendOfFriend:
    referrer: str  # the friend through whom `user` was found
    user: User


@dataclass(slots=True)
class FriendsOfFriendsPage:
    friends_of_friends: list[FriendOfFriend]
    cursor: str = ""


@dataclass(frozen=True, slots=True)
class FriendRequest:
    """`from_user_id` invited `to_user_id` (Nakama notifies the invitee, code -2, subject
    "<from_username> wants to add you as a friend", content {"username": from_username})."""

    title_id: str
    from_user_id: str
    from_username: str
    to_user_id: str


@dataclass(frozen=True, slots=True)
class FriendAccepted:
    """`from_user_id` accepted the invitation of `to_user_id`; they are friends now (Nakama
    notifies `to_user_id`, code -3, subject "<from_username> accepted your friend request")."""

    title_id: str
    from_user_id: str
    from_username: str
    to_user_id: str


@dataclass(frozen=True, slots=True)
class FriendBlocked:
    """`user_id` blocked `blocked_user_id` (Nakama drops their direct-message stream)."""

    title_id: str
    user_id: str
    blocked_user_id: str

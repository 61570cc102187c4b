"""Nakama's codes of the notifications the server sends on its own. Codes at or below zero are
reserved for these (`nk.notification_send` takes positive codes only); Nakama's are -1 to -8
(`server/core_notification.go`), Overworld's own extensions start at -100 (live events)."""

from __future__ import annotations

DM_REQUEST = -1  # "<username> wants to chat": a direct channel was opened to the user
FRIEND_REQUEST = -2  # "<username> wants to add you as a friend"
FRIEND_ACCEPT = -3  # "<username> accepted your friend request"
GROUP_ADD = -4  # "You've been added to group <name>"
GROUP_JOIN_REQUEST = -5  # "User <username> wants to join your group"
FRIEND_JOIN_GAME = -6  # a friend imported from a social network joined (no such import here yet)
SINGLE_SOCKET = -7  # subject "single_socket": this socket is closed, the user connected another
USER_BANNED = -8  # subject "banned": the account was banned (no ban call here yet)

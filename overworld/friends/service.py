"""Friend operations: add (invite, or accept an invitation), delete, block, list, as Nakama does.

A relationship is two directed edges: friends (0/0), an invitation (1 from the inviter, 2 from
the invitee); a block is one edge from the blocker (3). `users.edge_count` counts the edges a user
is the source of, as in Nakama.

Every change runs in one transaction that first locks the users it involves, in id order
(PostgreSQL; SQLite runs one transaction at a time anyway). Changes touching the same users are
so serialised without deadlocks: two users adding each other at once end up friends, the second
finding and accepting the first's invitation, never with a lost or duplicate edge.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable

import orjson
import structlog

from overworld import cursors
from overworld.accounts import validation as check
from overworld.clock import now_ms
from overworld.db import Database, Tx
from overworld.errors import InvalidArgument, NotFound
from overworld.friends.models import (
    BLOCKED,
    FRIEND,
    INVITE_RECEIVED,
    INVITE_SENT,
    FriendAccepted,
    FriendBlocked,
    FriendOfFriend,
    FriendPage,
    FriendRequest,
    FriendsOfFriendsPage,
)
from overworld.friends.store import FriendStore
from overworld.ids import parse_uuid
from overworld.listeners import announce

log = structlog.get_logger(__name__)

NO_VALID_TARGET = "No valid ID or username was provided."
EMPTY_USERNAME = "Username must not be empty."
SELF_ADD = "Cannot add self as friend."
SELF_DELETE = "Cannot delete self."
SELF_BLOCK = "Cannot block self."
BAD_CURSOR = "Cursor is invalid."
USER_NOT_FOUND = "User account not found."
MAX_TARGETS = 1000  # ids + usernames per call (Nakama has no limit; this bounds one transaction)
LIST_LIMIT = 1000
FOF_LIMIT, FOF_DEFAULT = 100, 10


def _position() -> int:
    return time.time_ns()


def canonical_user_id(value: str) -> str | None:
    """The canonical text of a user id, or None if it is not a UUID (or is the nil UUID)."""
    parsed = parse_uuid(value)
    return None if parsed is None or parsed.int == 0 else str(parsed)


def _merge(stored: str, extra: str) -> str:
    """JSON objects merged at the top level, `extra` winning (PostgreSQL's `jsonb || jsonb`)."""
    if extra == "{}":
        return stored
    merged = orjson.loads(stored or "{}")
    merged.update(orjson.loads(extra))
    return orjson.dumps(merged).decode()


class FriendService:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._store = FriendStore(db)
        self._request_listeners: list[Callable[[FriendRequest], None]] = []
        self._accepted_listeners: list[Callable[[FriendAccepted], None]] = []
        self._blocked_listeners: list[Callable[[FriendBlocked], None]] = []
        self._counted: list[Callable[[str, list[str]], Awaitable[None]]] = []

    # -- listeners --------------------------------------------------------------------------------
    # Called after the change is committed, one event per pair. A listener must return at once
    # (start background work for anything slow); its errors are logged, never seen by the caller.

    def on_counts_changed(self, listener: Callable[[str, list[str]], Awaitable[None]]) -> None:
        """Awaited after a commit that changed users' `edge_count`, with the title and those
        users, before the call returns (the account cache drops them on every node)."""
        self._counted.append(listener)

    async def _counts_changed(self, title_id: str, counts: dict[str, int]) -> None:
        changed = [user_id for user_id, n in counts.items() if n]
        if changed:
            for listener in self._counted:
                await listener(title_id, changed)

    def on_friend_request(self, listener: Callable[[FriendRequest], None]) -> None:
        """Told of every new invitation (Nakama's notification code -2)."""
        self._request_listeners.append(listener)

    def on_friend_accepted(self, listener: Callable[[FriendAccepted], None]) -> None:
        """Told of every accepted invitation (Nakama's notification code -3)."""
        self._accepted_listeners.append(listener)

    def on_friend_blocked(self, listener: Callable[[FriendBlocked], None]) -> None:
        """Told of every block."""
        self._blocked_listeners.append(listener)

    # -- queries for other layers -----------------------------------------------------------------

    async def state(self, title_id: str, user_id: str, other_id: str) -> int | None:
        """The state of the edge from `user_id` to `other_id` (0 friend, 1 invite sent, 2 invite
        received, 3 blocked), or None when there is none."""
        return await self._store.state(title_id, user_id, other_id)

    async def is_blocked(self, title_id: str, user_id: str, by_user_id: str) -> bool:
        """Whether `by_user_id` has blocked `user_id` (Nakama then refuses their direct messages)."""
        return await self.state(title_id, by_user_id, user_id) == BLOCKED

    # -- changes ----------------------------------------------------------------------------------

    async def add(
        self,
        title_id: str,
        user_id: str,
        username: str,
        ids: Iterable[str] = (),
        usernames: Iterable[str] = (),
        metadata: str = "",
    ) -> None:
        """Invite users, or accept their invitations. Unknown users, users already invited or
        befriended, users the caller blocked and users who blocked the caller are left alone."""
        targets = await self._targets(title_id, user_id, username, ids, usernames, SELF_ADD)
        if targets is None:
            return
        if not targets:
            raise InvalidArgument(NO_VALID_TARGET)
        extra = check.metadata(metadata) if metadata else "{}"
        requests: list[FriendRequest] = []
        accepted: list[FriendAccepted] = []
        now = now_ms()
        async with self._db.transaction() as tx:
            present = await self._store.lock_users(tx, title_id, [user_id, *targets])
            if user_id not in present:
                raise NotFound(USER_NOT_FOUND)
            me = present[user_id]
            counts: dict[str, int] = {}
            for friend_id in targets:
                if friend_id not in present:
                    continue
                edges = await self._store.pair(tx, title_id, user_id, friend_id)
                mine, theirs = edges.get(user_id), edges.get(friend_id)
                if (mine is not None and mine.state == BLOCKED) or (
                    theirs is not None and theirs.state == BLOCKED
                ):
                    continue
                if mine is None and theirs is None:
                    await self._store.insert_pair(
                        tx,
                        title_id,
                        user_id,
                        friend_id,
                        INVITE_SENT,
                        INVITE_RECEIVED,
                        _position(),
                        now,
                        extra,
                    )
                    counts[user_id] = counts.get(user_id, 0) + 1
                    counts[friend_id] = counts.get(friend_id, 0) + 1
                    requests.append(FriendRequest(title_id, user_id, me, friend_id))
                elif (
                    mine is not None
                    and theirs is not None
                    and mine.state == INVITE_RECEIVED
                    and theirs.state == INVITE_SENT
                ):
                    await self._store.set_pair_state(
                        tx, title_id, user_id, friend_id, FRIEND, now, _merge(mine.metadata, extra)
                    )
                    accepted.append(FriendAccepted(title_id, user_id, me, friend_id))
            await self._store.add_edge_counts(tx, title_id, counts, now)
        await self._counts_changed(title_id, counts)
        announce(self._request_listeners, requests, "friend")
        announce(self._accepted_listeners, accepted, "friend")

    async def delete(
        self,
        title_id: str,
        user_id: str,
        username: str,
        ids: Iterable[str] = (),
        usernames: Iterable[str] = (),
    ) -> None:
        """Remove friends, invitations (either way) and the caller's blocks. A block by the other
        user stays; unknown users are ignored."""
        targets = await self._targets(title_id, user_id, username, ids, usernames, SELF_DELETE)
        if not targets:
            return
        now = now_ms()
        async with self._db.transaction() as tx:
            await self._store.lock_users(tx, title_id, [user_id, *targets])
            counts: dict[str, int] = {}
            for friend_id in targets:
                # A block by the other user stays.
                for source_id in await self._store.delete_pair(tx, title_id, user_id, friend_id, BLOCKED):
                    counts[source_id] = counts.get(source_id, 0) - 1
            await self._store.add_edge_counts(tx, title_id, counts, now)
        await self._counts_changed(title_id, counts)

    async def block(
        self,
        title_id: str,
        user_id: str,
        username: str,
        ids: Iterable[str] = (),
        usernames: Iterable[str] = (),
    ) -> None:
        """Block users: the caller's edge becomes (or is made) a block, the other user's edge to
        the caller is removed unless it is a block too. Unknown users are ignored."""
        targets = await self._targets(title_id, user_id, username, ids, usernames, SELF_BLOCK)
        if targets is None:
            return
        if not targets:
            raise InvalidArgument(NO_VALID_TARGET)
        blocked: list[FriendBlocked] = []
        now = now_ms()
        async with self._db.transaction() as tx:
            present = await self._store.lock_users(tx, title_id, [user_id, *targets])
            if user_id not in present:
                raise NotFound(USER_NOT_FOUND)
            counts: dict[str, int] = {}
            for friend_id in targets:
                if friend_id not in present:
                    continue
                if not await self._store.set_state(tx, title_id, user_id, friend_id, BLOCKED, now):
                    await self._store.insert(tx, title_id, user_id, friend_id, BLOCKED, _position(), now)
                    counts[user_id] = counts.get(user_id, 0) + 1
                if await self._store.delete_unless(tx, title_id, friend_id, user_id, BLOCKED):
                    counts[friend_id] = counts.get(friend_id, 0) - 1
                blocked.append(FriendBlocked(title_id, user_id, friend_id))
            await self._store.add_edge_counts(tx, title_id, counts, now)
        await self._counts_changed(title_id, counts)
        announce(self._blocked_listeners, blocked, "friend")

    async def delete_user_edges(self, tx: Tx, title_id: str, user_id: str) -> None:
        """Account deletion step: remove every edge from and to the user, and count the others'
        edges down."""
        await self._store.lock_neighbours(tx, title_id, user_id)
        sources = await self._store.delete_user(tx, title_id, user_id)
        await self._store.add_edge_counts(tx, title_id, {source_id: -1 for source_id in sources}, now_ms())

    # -- listing ----------------------------------------------------------------------------------

    async def list_friends(
        self,
        title_id: str,
        user_id: str,
        limit: int | None = None,
        state: int | None = None,
        cursor: str = "",
    ) -> FriendPage:
        """A page of the user's relationships (all, or those in `state`), by state, then oldest
        first. `limit` 1-1000 (default 1000)."""
        limit = LIST_LIMIT if limit is None else limit
        if not 1 <= limit <= LIST_LIMIT:
            raise InvalidArgument(f"Invalid limit - limit must be between 1 and {LIST_LIMIT}.")
        if state is not None and not FRIEND <= state <= BLOCKED:
            raise InvalidArgument("Invalid state - state must be between 0 and 3.")
        after = cursors.after_in_state(cursor, state, BAD_CURSOR)
        listed = await self._store.list_edges(title_id, user_id, limit + 1, state, after)
        page = listed[:limit]
        next_cursor = ""
        if len(listed) > limit:
            last = page[-1]
            next_cursor = cursors.encode([last.friend.state, last.position, last.friend.user.id])
        return FriendPage(friends=[entry.friend for entry in page], cursor=next_cursor)

    async def list_friends_of_friends(
        self, title_id: str, user_id: str, limit: int | None = None, cursor: str = ""
    ) -> FriendsOfFriendsPage:
        """Friends of the user's friends who are not the user nor already its friends, each with
        the friend (`referrer`) it was found through; one user may come through several friends.
        `limit` 1-100 (default 10)."""
        limit = FOF_DEFAULT if limit is None else limit
        if not 1 <= limit <= FOF_LIMIT:
            raise InvalidArgument(f"Invalid limit - limit must be between 1 and {FOF_LIMIT}.")
        after = cursors.decode(cursor, (str, str), BAD_CURSOR) if cursor else None
        pairs = await self._store.friends_of_friends(title_id, user_id, FRIEND, limit + 1, after)
        page = pairs[:limit]
        next_cursor = cursors.encode(list(page[-1])) if len(pairs) > limit else ""
        users = await self._store.users(title_id, list({friend_id for _, friend_id in page}))
        found = [
            FriendOfFriend(referrer=referrer, user=users[friend_id])
            for referrer, friend_id in page
            if friend_id in users
        ]
        return FriendsOfFriendsPage(friends_of_friends=found, cursor=next_cursor)

    # -- helpers ----------------------------------------------------------------------------------

    async def _targets(
        self,
        title_id: str,
        user_id: str,
        username: str,
        ids: Iterable[str],
        usernames: Iterable[str],
        self_message: str,
    ) -> list[str] | None:
        """The user ids a call is about, validated as Nakama does: None when none were given;
        ids not found by username are dropped (ids given directly are kept)."""
        ids, usernames = list(ids), list(usernames)
        if not ids and not usernames:
            return None
        if len(ids) + len(usernames) > MAX_TARGETS:
            raise InvalidArgument(f"Too many users, at most {MAX_TARGETS} per call.")
        targets: list[str] = []
        for value in ids:
            canonical = canonical_user_id(value)
            if value == user_id or canonical == user_id:
                raise InvalidArgument(self_message)
            if canonical is None:
                raise InvalidArgument(f"Invalid user ID '{value}'.")
            targets.append(canonical)
        for name in usernames:
            if not name:
                raise InvalidArgument(EMPTY_USERNAME)
            if name == username:
                raise InvalidArgument(self_message)
        if usernames:
            found = await self._store.ids_by_usernames(title_id, usernames)
            targets.extend(i for i in found if i != user_id)
        return list(dict.fromkeys(targets))

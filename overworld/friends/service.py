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
from collections.abc import Callable, Iterable
from typing import Any

import orjson
import structlog

from overworld import cursors
from overworld.accounts import validation as check
from overworld.accounts.models import User
from overworld.accounts.store import USER_COLUMNS, user_from_row
from overworld.clock import now_ms
from overworld.db import Database, Row, Tx
from overworld.errors import InvalidArgument, NotFound
from overworld.friends.models import (
    BLOCKED,
    FRIEND,
    INVITE_RECEIVED,
    INVITE_SENT,
    Friend,
    FriendAccepted,
    FriendBlocked,
    FriendOfFriend,
    FriendPage,
    FriendRequest,
    FriendsOfFriendsPage,
)
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
_U_COLUMNS = ", ".join("u." + c.strip() for c in USER_COLUMNS.split(","))


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
        self._lock = " FOR UPDATE" if db.dialect == "postgresql" else ""
        self._request_listeners: list[Callable[[FriendRequest], None]] = []
        self._accepted_listeners: list[Callable[[FriendAccepted], None]] = []
        self._blocked_listeners: list[Callable[[FriendBlocked], None]] = []

    # -- listeners --------------------------------------------------------------------------------
    # Called after the change is committed, one event per pair. A listener must return at once
    # (start background work for anything slow); its errors are logged, never seen by the caller.

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
        value = await self._db.fetchval(
            "SELECT state FROM user_edges WHERE title_id = $1 AND source_id = $2 AND destination_id = $3",
            title_id,
            user_id,
            other_id,
        )
        return None if value is None else int(value)

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
            present = await self._lock_users(tx, title_id, [user_id, *targets])
            if user_id not in present:
                raise NotFound(USER_NOT_FOUND)
            me = present[user_id]
            counts: dict[str, int] = {}
            for friend_id in targets:
                if friend_id not in present:
                    continue
                edges = await self._pair(tx, title_id, user_id, friend_id)
                mine, theirs = edges.get(user_id), edges.get(friend_id)
                if (mine is not None and mine["state"] == BLOCKED) or (
                    theirs is not None and theirs["state"] == BLOCKED
                ):
                    continue
                if mine is None and theirs is None:
                    await tx.execute(
                        "INSERT INTO user_edges (title_id, source_id, destination_id, state, position,"
                        " update_time, metadata) VALUES ($1, $2, $3, $4, $6, $7, $8),"
                        " ($1, $3, $2, $5, $6, $7, '{}')",
                        title_id, user_id, friend_id, INVITE_SENT, INVITE_RECEIVED, _position(), now, extra,
                    )  # fmt: skip
                    counts[user_id] = counts.get(user_id, 0) + 1
                    counts[friend_id] = counts.get(friend_id, 0) + 1
                    requests.append(FriendRequest(title_id, user_id, me, friend_id))
                elif (
                    mine is not None
                    and theirs is not None
                    and mine["state"] == INVITE_RECEIVED
                    and theirs["state"] == INVITE_SENT
                ):
                    await tx.execute(
                        "UPDATE user_edges SET state = $4, update_time = $5, metadata = CASE"
                        " WHEN source_id = $2 THEN $6 ELSE metadata END"
                        " WHERE title_id = $1 AND ((source_id = $2 AND destination_id = $3)"
                        " OR (source_id = $3 AND destination_id = $2))",
                        title_id, user_id, friend_id, FRIEND, now, _merge(mine["metadata"], extra),
                    )  # fmt: skip
                    accepted.append(FriendAccepted(title_id, user_id, me, friend_id))
            await self._apply_counts(tx, title_id, counts, now)
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
            await self._lock_users(tx, title_id, [user_id, *targets])
            counts: dict[str, int] = {}
            for friend_id in targets:
                rows = await tx.fetch(
                    "DELETE FROM user_edges WHERE title_id = $1 AND ((source_id = $2 AND destination_id = $3)"
                    " OR (source_id = $3 AND destination_id = $2 AND state <> $4)) RETURNING source_id",
                    title_id,
                    user_id,
                    friend_id,
                    BLOCKED,
                )
                for row in rows:
                    counts[row["source_id"]] = counts.get(row["source_id"], 0) - 1
            await self._apply_counts(tx, title_id, counts, now)

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
            present = await self._lock_users(tx, title_id, [user_id, *targets])
            if user_id not in present:
                raise NotFound(USER_NOT_FOUND)
            counts: dict[str, int] = {}
            for friend_id in targets:
                if friend_id not in present:
                    continue
                changed = await tx.execute(
                    "UPDATE user_edges SET state = $4, update_time = $5"
                    " WHERE title_id = $1 AND source_id = $2 AND destination_id = $3",
                    title_id,
                    user_id,
                    friend_id,
                    BLOCKED,
                    now,
                )
                if changed == 0:
                    await tx.execute(
                        "INSERT INTO user_edges (title_id, source_id, destination_id, state, position,"
                        " update_time, metadata) VALUES ($1, $2, $3, $4, $5, $6, '{}')",
                        title_id, user_id, friend_id, BLOCKED, _position(), now,
                    )  # fmt: skip
                    counts[user_id] = counts.get(user_id, 0) + 1
                removed = await tx.execute(
                    "DELETE FROM user_edges WHERE title_id = $1 AND source_id = $3 AND destination_id = $2"
                    " AND state <> $4",
                    title_id,
                    user_id,
                    friend_id,
                    BLOCKED,
                )
                if removed:
                    counts[friend_id] = counts.get(friend_id, 0) - 1
                blocked.append(FriendBlocked(title_id, user_id, friend_id))
            await self._apply_counts(tx, title_id, counts, now)
        announce(self._blocked_listeners, blocked, "friend")

    async def delete_user_edges(self, tx: Tx, title_id: str, user_id: str) -> None:
        """Account deletion step: remove every edge from and to the user, and count the others'
        edges down."""
        await self._lock_neighbours(tx, title_id, user_id)
        rows = await tx.fetch(
            "DELETE FROM user_edges WHERE title_id = $1 AND destination_id = $2 RETURNING source_id",
            title_id,
            user_id,
        )
        await tx.execute("DELETE FROM user_edges WHERE title_id = $1 AND source_id = $2", title_id, user_id)
        await self._apply_counts(tx, title_id, {r["source_id"]: -1 for r in rows}, now_ms())

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
        args: list[Any] = [title_id, user_id, limit + 1]
        where = ""
        if state is not None:
            args.append(state)
            where += f" AND e.state = ${len(args)}"
        if cursor:
            after = cursors.decode(cursor, (int, int, str), BAD_CURSOR)
            if state is not None and after[0] != state:
                raise InvalidArgument(BAD_CURSOR)
            args.extend(after)
            n = len(args)
            where += f" AND (e.state, e.position, e.destination_id) > (${n - 2}, ${n - 1}, ${n})"
        rows = await self._db.fetch(
            f"SELECT {_U_COLUMNS}, e.state AS edge_state, e.position AS edge_position,"
            " e.update_time AS edge_update_time, e.metadata AS edge_metadata"
            " FROM user_edges e JOIN users u ON u.title_id = e.title_id AND u.id = e.destination_id"
            f" WHERE e.title_id = $1 AND e.source_id = $2{where}"
            " ORDER BY e.state, e.position, e.destination_id LIMIT $3",
            *args,
        )
        page = rows[:limit]
        next_cursor = ""
        if len(rows) > limit:
            last = page[-1]
            next_cursor = cursors.encode([last["edge_state"], last["edge_position"], last["id"]])
        friends = [
            Friend(
                user=user_from_row(r),
                state=r["edge_state"],
                update_time=r["edge_update_time"],
                metadata=r["edge_metadata"] or "{}",
            )
            for r in page
        ]
        return FriendPage(friends=friends, cursor=next_cursor)

    async def list_friends_of_friends(
        self, title_id: str, user_id: str, limit: int | None = None, cursor: str = ""
    ) -> FriendsOfFriendsPage:
        """Friends of the user's friends who are not the user nor already its friends, each with
        the friend (`referrer`) it was found through; one user may come through several friends.
        `limit` 1-100 (default 10)."""
        limit = FOF_DEFAULT if limit is None else limit
        if not 1 <= limit <= FOF_LIMIT:
            raise InvalidArgument(f"Invalid limit - limit must be between 1 and {FOF_LIMIT}.")
        args: list[Any] = [title_id, user_id, FRIEND, limit + 1]
        position = ""
        if cursor:
            args.extend(cursors.decode(cursor, (str, str), BAD_CURSOR))
            position = " AND (f2.source_id, f2.destination_id) > ($5, $6)"
        rows = await self._db.fetch(
            "SELECT f2.source_id AS referrer, f2.destination_id AS friend_id FROM user_edges f1"
            " JOIN user_edges f2 ON f2.title_id = f1.title_id AND f2.source_id = f1.destination_id"
            " WHERE f1.title_id = $1 AND f1.source_id = $2 AND f1.state = $3 AND f2.state = $3"
            " AND f2.destination_id <> $2 AND NOT EXISTS (SELECT 1 FROM user_edges f3"
            " WHERE f3.title_id = $1 AND f3.source_id = $2 AND f3.destination_id = f2.destination_id"
            f" AND f3.state = $3){position} ORDER BY f2.source_id, f2.destination_id LIMIT $4",
            *args,
        )
        page = rows[:limit]
        next_cursor = (
            cursors.encode([page[-1]["referrer"], page[-1]["friend_id"]]) if len(rows) > limit else ""
        )
        users = await self._users(title_id, list({r["friend_id"] for r in page}))
        found = [
            FriendOfFriend(referrer=r["referrer"], user=users[r["friend_id"]])
            for r in page
            if r["friend_id"] in users
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
            marks = ", ".join(f"${i + 2}" for i in range(len(usernames)))
            rows = await self._db.fetch(
                f"SELECT id FROM users WHERE title_id = $1 AND username IN ({marks})", title_id, *usernames
            )
            targets.extend(r["id"] for r in rows if r["id"] != user_id)
        return list(dict.fromkeys(targets))

    async def _lock_users(self, tx: Tx, title_id: str, user_ids: list[str]) -> dict[str, str]:
        """Lock the users (those that exist), in id order; returns their usernames by id."""
        unique = sorted(set(user_ids))
        marks = ", ".join(f"${i + 2}" for i in range(len(unique)))
        rows = await tx.fetch(
            f"SELECT id, username FROM users WHERE title_id = $1 AND id IN ({marks}) ORDER BY id{self._lock}",
            title_id,
            *unique,
        )
        return {r["id"]: r["username"] for r in rows}

    async def _lock_neighbours(self, tx: Tx, title_id: str, user_id: str) -> None:
        if self._lock:
            await tx.fetch(
                "SELECT id FROM users WHERE title_id = $1 AND (id = $2 OR id IN (SELECT source_id"
                " FROM user_edges WHERE title_id = $1 AND destination_id = $2)) ORDER BY id FOR UPDATE",
                title_id,
                user_id,
            )

    async def _pair(self, tx: Tx, title_id: str, user_id: str, friend_id: str) -> dict[str, Row]:
        """The edges between two users, by source id."""
        rows = await tx.fetch(
            "SELECT source_id, state, metadata FROM user_edges WHERE title_id = $1"
            " AND ((source_id = $2 AND destination_id = $3) OR (source_id = $3 AND destination_id = $2))",
            title_id,
            user_id,
            friend_id,
        )
        return {r["source_id"]: r for r in rows}

    async def _apply_counts(self, tx: Tx, title_id: str, counts: dict[str, int], now: int) -> None:
        for uid in sorted(counts):  # the users are locked already; the order is for form
            if counts[uid]:
                await tx.execute(
                    "UPDATE users SET edge_count = edge_count + $3, update_time = $4"
                    " WHERE title_id = $1 AND id = $2",
                    title_id,
                    uid,
                    counts[uid],
                    now,
                )

    async def _users(self, title_id: str, ids: list[str]) -> dict[str, User]:
        if not ids:
            return {}
        marks = ", ".join(f"${i + 2}" for i in range(len(ids)))
        rows = await self._db.fetch(
            f"SELECT {USER_COLUMNS} FROM users WHERE title_id = $1 AND id IN ({marks})", title_id, *ids
        )
        return {r["id"]: user_from_row(r) for r in rows}

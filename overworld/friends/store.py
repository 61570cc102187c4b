"""SQL for friend edges (`user_edges`) and the users' edge counts. Every statement names the title.

An edge goes from `source_id` to `destination_id` with the state the source sees (see
`friends.models`); `position` orders a user's edges of one state, oldest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from overworld.accounts.models import User
from overworld.accounts.store import JOINED_USER_COLUMNS, AccountStore, user_from_row
from overworld.db import Database, Tx
from overworld.friends.models import Friend

_PAIR = "((source_id = $2 AND destination_id = $3) OR (source_id = $3 AND destination_id = $2))"


class Edge(NamedTuple):
    state: int
    metadata: str


class Listed(NamedTuple):
    """A listed relationship and its edge's position (for the cursor)."""

    friend: Friend
    position: int


def _marks(count: int, first: int) -> str:
    return ", ".join(f"${i + first}" for i in range(count))


class FriendStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._accounts = AccountStore(db)  # users by id
        self._lock = db.sql.lock_rows

    # -- reads ------------------------------------------------------------------------------------

    async def state(self, title_id: str, source_id: str, destination_id: str) -> int | None:
        """The state of the edge from `source_id` to `destination_id`, or None."""
        value = await self._db.fetchval(
            "SELECT state FROM user_edges WHERE title_id = $1 AND source_id = $2 AND destination_id = $3",
            title_id,
            source_id,
            destination_id,
        )
        return None if value is None else int(value)

    async def ids_by_usernames(self, title_id: str, usernames: list[str]) -> list[str]:
        rows = await self._db.fetch(
            f"SELECT id FROM users WHERE title_id = $1 AND username IN ({_marks(len(usernames), 2)})",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            title_id,
            *usernames,
        )
        return [r["id"] for r in rows]

    async def users(self, title_id: str, ids: list[str]) -> dict[str, User]:
        return {u.id: u for u in await self._accounts.users_by_ids(title_id, ids)}

    async def list_edges(
        self,
        title_id: str,
        user_id: str,
        limit: int,
        state: int | None,
        after: Sequence[int | str] | None,
    ) -> list[Listed]:
        """Up to `limit` of the user's edges (all, or those in `state`) with the other users, in
        (state, position, other id) order, after `after` = (state, position, other id)."""
        args: list[Any] = [title_id, user_id, limit]
        where = ""
        if state is not None:
            args.append(state)
            where += f" AND e.state = ${len(args)}"
        if after is not None:
            args.extend(after)
            n = len(args)
            where += f" AND (e.state, e.position, e.destination_id) > (${n - 2}, ${n - 1}, ${n})"
        rows = await self._db.fetch(
            f"SELECT {JOINED_USER_COLUMNS}, e.state AS edge_state, e.position AS edge_position,"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            " e.update_time AS edge_update_time, e.metadata AS edge_metadata"
            " FROM user_edges e JOIN users u ON u.title_id = e.title_id AND u.id = e.destination_id"
            f" WHERE e.title_id = $1 AND e.source_id = $2{where}"
            " ORDER BY e.state, e.position, e.destination_id LIMIT $3",
            *args,
        )
        return [
            Listed(
                Friend(
                    user=user_from_row(r),
                    state=r["edge_state"],
                    update_time=r["edge_update_time"],
                    metadata=r["edge_metadata"] or "{}",
                ),
                r["edge_position"],
            )
            for r in rows
        ]

    async def friends_of_friends(
        self, title_id: str, user_id: str, friend_state: int, limit: int, after: Sequence[int | str] | None
    ) -> list[tuple[str, str]]:
        """Up to `limit` (referrer, friend of the referrer) pairs: friends of the user's friends who
        are neither the user nor its friends, in that order, after `after` = such a pair."""
        args: list[Any] = [title_id, user_id, friend_state, limit]
        position = ""
        if after is not None:
            args.extend(after)
            position = " AND (f2.source_id, f2.destination_id) > ($5, $6)"
        rows = await self._db.fetch(
            "SELECT f2.source_id AS referrer, f2.destination_id AS friend_id FROM user_edges f1"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            " JOIN user_edges f2 ON f2.title_id = f1.title_id AND f2.source_id = f1.destination_id"
            " WHERE f1.title_id = $1 AND f1.source_id = $2 AND f1.state = $3 AND f2.state = $3"
            " AND f2.destination_id <> $2 AND NOT EXISTS (SELECT 1 FROM user_edges f3"
            " WHERE f3.title_id = $1 AND f3.source_id = $2 AND f3.destination_id = f2.destination_id"
            f" AND f3.state = $3){position} ORDER BY f2.source_id, f2.destination_id LIMIT $4",
            *args,
        )
        return [(r["referrer"], r["friend_id"]) for r in rows]

    # -- inside a change's transaction --------------------------------------------------------------

    async def lock_users(self, tx: Tx, title_id: str, user_ids: list[str]) -> dict[str, str]:
        """Lock the users (those that exist), in id order; returns their usernames by id."""
        unique = sorted(set(user_ids))
        rows = await tx.fetch(
            f"SELECT id, username FROM users WHERE title_id = $1 AND id IN ({_marks(len(unique), 2)})"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            f" ORDER BY id{self._lock}",
            title_id,
            *unique,
        )
        return {r["id"]: r["username"] for r in rows}

    async def lock_neighbours(self, tx: Tx, title_id: str, user_id: str) -> None:
        """Lock the user and every user with an edge to it, in id order (nothing to do where the
        backend does not lock rows)."""
        if self._lock:
            await tx.fetch(
                "SELECT id FROM users WHERE title_id = $1 AND (id = $2 OR id IN (SELECT source_id"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
                f" FROM user_edges WHERE title_id = $1 AND destination_id = $2)) ORDER BY id{self._lock}",
                title_id,
                user_id,
            )

    async def pair(self, tx: Tx, title_id: str, user_id: str, friend_id: str) -> dict[str, Edge]:
        """The edges between two users, by source id."""
        rows = await tx.fetch(
            f"SELECT source_id, state, metadata FROM user_edges WHERE title_id = $1 AND {_PAIR}",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            title_id,
            user_id,
            friend_id,
        )
        return {r["source_id"]: Edge(r["state"], r["metadata"]) for r in rows}

    async def insert_pair(
        self,
        tx: Tx,
        title_id: str,
        user_id: str,
        friend_id: str,
        state: int,
        reverse_state: int,
        position: int,
        now: int,
        metadata: str,
    ) -> None:
        """Both edges between two users: the user's (with `metadata`) and the reverse one."""
        await tx.execute(
            "INSERT INTO user_edges (title_id, source_id, destination_id, state, position,"
            " update_time, metadata) VALUES ($1, $2, $3, $4, $6, $7, $8),"
            " ($1, $3, $2, $5, $6, $7, '{}')",
            title_id, user_id, friend_id, state, reverse_state, position, now, metadata,
        )  # fmt: skip

    async def set_pair_state(
        self, tx: Tx, title_id: str, user_id: str, friend_id: str, state: int, now: int, metadata: str
    ) -> None:
        """Both edges between two users to `state`; the user's edge gets `metadata`."""
        await tx.execute(
            "UPDATE user_edges SET state = $4, update_time = $5, metadata = CASE"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            f" WHEN source_id = $2 THEN $6 ELSE metadata END WHERE title_id = $1 AND {_PAIR}",
            title_id, user_id, friend_id, state, now, metadata,
        )  # fmt: skip

    async def delete_pair(
        self, tx: Tx, title_id: str, user_id: str, friend_id: str, keep_state: int
    ) -> list[str]:
        """Delete the user's edge to the friend and the friend's edge to the user unless it is in
        `keep_state`; returns the source ids of the edges deleted."""
        rows = await tx.fetch(
            "DELETE FROM user_edges WHERE title_id = $1 AND ((source_id = $2 AND destination_id = $3)"
            " OR (source_id = $3 AND destination_id = $2 AND state <> $4)) RETURNING source_id",
            title_id,
            user_id,
            friend_id,
            keep_state,
        )
        return [r["source_id"] for r in rows]

    async def set_state(
        self, tx: Tx, title_id: str, source_id: str, destination_id: str, state: int, now: int
    ) -> bool:
        """Change an existing edge's state; False if there is no such edge."""
        changed = await tx.execute(
            "UPDATE user_edges SET state = $4, update_time = $5"
            " WHERE title_id = $1 AND source_id = $2 AND destination_id = $3",
            title_id,
            source_id,
            destination_id,
            state,
            now,
        )
        return changed != 0

    async def insert(
        self, tx: Tx, title_id: str, source_id: str, destination_id: str, state: int, position: int, now: int
    ) -> None:
        await tx.execute(
            "INSERT INTO user_edges (title_id, source_id, destination_id, state, position,"
            " update_time, metadata) VALUES ($1, $2, $3, $4, $5, $6, '{}')",
            title_id, source_id, destination_id, state, position, now,
        )  # fmt: skip

    async def delete_unless(
        self, tx: Tx, title_id: str, source_id: str, destination_id: str, keep_state: int
    ) -> bool:
        """Delete an edge unless it is in `keep_state`; True if deleted."""
        removed = await tx.execute(
            "DELETE FROM user_edges WHERE title_id = $1 AND source_id = $2 AND destination_id = $3"
            " AND state <> $4",
            title_id,
            source_id,
            destination_id,
            keep_state,
        )
        return removed != 0

    async def delete_user(self, tx: Tx, title_id: str, user_id: str) -> list[str]:
        """Delete every edge to and from the user; returns the sources of the edges to it."""
        rows = await tx.fetch(
            "DELETE FROM user_edges WHERE title_id = $1 AND destination_id = $2 RETURNING source_id",
            title_id,
            user_id,
        )
        await tx.execute("DELETE FROM user_edges WHERE title_id = $1 AND source_id = $2", title_id, user_id)
        return [r["source_id"] for r in rows]

    async def add_edge_counts(self, tx: Tx, title_id: str, counts: dict[str, int], now: int) -> None:
        """Add to the users' `edge_count` (those with a change), in id order."""
        for uid in sorted(counts):
            if counts[uid]:
                await tx.execute(
                    "UPDATE users SET edge_count = edge_count + $3, update_time = $4"
                    " WHERE title_id = $1 AND id = $2",
                    title_id,
                    uid,
                    counts[uid],
                    now,
                )

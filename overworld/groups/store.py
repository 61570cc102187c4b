"""SQL for groups and memberships (`group_edges`). Every statement names the title.

`groups.state` is 0 for an open group, 1 for a closed one; `groups.edge_count` counts the
members (states 0-2). A membership's `position` orders the users of one state, oldest first.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from overworld.accounts.store import JOINED_USER_COLUMNS, user_from_row
from overworld.db import Database, Row, Tx
from overworld.db.database import Executor
from overworld.groups.models import JOIN_REQUEST, Group, GroupUser, UserGroup

OPEN, CLOSED = 0, 1  # groups.state
GROUP_COLUMNS = (
    "id, creator_id, name, description, avatar_url, lang_tag, metadata, state, edge_count, max_count,"
    " create_time, update_time"
)
_G_COLUMNS = ", ".join("g." + c.strip() for c in GROUP_COLUMNS.split(","))
# The columns `update_group` may set (their names are written into the statement).
UPDATABLE = frozenset(
    {"name", "lang_tag", "description", "avatar_url", "state", "metadata", "max_count", "creator_id"}
)
_EDGE = "title_id = $1 AND group_id = $2 AND user_id = $3"


def group_from_row(row: Row) -> Group:
    return Group(
        id=row["id"],
        creator_id=row["creator_id"],
        name=row["name"],
        description=row["description"] or "",
        avatar_url=row["avatar_url"] or "",
        lang_tag=row["lang_tag"] or "",
        metadata=row["metadata"] or "{}",
        open=row["state"] == OPEN,
        edge_count=row["edge_count"],
        max_count=row["max_count"],
        create_time=row["create_time"],
        update_time=row["update_time"],
    )


class ListedUser(NamedTuple):
    """A group's user as listed, with its membership's position (for the cursor)."""

    group_user: GroupUser
    position: int


class ListedGroup(NamedTuple):
    """A user's group as listed, with the membership's position (for the cursor)."""

    user_group: UserGroup
    position: int


def _state_filter(args: list[Any], state: int | None, after: Sequence[int | str] | None, other: str) -> str:
    """Memberships in `state` (None: every state but banned), after `after` = (state, position,
    `other`)."""
    if state is None:
        args.append(JOIN_REQUEST)
        where = f" AND ge.state <= ${len(args)}"
    else:
        args.append(state)
        where = f" AND ge.state = ${len(args)}"
    if after is not None:
        args.extend(after)
        n = len(args)
        where += f" AND (ge.state, ge.position, {other}) > (${n - 2}, ${n - 1}, ${n})"
    return where


class GroupStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = db.sql.lock_rows
        self._share = db.sql.share_rows
        self._like = db.sql.ilike

    # -- reads ------------------------------------------------------------------------------------

    async def member_state(self, ex: Executor, title_id: str, group_id: str, user_id: str) -> int | None:
        """The user's state in the group, or None (`ex`: the database or a transaction)."""
        value = await ex.fetchval(f"SELECT state FROM group_edges WHERE {_EDGE}", title_id, group_id, user_id)  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
        return None if value is None else int(value)

    async def groups(self, title_id: str, ids: list[str]) -> list[Group]:
        marks = ", ".join(f"${i + 2}" for i in range(len(ids)))
        rows = await self._db.fetch(
            f"SELECT {GROUP_COLUMNS} FROM groups WHERE title_id = $1 AND id IN ({marks})",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            title_id,
            *ids,
        )
        return [group_from_row(r) for r in rows]

    async def list_by_name(
        self, title_id: str, pattern: str, limit: int, after_name: str | None
    ) -> list[Group]:
        """Up to `limit` groups whose name matches the LIKE `pattern` ignoring case, in name order."""
        args: list[Any] = [title_id, limit, pattern]
        position = ""
        if after_name is not None:
            args.append(after_name)
            position = " AND name > $4"
        rows = await self._db.fetch(
            f"SELECT {GROUP_COLUMNS} FROM groups WHERE title_id = $1 AND name {self._like} $3{position}"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            " ORDER BY name LIMIT $2",
            *args,
        )
        return [group_from_row(r) for r in rows]

    async def list_filtered(
        self,
        title_id: str,
        open: bool | None,
        lang_tag: str,
        members: int | None,
        limit: int,
        after: Sequence[int | str] | None,
    ) -> list[Group]:
        """Up to `limit` groups (open or closed ones, of a language, with at most `members` members:
        each filter when set), biggest first then by id, after `after` = (edge count, id)."""
        args: list[Any] = [title_id, limit]
        where = ""
        if open is not None:
            args.append(OPEN if open else CLOSED)
            where += f" AND state = ${len(args)}"
        if lang_tag:
            args.append(lang_tag)
            where += f" AND lang_tag = ${len(args)}"
        if members is not None:
            args.append(members)
            where += f" AND edge_count <= ${len(args)}"
        if after is not None:
            args.extend(after)
            n = len(args)
            where += f" AND (edge_count < ${n - 1} OR (edge_count = ${n - 1} AND id > ${n}))"
        rows = await self._db.fetch(
            f"SELECT {GROUP_COLUMNS} FROM groups WHERE title_id = $1{where}"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            " ORDER BY edge_count DESC, id LIMIT $2",
            *args,
        )
        return [group_from_row(r) for r in rows]

    async def list_group_users(
        self, title_id: str, group_id: str, limit: int, state: int | None, after: Sequence[int | str] | None
    ) -> list[ListedUser]:
        """Up to `limit` of a group's users (in `state`; None: all but the banned), by state, then
        position, then user id, after `after` = (state, position, user id)."""
        args: list[Any] = [title_id, group_id, limit]
        where = _state_filter(args, state, after, "ge.user_id")
        rows = await self._db.fetch(
            f"SELECT {JOINED_USER_COLUMNS}, ge.state AS edge_state, ge.position AS edge_position"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            " FROM group_edges ge JOIN users u ON u.title_id = ge.title_id AND u.id = ge.user_id"
            f" WHERE ge.title_id = $1 AND ge.group_id = $2{where}"
            " ORDER BY ge.state, ge.position, ge.user_id LIMIT $3",
            *args,
        )
        return [
            ListedUser(GroupUser(user=user_from_row(r), state=r["edge_state"]), r["edge_position"])
            for r in rows
        ]

    async def list_user_groups(
        self, title_id: str, user_id: str, limit: int, state: int | None, after: Sequence[int | str] | None
    ) -> list[ListedGroup]:
        """Up to `limit` of a user's groups (in `state`; None: all but those it is banned from), by
        state, then position, then group id, after `after` = (state, position, group id)."""
        args: list[Any] = [title_id, user_id, limit]
        where = _state_filter(args, state, after, "ge.group_id")
        rows = await self._db.fetch(
            f"SELECT {_G_COLUMNS}, ge.state AS edge_state, ge.position AS edge_position"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            " FROM group_edges ge JOIN groups g ON g.title_id = ge.title_id AND g.id = ge.group_id"
            f" WHERE ge.title_id = $1 AND ge.user_id = $2{where}"
            " ORDER BY ge.state, ge.position, ge.group_id LIMIT $3",
            *args,
        )
        return [
            ListedGroup(UserGroup(group=group_from_row(r), state=r["edge_state"]), r["edge_position"])
            for r in rows
        ]

    # -- inside a change's transaction --------------------------------------------------------------

    async def lock_group(self, tx: Tx, title_id: str, group_id: str) -> Group | None:
        """The group, its row locked until the transaction ends (where rows are locked)."""
        row = await tx.fetchrow(
            f"SELECT {GROUP_COLUMNS} FROM groups WHERE title_id = $1 AND id = $2{self._lock}",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            title_id,
            group_id,
        )
        return None if row is None else group_from_row(row)

    async def insert_group(self, tx: Tx, title_id: str, group: Group) -> None:
        """Insert the group with one member (its superadmin, inserted by `insert_member`)."""
        await tx.execute(
            f"INSERT INTO groups (title_id, {GROUP_COLUMNS})"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $11, $11)",
            title_id, group.id, group.creator_id, group.name, group.description or None,
            group.avatar_url or None, group.lang_tag, group.metadata, OPEN if group.open else CLOSED,
            group.max_count, group.create_time,
        )  # fmt: skip

    async def update_group(
        self, tx: Tx, title_id: str, group_id: str, fields: dict[str, Any], now: int
    ) -> bool:
        """Set the given columns and `update_time`; False if there is no such group."""
        unknown = fields.keys() - UPDATABLE
        if unknown:  # the names go into the SQL text: never anything but these columns
            raise ValueError(f"not updatable group columns: {sorted(unknown)}")
        assignments = ", ".join(f"{column} = ${i + 4}" for i, column in enumerate(fields))
        changed = await tx.execute(
            f"UPDATE groups SET update_time = $3, {assignments} WHERE title_id = $1 AND id = $2",  # nosec B608 # column names checked against UPDATABLE; values bound as $n
            title_id,
            group_id,
            now,
            *fields.values(),
        )
        return changed != 0

    async def delete_group(self, tx: Tx, title_id: str, group_id: str) -> None:
        """Delete the group and every membership."""
        await tx.execute("DELETE FROM group_edges WHERE title_id = $1 AND group_id = $2", title_id, group_id)
        await tx.execute("DELETE FROM groups WHERE title_id = $1 AND id = $2", title_id, group_id)

    async def count_up(self, tx: Tx, title_id: str, group_id: str, now: int) -> bool:
        """One more member, unless the group is full (then False)."""
        changed = await tx.execute(
            "UPDATE groups SET edge_count = edge_count + 1, update_time = $3"
            " WHERE title_id = $1 AND id = $2 AND edge_count < max_count",
            title_id,
            group_id,
            now,
        )
        return changed == 1

    async def count_down(self, tx: Tx, title_id: str, group_id: str, now: int) -> None:
        await tx.execute(
            "UPDATE groups SET edge_count = edge_count - 1, update_time = $3 WHERE title_id = $1 AND id = $2",
            title_id,
            group_id,
            now,
        )

    async def hold_usernames(self, tx: Tx, title_id: str, user_ids: list[str]) -> dict[str, str]:
        """The names of the users of `user_ids` that exist, their rows held until `tx` ends (in id
        order, as every holder takes them); only before locking a group."""
        names: dict[str, str] = {}
        for user_id in sorted(set(user_ids)):
            name = await self.username(tx, title_id, user_id, hold=True)
            if name is not None:
                names[user_id] = name
        return names

    async def username(self, tx: Tx, title_id: str, user_id: str, hold: bool = False) -> str | None:
        """The user's name. `hold`: its row held until `tx` ends (an account deletion waits for
        `tx`, or came first and the user is gone), so no membership is written for a deleted
        user; only before locking a group, the order an account deletion takes (user, groups)."""
        lock = self._share if hold else ""
        name: str | None = await tx.fetchval(
            f"SELECT username FROM users WHERE title_id = $1 AND id = $2{lock}",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            title_id,
            user_id,
        )
        return name

    async def admins(self, tx: Tx, title_id: str, group_id: str, most: int) -> list[str]:
        """The ids of the group's users in states up to `most`, by state then oldest first."""
        rows = await tx.fetch(
            "SELECT user_id FROM group_edges WHERE title_id = $1 AND group_id = $2 AND state <= $3"
            " ORDER BY state, position",
            title_id,
            group_id,
            most,
        )
        return [r["user_id"] for r in rows]

    async def count_others_in_state(
        self, tx: Tx, title_id: str, group_id: str, state: int, user_id: str
    ) -> int:
        """How many users of the group other than `user_id` are in `state`."""
        return int(
            await tx.fetchval(
                "SELECT count(*) FROM group_edges WHERE title_id = $1 AND group_id = $2 AND state = $3"
                " AND user_id <> $4",
                title_id,
                group_id,
                state,
                user_id,
            )
        )

    async def memberships(self, tx: Tx, title_id: str, user_id: str) -> list[tuple[str, int]]:
        """Every (group id, state) of the user, by group id."""
        rows = await tx.fetch(
            "SELECT group_id, state FROM group_edges WHERE title_id = $1 AND user_id = $2 ORDER BY group_id",
            title_id,
            user_id,
        )
        return [(r["group_id"], r["state"]) for r in rows]

    async def insert_member(
        self, tx: Tx, title_id: str, group_id: str, user_id: str, state: int, now: int
    ) -> None:
        """A membership in `state`, last of its state."""
        await tx.execute(
            "INSERT INTO group_edges (title_id, group_id, user_id, state, position, update_time)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            title_id,
            group_id,
            user_id,
            state,
            time.time_ns(),
            now,
        )

    async def set_member_state(
        self, tx: Tx, title_id: str, group_id: str, user_id: str, state: int, now: int
    ) -> None:
        await tx.execute(
            f"UPDATE group_edges SET state = $4, update_time = $5 WHERE {_EDGE}",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            title_id,
            group_id,
            user_id,
            state,
            now,
        )

    async def delete_member(self, tx: Tx, title_id: str, group_id: str, user_id: str) -> None:
        await tx.execute(f"DELETE FROM group_edges WHERE {_EDGE}", title_id, group_id, user_id)  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n

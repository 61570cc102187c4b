"""SQL for stored channel messages (`channel_messages`). Every statement names the title."""

from __future__ import annotations

from typing import NamedTuple

from overworld.db import Database, Tx

_INSERT = (
    "INSERT INTO channel_messages (title_id, id, channel_id, code, sender_id, username, content,"
    " create_time, update_time)"
)


class StoredMessage(NamedTuple):
    id: str
    code: int
    sender_id: str
    username: str
    content: str
    create_time: int
    update_time: int


class ChatStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(
        self,
        title_id: str,
        message_id: str,
        channel_id: str,
        code: int,
        sender_id: str,
        username: str,
        content: str,
        create_time: int,
        update_time: int,
        tx: Tx | None = None,
        hold_sender: bool = False,
    ) -> bool:
        """Store a message (in `tx` when given: it commits with the change it records). With
        `hold_sender`, only while the sender's account exists, its row held by the statement (an
        account deletion waits for it, or came first and nothing is stored): False if not stored."""
        args = (
            title_id,
            message_id,
            channel_id,
            code,
            sender_id,
            username,
            content,
            create_time,
            update_time,
        )
        ex = self._db if tx is None else tx
        if not hold_sender:
            await ex.execute(_INSERT + " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", *args)
            return True
        stored = await ex.execute(
            _INSERT + " SELECT $1, $2, $3, CAST($4 AS INTEGER), $5, $6, $7, CAST($8 AS BIGINT),"  # nosec B608 # a constant statement and the dialect's lock clause; values bound as $n
            " CAST($9 AS BIGINT) WHERE EXISTS (SELECT 1 FROM users WHERE title_id = CAST($1 AS VARCHAR)"
            " AND id = CAST($5 AS VARCHAR)"
            f"{self._db.sql.share_rows})",
            *args,
        )
        return stored == 1

    async def sender(self, title_id: str, message_id: str, channel_id: str) -> tuple[str, int] | None:
        """(sender id, create time) of a stored message of the channel, or None."""
        row = await self._db.fetchrow(
            "SELECT sender_id, create_time FROM channel_messages WHERE title_id = $1 AND id = $2"
            " AND channel_id = $3",
            title_id, message_id, channel_id,
        )  # fmt: skip
        return None if row is None else (row["sender_id"], int(row["create_time"]))

    async def update(self, title_id: str, message_id: str, content: str, username: str, now: int) -> None:
        await self._db.execute(
            "UPDATE channel_messages SET content = $1, update_time = $2, username = $3"
            " WHERE title_id = $4 AND id = $5",
            content, now, username, title_id, message_id,
        )  # fmt: skip

    async def delete(self, title_id: str, message_id: str) -> None:
        await self._db.execute(
            "DELETE FROM channel_messages WHERE title_id = $1 AND id = $2", title_id, message_id
        )

    async def history(
        self, title_id: str, channel_id: str, limit: int, forward: bool, after: tuple[int, str] | None
    ) -> list[StoredMessage]:
        """Up to `limit` of the channel's messages, oldest first (`forward`) or newest first,
        after `after` = (create time, id) in that order."""
        op, order = (">", "ASC") if forward else ("<", "DESC")
        sql = (
            "SELECT id, code, sender_id, username, content, create_time, update_time FROM channel_messages"
            " WHERE title_id = $1 AND channel_id = $2"
        )
        args: list[object] = [title_id, channel_id]
        if after is not None:
            sql += f" AND (create_time {op} $3 OR (create_time = $3 AND id {op} $4))"
            args += [after[0], after[1]]
        sql += f" ORDER BY create_time {order}, id {order} LIMIT ${len(args) + 1}"
        rows = await self._db.fetch(sql, *args, limit)
        return [
            StoredMessage(
                r["id"],
                r["code"],
                r["sender_id"],
                r["username"],
                r["content"],
                r["create_time"],
                r["update_time"],
            )
            for r in rows
        ]

    async def delete_user(self, tx: Tx, title_id: str, user_id: str) -> None:
        """Every message the user sent."""
        await tx.execute(
            "DELETE FROM channel_messages WHERE title_id = $1 AND sender_id = $2", title_id, user_id
        )

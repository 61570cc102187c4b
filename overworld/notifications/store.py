"""SQL for stored notifications (`notifications`). Every statement names the title."""

from __future__ import annotations

from collections.abc import Sequence

from overworld.db import Database, Tx
from overworld.notifications.models import Notification

# Stored only for a recipient whose account exists, its row held by the statement: an account
# deletion waits for it (and removes what it stored), or came first and nothing is stored.
_INSERT = (
    "INSERT INTO notifications (title_id, user_id, id, subject, content, code, sender_id, create_time)"
    " SELECT $1, $2, $3, $4, $5, CAST($6 AS INTEGER), $7, CAST($8 AS BIGINT)"
    " WHERE EXISTS (SELECT 1 FROM users WHERE title_id = CAST($1 AS VARCHAR) AND id = CAST($2 AS VARCHAR)"
    "{share})"
)


class NotificationStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, title_id: str, notifications: Sequence[Notification]) -> None:
        """Store the notifications, all or none."""
        await self._db.executemany(
            _INSERT.format(share=self._db.sql.share_rows),
            [
                (title_id, n.user_id, n.id, n.subject, n.content, n.code, n.sender_id, n.create_time)
                for n in notifications
            ],
        )

    async def user_ids(self, title_id: str) -> list[str]:
        """Every user of the title."""
        rows = await self._db.fetch("SELECT id FROM users WHERE title_id = $1", title_id)
        return [r["id"] for r in rows]

    async def page(
        self, title_id: str, user_id: str, after_time: int, after_id: str, limit: int
    ) -> list[Notification]:
        """Up to `limit` of the user's notifications after (`after_time`, `after_id`), in time order."""
        rows = await self._db.fetch(
            "SELECT id, subject, content, code, sender_id, create_time FROM notifications"
            " WHERE title_id = $1 AND user_id = $2"
            " AND (create_time > $3 OR (create_time = $3 AND id > $4))"
            " ORDER BY create_time, id LIMIT $5",
            title_id, user_id, after_time, after_id, limit,
        )  # fmt: skip
        return [
            Notification(
                id=r["id"],
                user_id=user_id,
                subject=r["subject"],
                content=r["content"],
                code=r["code"],
                sender_id=r["sender_id"],
                create_time=r["create_time"],
                persistent=True,
            )
            for r in rows
        ]

    async def delete(self, title_id: str, user_id: str, ids: Sequence[str]) -> None:
        await self._db.executemany(
            "DELETE FROM notifications WHERE title_id = $1 AND user_id = $2 AND id = $3",
            [(title_id, user_id, i) for i in ids],
        )

    async def delete_user(self, tx: Tx, title_id: str, user_id: str) -> None:
        """Every notification of the user."""
        await tx.execute("DELETE FROM notifications WHERE title_id = $1 AND user_id = $2", title_id, user_id)

"""SQL for titles (`titles`)."""

from __future__ import annotations

from typing import NamedTuple

from overworld.db import Database, Row


class TitleRow(NamedTuple):
    """A title as stored: its keys, and the secret its token keys derive from (hex)."""

    id: str
    name: str
    server_key: str
    http_key: str
    token_secret: str
    disabled: bool


def _row(r: Row) -> TitleRow:
    return TitleRow(
        r["id"], r["name"], r["server_key"], r["http_key"], r["token_secret"], bool(r["disabled"])
    )


class TitleStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def all(self) -> list[TitleRow]:
        return [_row(r) for r in await self._db.fetch("SELECT * FROM titles")]

    async def by_name(self, name: str) -> TitleRow | None:
        row = await self._db.fetchrow("SELECT * FROM titles WHERE name = $1", name)
        return None if row is None else _row(row)

    async def insert(
        self, title_id: str, name: str, server_key: str, http_key: str, token_secret: str, now: int
    ) -> None:
        """Insert an enabled title; raises IntegrityError if its name or a key is taken."""
        await self._db.execute(
            "INSERT INTO titles (id, name, server_key, http_key, token_secret, disabled, create_time)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            title_id,
            name,
            server_key,
            http_key,
            token_secret,
            False,
            now,
        )

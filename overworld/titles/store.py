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
    previous_server_key: str | None = None
    previous_http_key: str | None = None
    previous_keys_expire_time: int | None = None  # ms; the previous keys work until then
    config_keys_digest: str | None = None
    region: str | None = None


def _row(r: Row) -> TitleRow:
    expire = r["previous_keys_expire_time"]
    return TitleRow(
        r["id"], r["name"], r["server_key"], r["http_key"], r["token_secret"], bool(r["disabled"]),
        r["previous_server_key"], r["previous_http_key"], None if expire is None else int(expire),
        r["config_keys_digest"], r["region"],
    )  # fmt: skip


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

    async def rotate_keys(
        self, title_id: str, server_key: str, http_key: str, previous_expire: int, digest: str | None = None
    ) -> bool:
        """Make `server_key`/`http_key` the title's keys, the current ones its previous keys until
        `previous_expire` (ms). With `digest` (the configured keys of the default title): only if
        the stored digest differs, and record it, so that one node of a cluster applies a change
        of the settings. False when nothing was changed. Raises IntegrityError if a key is taken."""
        sql = (
            "UPDATE titles SET previous_server_key = server_key, previous_http_key = http_key,"
            " previous_keys_expire_time = $4, server_key = $2, http_key = $3"
        )
        args: list[object] = [title_id, server_key, http_key, previous_expire]
        if digest is not None:
            sql += ", config_keys_digest = $5 WHERE id = $1"
            sql += " AND (config_keys_digest IS NULL OR config_keys_digest <> $5)"
            args.append(digest)
        else:
            sql += " WHERE id = $1"
        return await self._db.execute(sql, *args) > 0

    async def set_region(self, title_id: str, region: str | None) -> None:
        await self._db.execute("UPDATE titles SET region = $2 WHERE id = $1", title_id, region)

    async def set_config_digest(self, title_id: str, digest: str) -> None:
        await self._db.execute("UPDATE titles SET config_keys_digest = $2 WHERE id = $1", title_id, digest)

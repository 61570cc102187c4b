"""The SQL of the store: catalog rows, purchase records, real-money grants."""

from __future__ import annotations

from dataclasses import dataclass

from overworld.db import Database, Row, Tx
from overworld.db.database import Executor


@dataclass(slots=True)
class PurchaseRow:
    title_id: str
    id: str
    user_id: str
    key: str
    request_hash: str
    source: str
    result: str
    create_time: int


class StoreStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._arrays = db.sql.batch_writes

    # -- catalog ----------------------------------------------------------------------------------

    async def catalog(self, title_id: str, tx: Executor | None = None) -> list[Row]:
        rows: list[Row] = await (tx or self._db).fetch(
            "SELECT kind, id, definition, update_time FROM store_catalog WHERE title_id = $1"
            " ORDER BY kind, id",
            title_id,
        )
        return rows

    async def put(self, title_id: str, kind: str, entry_id: str, definition: str, now: int) -> None:
        await self._db.execute(
            "INSERT INTO store_catalog (title_id, kind, id, definition, update_time)"
            " VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (title_id, kind, id) DO UPDATE SET definition = excluded.definition,"
            " update_time = excluded.update_time",
            title_id,
            kind,
            entry_id,
            definition,
            now,
        )

    async def delete(self, title_id: str, kind: str, entry_id: str) -> bool:
        count = await self._db.execute(
            "DELETE FROM store_catalog WHERE title_id = $1 AND kind = $2 AND id = $3",
            title_id,
            kind,
            entry_id,
        )
        return count > 0

    # -- purchases (under the buyer's row lock) ---------------------------------------------------

    async def purchase_by_key(self, tx: Executor, title_id: str, user_id: str, key: str) -> Row | None:
        row: Row | None = await tx.fetchrow(
            "SELECT id, request_hash, result, create_time FROM store_purchases"
            " WHERE title_id = $1 AND user_id = $2 AND key = $3",
            title_id,
            user_id,
            key,
        )
        return row

    async def purchases_by_keys(
        self, tx: Tx, keys: list[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], tuple[str, str]]:
        """The recorded (request hash, result) of these (title id, user id, idempotency key)."""
        found: dict[tuple[str, str, str], tuple[str, str]] = {}
        if self._arrays:
            rows = await tx.fetch(
                "SELECT title_id, user_id, key, request_hash, result FROM store_purchases"
                " WHERE (title_id, user_id, key) IN"
                " (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))",
                [k[0] for k in keys],
                [k[1] for k in keys],
                [k[2] for k in keys],
            )
            for r in rows:
                found[(r["title_id"], r["user_id"], r["key"])] = (r["request_hash"], r["result"])
            return found
        for title_id, user_id, key in keys:
            row = await self.purchase_by_key(tx, title_id, user_id, key)
            if row is not None:
                found[(title_id, user_id, key)] = (row["request_hash"], row["result"])
        return found

    async def count(self, tx: Tx, title_id: str, user_id: str, source: str, since: int) -> int:
        """The user's purchases of `source` made at or after `since` (Unix ms)."""
        value = await tx.fetchval(
            "SELECT count(*) FROM store_purchases WHERE title_id = $1 AND user_id = $2 AND source = $3"
            " AND create_time >= $4",
            title_id,
            user_id,
            source,
            since,
        )
        return int(value or 0)

    async def add_purchases(self, tx: Tx, rows: list[PurchaseRow]) -> None:
        if not rows:
            return
        await tx.executemany(
            "INSERT INTO store_purchases"
            " (title_id, id, user_id, key, request_hash, source, result, create_time)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            [
                (r.title_id, r.id, r.user_id, r.key, r.request_hash, r.source, r.result, r.create_time)
                for r in rows
            ],
        )

    async def purchases(self, title_id: str, user_id: str, limit: int) -> list[Row]:
        rows: list[Row] = await self._db.fetch(
            "SELECT id, result, create_time FROM store_purchases WHERE title_id = $1 AND user_id = $2"
            " ORDER BY create_time DESC, id DESC LIMIT $3",
            title_id,
            user_id,
            limit,
        )
        return rows

    # -- real-money grants ------------------------------------------------------------------------

    async def add_grant(
        self, tx: Tx, title_id: str, store: str, transaction_id: str, user_id: str, product_id: str,
        contents: str, now: int,
    ) -> bool:  # fmt: skip
        """Record a store transaction's grant; False if it was recorded before (nothing to do)."""
        count = await tx.execute(
            "INSERT INTO store_product_grants"
            " (title_id, store, transaction_id, user_id, product_id, contents,"
            " create_time, revoke_time) VALUES ($1, $2, $3, $4, $5, $6, $7, 0) ON CONFLICT DO NOTHING",
            title_id,
            store,
            transaction_id,
            user_id,
            product_id,
            contents,
            now,
        )
        return count > 0

    async def set_grant_contents(
        self, tx: Tx, title_id: str, store: str, transaction_id: str, contents: str
    ) -> None:
        await tx.execute(
            "UPDATE store_product_grants SET contents = $4"
            " WHERE title_id = $1 AND store = $2 AND transaction_id = $3",
            title_id,
            store,
            transaction_id,
            contents,
        )

    async def revoke_grant(
        self, tx: Tx, title_id: str, store: str, transaction_id: str, now: int
    ) -> Row | None:
        """Mark a grant revoked, once: its row (user, contents) the first time, None after (or when
        the transaction never granted anything)."""
        rows = await tx.fetch(  # all rows: SQLite applies an UPDATE ... RETURNING once read to the end
            "UPDATE store_product_grants SET revoke_time = $4"
            " WHERE title_id = $1 AND store = $2 AND transaction_id = $3 AND revoke_time = 0"
            " RETURNING user_id, contents",
            title_id,
            store,
            transaction_id,
            now,
        )
        return rows[0] if rows else None

    async def grant_owner(self, tx: Tx, title_id: str, store: str, transaction_id: str) -> str | None:
        value: str | None = await tx.fetchval(
            "SELECT user_id FROM store_product_grants"
            " WHERE title_id = $1 AND store = $2 AND transaction_id = $3",
            title_id,
            store,
            transaction_id,
        )
        return value

    async def delete_user(self, tx: Tx, title_id: str, user_id: str) -> None:
        await tx.execute(
            "DELETE FROM store_purchases WHERE title_id = $1 AND user_id = $2", title_id, user_id
        )
        await tx.execute(
            "DELETE FROM store_product_grants WHERE title_id = $1 AND user_id = $2", title_id, user_id
        )

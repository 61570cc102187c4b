"""The SQL of the inventory. Every change runs under the owner's `users` row lock (taken first, by
the inventory or by the wallet of a purchase), so one player's changes apply one after the other."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from overworld.db import Database, Row, Tx
from overworld.inventory.models import InventoryItem

_COLUMNS = "item_id, quantity, properties, expire_time, create_time, update_time"


@dataclass(slots=True)
class StackRow:
    """One (user, item) row to write; quantity 0 deletes it."""

    item_id: str
    quantity: int
    properties: str  # JSON object
    expire_time: int
    create_time: int


def inventory_item(row: Row) -> InventoryItem:
    return InventoryItem(
        item_id=row["item_id"],
        quantity=int(row["quantity"]),
        properties=orjson.loads(row["properties"]),
        expire_time=int(row["expire_time"]),
        create_time=int(row["create_time"]),
        update_time=int(row["update_time"]),
    )


class InventoryStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = db.sql.lock_rows
        self._arrays = db.sql.batch_writes

    async def lock_user(self, tx: Tx, title_id: str, user_id: str) -> bool:
        """Lock the owner's row (the order every change of one player takes); False: no such user."""
        found = await tx.fetchval(
            f"SELECT 1 FROM users WHERE title_id = $1 AND id = $2{self._lock}",  # nosec B608 # constant column list and lock clause; values bound as $n
            title_id,
            user_id,
        )
        return found is not None

    async def stacks(self, tx: Tx, title_id: str, user_id: str, item_ids: Sequence[str]) -> dict[str, Row]:
        """The user's rows of these items (expired ones too), read under the owner's lock."""
        found: dict[str, Row] = {}
        for item_id in sorted(set(item_ids)):
            row = await tx.fetchrow(
                f"SELECT {_COLUMNS} FROM inventory_items"  # nosec B608 # constant column list and lock clause; values bound as $n
                " WHERE title_id = $1 AND user_id = $2 AND item_id = $3",
                title_id,
                user_id,
                item_id,
            )
            if row is not None:
                found[item_id] = row
        return found

    async def stacks_many(
        self, tx: Tx, keys: Sequence[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], Row]:
        """The rows of these (title id, user id, item id), read under their owners' locks: one
        statement with arrays (PostgreSQL), else one per row."""
        if not self._arrays:
            found: dict[tuple[str, str, str], Row] = {}
            for title_id, user_id, item_id in sorted(set(keys)):
                row = (await self.stacks(tx, title_id, user_id, [item_id])).get(item_id)
                if row is not None:
                    found[(title_id, user_id, item_id)] = row
            return found
        rows = await tx.fetch(
            f"SELECT title_id, user_id, {_COLUMNS} FROM inventory_items WHERE (title_id, user_id, item_id) IN"  # nosec B608 # constant column list and lock clause; values bound as $n
            " (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))",
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
        )
        return {(r["title_id"], r["user_id"], r["item_id"]): r for r in rows}

    async def write(self, tx: Tx, title_id: str, user_id: str, rows: Sequence[StackRow], now: int) -> None:
        await self.write_many(tx, [(title_id, user_id, r) for r in rows], now)

    async def write_many(self, tx: Tx, rows: Sequence[tuple[str, str, StackRow]], now: int) -> None:
        """Write stacks of (title id, user id); a quantity of 0 deletes the stack."""
        kept = [(t, u, r.item_id, r.quantity, r.properties, r.expire_time, r.create_time, now)
                for t, u, r in rows if r.quantity > 0]  # fmt: skip
        gone = [(t, u, r.item_id) for t, u, r in rows if r.quantity <= 0]
        if kept:
            await tx.executemany(
                "INSERT INTO inventory_items (title_id, user_id, item_id, quantity, properties, expire_time,"
                " create_time, update_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " ON CONFLICT (title_id, user_id, item_id) DO UPDATE SET quantity = excluded.quantity,"
                " properties = excluded.properties, expire_time = excluded.expire_time,"
                " create_time = excluded.create_time, update_time = excluded.update_time",
                kept,
            )
        if gone:
            await tx.executemany(
                "DELETE FROM inventory_items WHERE title_id = $1 AND user_id = $2 AND item_id = $3", gone
            )

    async def items(self, title_id: str, user_id: str, now: int) -> list[InventoryItem]:
        """The user's items that have not expired, by item id."""
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM inventory_items WHERE title_id = $1 AND user_id = $2"  # nosec B608 # constant column list and lock clause; values bound as $n
            " AND (expire_time = 0 OR expire_time > $3) ORDER BY item_id",
            title_id,
            user_id,
            now,
        )
        return [inventory_item(r) for r in rows]

    async def purge(self, now: int) -> int:
        """Delete every expired item (of every title): reads already leave them out."""
        return await self._db.execute(
            "DELETE FROM inventory_items WHERE expire_time > 0 AND expire_time <= $1", now
        )

    async def delete_user(self, tx: Tx, title_id: str, user_id: str) -> None:
        await tx.execute(
            "DELETE FROM inventory_items WHERE title_id = $1 AND user_id = $2", title_id, user_id
        )

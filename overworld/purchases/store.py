"""SQL for purchases, subscriptions and store notifications. Every statement names the title."""

from __future__ import annotations

from typing import Any

from overworld.db import Database, Row, Tx
from overworld.purchases.models import Purchase, StorePurchase, StoreSubscription, Subscription

_PURCHASE = (
    "user_id, product_id, transaction_id, store, purchase_time, create_time, update_time, refund_time,"
    " provider_response, environment, quantity"
)
_SUBSCRIPTION = (
    "user_id, product_id, original_transaction_id, store, purchase_time, create_time, update_time,"
    " environment, expiry_time, refund_time, provider_response, provider_notification"
)
Executor = Database | Tx


def purchase_of(row: Row, seen_before: bool = False) -> Purchase:
    return Purchase(
        user_id=row["user_id"], product_id=row["product_id"], transaction_id=row["transaction_id"],
        store=row["store"], purchase_time=int(row["purchase_time"]), create_time=int(row["create_time"]),
        update_time=int(row["update_time"]), refund_time=int(row["refund_time"]),
        provider_response=row["provider_response"], environment=row["environment"], seen_before=seen_before,
    )  # fmt: skip


def subscription_of(row: Row, now: int) -> Subscription:
    expiry, refund = int(row["expiry_time"]), int(row["refund_time"])
    return Subscription(
        user_id=row["user_id"], product_id=row["product_id"],
        original_transaction_id=row["original_transaction_id"], store=row["store"],
        purchase_time=int(row["purchase_time"]), create_time=int(row["create_time"]),
        update_time=int(row["update_time"]), environment=row["environment"], expiry_time=expiry,
        refund_time=refund, provider_response=row["provider_response"],
        provider_notification=row["provider_notification"], active=expiry > now and refund == 0,
    )  # fmt: skip


class PurchaseStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = db.sql.lock_rows

    # -- purchases --------------------------------------------------------------------------------

    async def insert_purchase(self, tx: Tx, title_id: str, user_id: str, p: StorePurchase, now: int) -> bool:
        """Record a purchase; False if its store transaction is recorded already (by anyone). On
        PostgreSQL an insert racing another transaction's waits for it to end."""
        added = await tx.execute(
            "INSERT INTO purchases (title_id, store, transaction_id, user_id, product_id, environment,"
            " store_ref, quantity, purchase_time, refund_time, provider_response, create_time, update_time)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) ON CONFLICT DO NOTHING",
            title_id, p.store, p.transaction_id, user_id, p.product_id, p.environment, p.store_ref,
            p.quantity, p.purchase_time, p.refund_time, p.provider_response, now,
        )  # fmt: skip
        return added == 1

    async def purchase(
        self, ex: Executor, title_id: str, store: str, transaction_id: str, *, lock: bool = False
    ) -> Row | None:
        row: Row | None = await ex.fetchrow(
            f"SELECT {_PURCHASE} FROM purchases WHERE title_id = $1 AND store = $2 AND transaction_id = $3"  # nosec B608 # constant column lists, conditions and lock clauses; values bound as $n
            f"{self._lock if lock else ''}",
            title_id, store, transaction_id,
        )  # fmt: skip
        return row

    async def purchase_by_transaction(self, title_id: str, transaction_id: str) -> Row | None:
        row: Row | None = await self._db.fetchrow(
            f"SELECT {_PURCHASE} FROM purchases WHERE title_id = $1 AND transaction_id = $2"  # nosec B608 # constant column lists, conditions and lock clauses; values bound as $n
            " ORDER BY store LIMIT 1",
            title_id, transaction_id,
        )  # fmt: skip
        return row

    async def purchase_transactions_by_ref(self, tx: Tx, title_id: str, store: str, ref: str) -> list[str]:
        rows = await tx.fetch(
            "SELECT transaction_id FROM purchases WHERE title_id = $1 AND store = $2 AND store_ref = $3",
            title_id, store, ref,
        )  # fmt: skip
        return [r["transaction_id"] for r in rows]

    async def refund_purchase(
        self, tx: Tx, title_id: str, store: str, transaction_id: str, when: int, now: int
    ) -> None:
        await tx.execute(
            "UPDATE purchases SET refund_time = $4, update_time = $5"
            " WHERE title_id = $1 AND store = $2 AND transaction_id = $3",
            title_id, store, transaction_id, when, now,
        )  # fmt: skip

    async def purchases(
        self, title_id: str, user_id: str, limit: int, after: tuple[int, str, str] | None
    ) -> list[Row]:
        """Newest first (purchase time, then store and transaction id, descending)."""
        return await self._page("purchases", _PURCHASE, "transaction_id", title_id, user_id, limit, after)

    async def _page(
        self,
        table: str,
        columns: str,
        id_column: str,
        title_id: str,
        user_id: str,
        limit: int,
        after: tuple[int, str, str] | None,
    ) -> list[Row]:
        """A page of `table` (purchases or subscriptions), of one user or of all ("" user id),
        newest first by (purchase_time, store, `id_column`), after the cursor's key."""
        where: list[str] = ["title_id = $1"]
        args: list[Any] = [title_id]
        if user_id:
            args.append(user_id)
            where.append(f"user_id = ${len(args)}")
        if after is not None:
            args.extend(after)
            n = len(args)
            where.append(
                f"(purchase_time < ${n - 2} OR (purchase_time = ${n - 2} AND (store < ${n - 1}"
                f" OR (store = ${n - 1} AND {id_column} < ${n}))))"
            )
        args.append(limit)
        rows: list[Row] = await self._db.fetch(
            f"SELECT {columns} FROM {table} WHERE {' AND '.join(where)}"  # nosec B608 # constant table, column lists and conditions; values bound as $n
            f" ORDER BY purchase_time DESC, store DESC, {id_column} DESC LIMIT ${len(args)}",
            *args,
        )
        return rows

    # -- subscriptions ----------------------------------------------------------------------------

    async def insert_subscription(
        self, tx: Tx, title_id: str, user_id: str, s: StoreSubscription, notification: str, now: int
    ) -> bool:
        added = await tx.execute(
            "INSERT INTO subscriptions (title_id, store, original_transaction_id, user_id, product_id,"
            " environment, store_ref, purchase_time, expiry_time, refund_time, provider_response,"
            " provider_notification, create_time, update_time)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) ON CONFLICT DO NOTHING",
            title_id, s.store, s.original_transaction_id, user_id, s.product_id, s.environment, s.store_ref,
            s.purchase_time, s.expiry_time, s.refund_time, s.provider_response, notification, now,
        )  # fmt: skip
        return added == 1

    async def subscription(
        self, ex: Executor, title_id: str, store: str, original_id: str, *, lock: bool = False
    ) -> Row | None:
        row: Row | None = await ex.fetchrow(
            f"SELECT {_SUBSCRIPTION} FROM subscriptions WHERE title_id = $1 AND store = $2"  # nosec B608 # constant column lists, conditions and lock clauses; values bound as $n
            f" AND original_transaction_id = $3{self._lock if lock else ''}",
            title_id, store, original_id,
        )  # fmt: skip
        return row

    async def subscription_ids_by_ref(self, tx: Tx, title_id: str, store: str, ref: str) -> list[str]:
        rows = await tx.fetch(
            "SELECT original_transaction_id FROM subscriptions WHERE title_id = $1 AND store = $2"
            " AND store_ref = $3",
            title_id, store, ref,
        )  # fmt: skip
        return [r["original_transaction_id"] for r in rows]

    async def update_subscription(
        self, tx: Tx, title_id: str, store: str, original_id: str, **values: Any
    ) -> None:
        names = sorted(values)
        sets = ", ".join(f"{name} = ${i + 4}" for i, name in enumerate(names))
        await tx.execute(
            f"UPDATE subscriptions SET {sets}"  # nosec B608 # constant column lists, conditions and lock clauses; values bound as $n
            " WHERE title_id = $1 AND store = $2 AND original_transaction_id = $3",
            title_id, store, original_id, *(values[n] for n in names),
        )  # fmt: skip

    async def subscription_by_product(self, title_id: str, user_id: str, product_id: str) -> Row | None:
        row: Row | None = await self._db.fetchrow(
            f"SELECT {_SUBSCRIPTION} FROM subscriptions"  # nosec B608 # constant column lists, conditions and lock clauses; values bound as $n
            " WHERE title_id = $1 AND user_id = $2 AND product_id = $3"
            " ORDER BY expiry_time DESC, purchase_time DESC LIMIT 1",
            title_id, user_id, product_id,
        )  # fmt: skip
        return row

    async def subscriptions(
        self, title_id: str, user_id: str, limit: int, after: tuple[int, str, str] | None
    ) -> list[Row]:
        """Newest first (purchase time, then store and original transaction id, descending)."""
        return await self._page(
            "subscriptions", _SUBSCRIPTION, "original_transaction_id", title_id, user_id, limit, after
        )

    # -- notifications and accounts ---------------------------------------------------------------

    async def claim_notification(
        self, tx: Tx, title_id: str, store: str, notification_id: str, now: int
    ) -> bool:
        """Record a notification as acted on; False if it was already (a redelivery)."""
        added = await tx.execute(
            "INSERT INTO purchase_notifications (title_id, store, notification_id, create_time)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            title_id, store, notification_id, now,
        )  # fmt: skip
        return added == 1

    async def disown(self, tx: Tx, title_id: str, user_id: str, owner: str, now: int) -> None:
        """A deleted account's purchases and subscriptions pass to `owner` (the system user): the
        store transactions stay used, so they cannot be validated again for another account."""
        for table in ("purchases", "subscriptions"):
            await tx.execute(
                f"UPDATE {table} SET user_id = $3, update_time = $4 WHERE title_id = $1 AND user_id = $2",  # nosec B608 # constant column lists, conditions and lock clauses; values bound as $n
                title_id, user_id, owner, now,
            )  # fmt: skip

"""SQL for wallets, the ledger and idempotency records. Every statement names the title.

A wallet is the `wallet` column of its user's row, as in Nakama: locking the row locks the wallet,
an unknown user has no wallet, deleting the user deletes it, and the account read (and its cache,
which the change feed keeps current) carries it. Batches of changes are written with one statement
per kind of row: with array parameters where the database takes them (`Database.sql.batch_writes`,
PostgreSQL, where each statement is a round trip), as a row at a time otherwise (SQLite, where a
statement costs microseconds and one transaction writes at a time).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from overworld.db import Database, Row, Tx
from overworld.wallets.models import LedgerItem

WalletKey = tuple[str, str]  # (title id, user id)
RequestKey = tuple[str, str, str]  # (title id, scope, idempotency key)
_LEDGER_COLUMNS = "id, user_id, changeset, metadata, create_time, update_time, seq"
# The three writes of `save` with arrays (PostgreSQL), numbered to run as one statement.
_UPDATE_WALLETS = (
    "UPDATE users AS u SET wallet = x.w, update_time = $4"
    " FROM unnest($1::text[], $2::text[], $3::text[]) AS x(t, i, w) WHERE u.title_id = x.t AND u.id = x.i"
)
_INSERT_LEDGER = (
    "INSERT INTO wallet_ledger (title_id, id, user_id, changeset, metadata, create_time, update_time, seq)"
    " SELECT t, i, u, c, m, n, n, k + coalesce((SELECT max(l.seq) FROM wallet_ledger l"
    " WHERE l.title_id = x.t AND l.user_id = x.u), 0) FROM unnest($5::text[], $6::text[], $7::text[],"
    " $8::text[], $9::text[], $10::bigint[], $11::bigint[]) AS x(t, i, u, c, m, n, k)"
)
_INSERT_REQUESTS = (
    "INSERT INTO wallet_requests (title_id, scope, key, request_hash, result, create_time)"
    " SELECT * FROM unnest($12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::bigint[])"
    " ON CONFLICT DO NOTHING RETURNING 1"
)


@dataclass(slots=True)
class LedgerRow:
    title_id: str
    id: str
    user_id: str
    changeset: str
    metadata: str
    time: int


@dataclass(slots=True)
class RequestRow:
    title_id: str
    scope: str
    key: str
    request_hash: str
    result: str
    time: int


class LedgerIds:
    """UUIDv7 ids (RFC 9562) that increase within this process: 48 bits of Unix milliseconds, a
    12-bit counter within the millisecond, 62 random bits. Increasing ids land on the right-most
    pages of the primary key's B-tree (the ledger's order is `seq`, not the id)."""

    def __init__(self) -> None:
        self._ms = 0
        self._seq = 0

    def new(self) -> str:
        ms = time.time_ns() // 1_000_000
        if ms <= self._ms:
            ms, self._seq = self._ms, self._seq + 1
            if self._seq > 0xFFF:  # 4,096 in one millisecond: borrow the next one
                ms, self._seq = ms + 1, 0
        else:
            self._seq = 0
        self._ms = ms
        rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
        n = ms << 80 | 0x7 << 76 | self._seq << 64 | 0b10 << 62 | rand
        h = f"{n:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def ledger_item(row: Row) -> LedgerItem:
    return LedgerItem(
        id=row["id"],
        user_id=row["user_id"],
        changeset=orjson.loads(row["changeset"]),
        metadata=orjson.loads(row["metadata"]),
        create_time=int(row["create_time"]),
        update_time=int(row["update_time"]),
    )


class WalletStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._arrays = db.sql.batch_writes
        self._lock = db.sql.lock_rows

    # -- inside a transaction ---------------------------------------------------------------------

    async def lock(self, tx: Tx, keys: Sequence[WalletKey]) -> dict[WalletKey, str]:
        """Lock the users' rows and read their wallets (JSON text); unknown users are left out.
        `keys` must be sorted: every transaction takes its locks in that one order, so no two
        wait for each other in a cycle."""
        if not keys:
            return {}
        if self._arrays:
            rows = await tx.fetch(
                "SELECT title_id, id, wallet FROM users WHERE (title_id, id) IN"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
                " (SELECT * FROM unnest($1::text[], $2::text[]))"
                f" ORDER BY title_id, id{self._lock}",
                [k[0] for k in keys],
                [k[1] for k in keys],
            )
            return {(r["title_id"], r["id"]): r["wallet"] for r in rows}
        found: dict[WalletKey, str] = {}
        for title_id, user_id in keys:
            wallet = await tx.fetchval(
                f"SELECT wallet FROM users WHERE title_id = $1 AND id = $2{self._lock}",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
                title_id,
                user_id,
            )
            if wallet is not None:
                found[(title_id, user_id)] = wallet
        return found

    async def save(
        self,
        tx: Tx,
        wallets: dict[WalletKey, str],
        ledger: Sequence[LedgerRow],
        requests: Sequence[RequestRow],
        now: int,
    ) -> int:
        """Write what a transaction changed: the wallets (locked by `lock`, with the users' update
        time, as Nakama does), their ledger rows (in the order applied) and the idempotency
        records; returns how many records were new (fewer: another transaction recorded one of the
        keys meanwhile). With arrays, one statement: one round trip.

        Each ledger row's `seq` follows its user's last one, read by the statement that inserts
        it: that statement starts after the lock was granted, so it sees every row committed
        before (the snapshot of the lock query itself would not: on PostgreSQL a lock wait does
        not renew it)."""
        if self._arrays:
            if not wallets and not ledger and not requests:
                return 0
            added = await tx.fetch(
                f"WITH w AS ({_UPDATE_WALLETS} RETURNING 1), l AS ({_INSERT_LEDGER} RETURNING 1)"
                f" {_INSERT_REQUESTS}",
                [k[0] for k in wallets],
                [k[1] for k in wallets],
                list(wallets.values()),
                now,
                [r.title_id for r in ledger],
                [r.id for r in ledger],
                [r.user_id for r in ledger],
                [r.changeset for r in ledger],
                [r.metadata for r in ledger],
                [r.time for r in ledger],
                _ordinals(ledger),
                [r.title_id for r in requests],
                [r.scope for r in requests],
                [r.key for r in requests],
                [r.request_hash for r in requests],
                [r.result for r in requests],
                [r.time for r in requests],
            )
            return len(added)
        # A row at a time (SQLite): each ledger row's statement sees the one before.
        await tx.executemany(
            "UPDATE users SET wallet = $3, update_time = $4 WHERE title_id = $1 AND id = $2",
            [(t, u, w, now) for (t, u), w in wallets.items()],
        )
        await tx.executemany(
            "INSERT INTO wallet_ledger (title_id, id, user_id, changeset, metadata, create_time,"
            " update_time, seq) VALUES ($1, $2, $3, $4, $5, $6, $6, 1 + coalesce((SELECT max(seq) FROM"
            " wallet_ledger WHERE title_id = $1 AND user_id = $3), 0))",
            [(r.title_id, r.id, r.user_id, r.changeset, r.metadata, r.time) for r in ledger],
        )
        added_count = 0
        for r in requests:
            added_count += await tx.execute(
                "INSERT INTO wallet_requests (title_id, scope, key, request_hash, result, create_time)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                r.title_id,
                r.scope,
                r.key,
                r.request_hash,
                r.result,
                r.time,
            )
        return added_count

    async def requests(self, tx: Tx, keys: Sequence[RequestKey]) -> dict[RequestKey, tuple[str, str]]:
        """The recorded (request hash, result) of these idempotency keys, where there are any."""
        if not keys:
            return {}
        if self._arrays:
            rows = await tx.fetch(
                "SELECT title_id, scope, key, request_hash, result FROM wallet_requests"
                " WHERE (title_id, scope, key) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))",
                [k[0] for k in keys],
                [k[1] for k in keys],
                [k[2] for k in keys],
            )
        else:
            rows = []
            for title_id, scope, key in keys:
                row = await tx.fetchrow(
                    "SELECT title_id, scope, key, request_hash, result FROM wallet_requests"
                    " WHERE title_id = $1 AND scope = $2 AND key = $3",
                    title_id,
                    scope,
                    key,
                )
                if row is not None:
                    rows.append(row)
        return {(r["title_id"], r["scope"], r["key"]): (r["request_hash"], r["result"]) for r in rows}

    async def lock_ledger_item(self, tx: Tx, title_id: str, item_id: str) -> Row | None:
        row: Row | None = await tx.fetchrow(
            f"SELECT {_LEDGER_COLUMNS} FROM wallet_ledger WHERE title_id = $1 AND id = $2{self._lock}",  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            title_id,
            item_id,
        )
        return row

    async def set_ledger_metadata(self, tx: Tx, title_id: str, item_id: str, metadata: str, now: int) -> None:
        await tx.execute(
            "UPDATE wallet_ledger SET metadata = $3, update_time = $4 WHERE title_id = $1 AND id = $2",
            title_id,
            item_id,
            metadata,
            now,
        )

    async def delete_user(self, tx: Tx, title_id: str, user_id: str) -> None:
        """The user's ledger and idempotency records (its wallet goes with its row)."""
        await tx.execute("DELETE FROM wallet_ledger WHERE title_id = $1 AND user_id = $2", title_id, user_id)
        await tx.execute("DELETE FROM wallet_requests WHERE title_id = $1 AND scope = $2", title_id, user_id)

    # -- reads ------------------------------------------------------------------------------------

    async def wallet(self, title_id: str, user_id: str) -> str | None:
        value: str | None = await self._db.fetchval(
            "SELECT wallet FROM users WHERE title_id = $1 AND id = $2", title_id, user_id
        )
        return value

    async def ledger(self, title_id: str, user_id: str, limit: int, before: int | None) -> list[Row]:
        """Up to `limit` of the user's ledger rows, newest (highest `seq`) first, below `before`."""
        position = " AND seq < $4" if before is not None else ""
        rows: list[Row] = await self._db.fetch(
            f"SELECT {_LEDGER_COLUMNS} FROM wallet_ledger WHERE title_id = $1 AND user_id = $2{position}"  # nosec B608 # SQL built from constant fragments and column lists; values bound as $n
            " ORDER BY seq DESC LIMIT $3",
            title_id,
            user_id,
            limit,
            *([before] if before is not None else []),
        )
        return rows


def _ordinals(rows: Sequence[LedgerRow]) -> list[int]:
    """Each row's place among the rows of its user in `rows`: 1, 2, ..."""
    counts: dict[WalletKey, int] = {}
    out = []
    for r in rows:
        out.append(counts.get((r.title_id, r.user_id), 0) + 1)
        counts[(r.title_id, r.user_id)] = out[-1]
    return out


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()

"""What each domain holds about a user: one gathering function per domain for the export (a JSON
document each), and the tables (and the columns that name the user) each covers, which erasure
counts and clears. `tests/privacy/test_data_map.py` fails when a table with a user column is in
the schema but not here, so a new domain cannot be forgotten by the export or the erasure.

The SQL reads the domains' tables directly, by the user's id and the title, in pages (a player
may have written a great many chat messages): an export is read outside any transaction, each
domain as of its own reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from overworld.clock import rfc3339
from overworld.db import Row
from overworld.db.database import Executor

PAGE = 1000
Document = dict[str, Any]
Gather = Callable[[Executor, str, str], Awaitable[Document]]

FRIEND_STATES = {0: "friend", 1: "invite_sent", 2: "invite_received", 3: "blocked"}
GROUP_STATES = {0: "superadmin", 1: "admin", 2: "member", 3: "join_request", 4: "banned"}


@dataclass(frozen=True)
class Domain:
    """A domain's part of the export (its file, `name`.json) and the tables it covers: table ->
    the columns naming the user."""

    name: str
    tables: dict[str, tuple[str, ...]]
    gather: Gather


def json_value(value: str | None) -> Any:
    if value is None or value == "":
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value  # stored as text: exported as it is


def _time(ms: int | None) -> str | None:
    return None if ms is None else rfc3339(int(ms))


async def _paged(ex: Executor, sql: str, order: str, *args: Any) -> list[Row]:
    """Every row of `sql` (which must not end in ORDER BY), PAGE at a time in `order` (one
    unique column) so that no single read holds a long history in one result."""
    rows: list[Row] = []
    after: Any = None
    n = len(args)
    while True:
        where = f" AND {order} > ${n + 1}" if after is not None else ""
        extra = (after,) if after is not None else ()
        page = await ex.fetch(f"{sql}{where} ORDER BY {order} LIMIT {PAGE}", *args, *extra)
        rows.extend(page)
        if len(page) < PAGE:
            return rows
        after = page[-1][order]


# -- one gathering function per domain ------------------------------------------------------------


async def account(ex: Executor, title_id: str, user_id: str) -> Document:
    row = await ex.fetchrow(
        "SELECT id, username, display_name, avatar_url, lang_tag, location, timezone, metadata, email,"
        " password, custom_id, edge_count, create_time, update_time, verify_time, disable_time"
        " FROM users WHERE title_id = $1 AND id = $2",
        title_id,
        user_id,
    )
    if row is None:
        return {}
    devices = await ex.fetch(
        "SELECT id, vars FROM user_devices WHERE title_id = $1 AND user_id = $2 ORDER BY id",
        title_id,
        user_id,
    )
    return {
        "user_id": row["id"],
        "username": row["username"],
        "display_name": row["display_name"],
        "avatar_url": row["avatar_url"],
        "lang_tag": row["lang_tag"],
        "location": row["location"],
        "timezone": row["timezone"],
        "metadata": json_value(row["metadata"]),
        "email": row["email"],
        "password_set": row["password"] is not None,  # the hash itself is not the player's to read
        "custom_id": row["custom_id"],
        "edge_count": row["edge_count"],
        "create_time": _time(row["create_time"]),
        "update_time": _time(row["update_time"]),
        "verify_time": _time(row["verify_time"]),
        "disable_time": _time(row["disable_time"]),
        "devices": [{"id": d["id"], "vars": json_value(d["vars"]) or {}} for d in devices],
    }


async def sessions(ex: Executor, title_id: str, user_id: str) -> Document:
    revoked = await ex.fetch(
        "SELECT token_id, kind, expires_at FROM revoked_tokens WHERE title_id = $1 AND user_id = $2"
        " ORDER BY token_id",
        title_id,
        user_id,
    )
    cutoff = await ex.fetchrow(
        "SELECT not_before, expires_at FROM session_cutoffs WHERE title_id = $1 AND user_id = $2",
        title_id,
        user_id,
    )
    return {
        "revoked_tokens": [
            {
                "token_id": r["token_id"],
                "kind": "refresh" if r["kind"] else "session",
                "expire_time": _time(r["expires_at"]),
            }
            for r in revoked
        ],
        "signed_out_everywhere_before": None if cutoff is None else _time(int(cutoff["not_before"]) // 1000),
    }


async def storage(ex: Executor, title_id: str, user_id: str) -> Document:
    rows = await ex.fetch(
        "SELECT collection, key, value, version, read, write, create_time, update_time FROM storage_objects"
        " WHERE title_id = $1 AND user_id = $2 ORDER BY collection, key",
        title_id,
        user_id,
    )
    return {
        "objects": [
            {
                "collection": r["collection"],
                "key": r["key"],
                "value": json_value(r["value"]),
                "version": r["version"],
                "permission_read": r["read"],
                "permission_write": r["write"],
                "create_time": _time(r["create_time"]),
                "update_time": _time(r["update_time"]),
            }
            for r in rows
        ]
    }


async def friends(ex: Executor, title_id: str, user_id: str) -> Document:
    rows = await _paged(
        ex,
        "SELECT destination_id, state, update_time, metadata FROM user_edges WHERE title_id = $1"
        " AND source_id = $2",
        "destination_id",
        title_id,
        user_id,
    )
    return {
        "friends": [
            {
                "user_id": r["destination_id"],
                "state": FRIEND_STATES.get(int(r["state"]), str(r["state"])),
                "update_time": _time(r["update_time"]),
                "metadata": json_value(r["metadata"]),
            }
            for r in rows
        ]
    }


async def groups(ex: Executor, title_id: str, user_id: str) -> Document:
    rows = await _paged(
        ex,
        "SELECT ge.group_id, ge.state, ge.update_time, g.name FROM group_edges ge JOIN groups g"
        " ON g.title_id = ge.title_id AND g.id = ge.group_id WHERE ge.title_id = $1 AND ge.user_id = $2",
        "group_id",
        title_id,
        user_id,
    )
    created = await ex.fetch(
        "SELECT id, name, create_time FROM groups WHERE title_id = $1 AND creator_id = $2 ORDER BY id",
        title_id,
        user_id,
    )
    return {
        "memberships": [
            {
                "group_id": r["group_id"],
                "name": r["name"],
                "state": GROUP_STATES.get(int(r["state"]), str(r["state"])),
                "update_time": _time(r["update_time"]),
            }
            for r in rows
        ],
        "created": [
            {"group_id": r["id"], "name": r["name"], "create_time": _time(r["create_time"])} for r in created
        ],
    }


async def chat(ex: Executor, title_id: str, user_id: str) -> Document:
    rows = await _paged(
        ex,
        "SELECT id, channel_id, code, username, content, create_time, update_time FROM channel_messages"
        " WHERE title_id = $1 AND sender_id = $2",
        "id",
        title_id,
        user_id,
    )
    return {
        "messages_sent": [
            {
                "message_id": r["id"],
                "channel_id": r["channel_id"],
                "code": r["code"],
                "username": r["username"],
                "content": json_value(r["content"]),
                "create_time": _time(r["create_time"]),
                "update_time": _time(r["update_time"]),
            }
            for r in rows
        ]
    }


async def notifications(ex: Executor, title_id: str, user_id: str) -> Document:
    received = await _paged(
        ex,
        "SELECT id, subject, content, code, sender_id, create_time FROM notifications"
        " WHERE title_id = $1 AND user_id = $2",
        "id",
        title_id,
        user_id,
    )
    sent = await _paged(
        ex,
        "SELECT id, user_id, subject, code, create_time FROM notifications WHERE title_id = $1"
        " AND sender_id = $2",
        "id",
        title_id,
        user_id,
    )
    return {
        "received": [
            {
                "id": r["id"],
                "subject": r["subject"],
                "content": json_value(r["content"]),
                "code": r["code"],
                "sender_id": r["sender_id"],
                "create_time": _time(r["create_time"]),
            }
            for r in received
        ],
        "sent": [
            {
                "id": r["id"],
                "to_user_id": r["user_id"],
                "subject": r["subject"],
                "code": r["code"],
                "create_time": _time(r["create_time"]),
            }
            for r in sent
        ],
    }


async def leaderboards(ex: Executor, title_id: str, user_id: str) -> Document:
    rows = await ex.fetch(
        "SELECT r.leaderboard_id, r.expiry_time, r.username, r.score, r.subscore, r.num_score, r.metadata,"
        " r.create_time, r.update_time, b.tournament FROM leaderboard_records r LEFT JOIN leaderboards b"
        " ON b.title_id = r.title_id AND b.id = r.leaderboard_id WHERE r.title_id = $1 AND r.owner_id = $2"
        " ORDER BY r.leaderboard_id, r.expiry_time",
        title_id,
        user_id,
    )
    return {
        "records": [
            {
                "leaderboard_id": r["leaderboard_id"],
                "tournament": bool(r["tournament"]),
                "expiry_time": _time(r["expiry_time"]) if r["expiry_time"] else None,
                "username": r["username"],
                "score": r["score"],
                "subscore": r["subscore"],
                "num_score": r["num_score"],
                "metadata": json_value(r["metadata"]),
                "create_time": _time(r["create_time"]),
                "update_time": _time(r["update_time"]),
            }
            for r in rows
        ]
    }


async def wallets(ex: Executor, title_id: str, user_id: str) -> Document:
    wallet = await ex.fetchval("SELECT wallet FROM users WHERE title_id = $1 AND id = $2", title_id, user_id)
    ledger = await _paged(
        ex,
        "SELECT id, seq, changeset, metadata, create_time, update_time FROM wallet_ledger"
        " WHERE title_id = $1 AND user_id = $2",
        "seq",
        title_id,
        user_id,
    )
    requests = await ex.fetch(
        "SELECT key, result, create_time FROM wallet_requests WHERE title_id = $1 AND scope = $2"
        " ORDER BY key",
        title_id,
        user_id,
    )
    return {
        "wallet": json_value(wallet) or {},
        "ledger": [
            {
                "id": r["id"],
                "seq": r["seq"],
                "changeset": json_value(r["changeset"]),
                "metadata": json_value(r["metadata"]),
                "create_time": _time(r["create_time"]),
                "update_time": _time(r["update_time"]),
            }
            for r in ledger
        ],
        "idempotent_requests": [
            {"key": r["key"], "result": json_value(r["result"]), "create_time": _time(r["create_time"])}
            for r in requests
        ],
    }


async def matchmaking(ex: Executor, title_id: str, user_id: str) -> Document:
    rows = await ex.fetch(
        "SELECT queue, mu, sigma, matches, update_time FROM matchmaker_ratings WHERE title_id = $1"
        " AND user_id = $2 ORDER BY queue",
        title_id,
        user_id,
    )
    return {
        "ratings": [
            {
                "queue": r["queue"],
                "mu": r["mu"],
                "sigma": r["sigma"],
                "matches": r["matches"],
                "update_time": _time(r["update_time"]),
            }
            for r in rows
        ],
        # Tickets, parties and presences live only while the player is connected (in memory or
        # Redis); nothing of them is kept once the player's sockets close.
        "live_state": "not persisted",
    }


async def store(ex: Executor, title_id: str, user_id: str) -> Document:
    items = await ex.fetch(
        "SELECT item_id, quantity, properties, expire_time, create_time, update_time FROM inventory_items"
        " WHERE title_id = $1 AND user_id = $2 ORDER BY item_id",
        title_id,
        user_id,
    )
    purchases = await _paged(
        ex,
        "SELECT id, key, source, result, create_time FROM store_purchases WHERE title_id = $1"
        " AND user_id = $2",
        "id",
        title_id,
        user_id,
    )
    grants = await ex.fetch(
        "SELECT store, transaction_id, product_id, contents, create_time, revoke_time"
        " FROM store_product_grants WHERE title_id = $1 AND user_id = $2"
        " ORDER BY create_time, transaction_id",
        title_id,
        user_id,
    )
    return {
        "inventory": [
            {
                "item_id": r["item_id"],
                "quantity": r["quantity"],
                "properties": json_value(r["properties"]),
                "expire_time": _time(r["expire_time"] or None),
                "create_time": _time(r["create_time"]),
                "update_time": _time(r["update_time"]),
            }
            for r in items
        ],
        "purchases": [
            {
                "id": r["id"],
                "idempotency_key": r["key"],
                "source": r["source"],
                "result": json_value(r["result"]),
                "create_time": _time(r["create_time"]),
            }
            for r in purchases
        ],
        "product_grants": [
            {
                "store": r["store"],
                "transaction_id": r["transaction_id"],
                "product_id": r["product_id"],
                "contents": json_value(r["contents"]),
                "create_time": _time(r["create_time"]),
                "revoke_time": _time(r["revoke_time"] or None),
            }
            for r in grants
        ],
    }


async def purchases(ex: Executor, title_id: str, user_id: str) -> Document:
    bought = await ex.fetch(
        "SELECT store, transaction_id, product_id, environment, quantity, purchase_time, refund_time,"
        " provider_response, create_time FROM purchases WHERE title_id = $1 AND user_id = $2"
        " ORDER BY purchase_time, transaction_id",
        title_id,
        user_id,
    )
    subscribed = await ex.fetch(
        "SELECT store, original_transaction_id, product_id, environment, purchase_time, expiry_time,"
        " refund_time, provider_response, create_time FROM subscriptions WHERE title_id = $1"
        " AND user_id = $2 ORDER BY purchase_time, original_transaction_id",
        title_id,
        user_id,
    )
    return {
        "purchases": [
            {
                "store": r["store"],
                "transaction_id": r["transaction_id"],
                "product_id": r["product_id"],
                "environment": r["environment"],
                "quantity": r["quantity"],
                "purchase_time": _time(r["purchase_time"]),
                "refund_time": _time(r["refund_time"] or None),
                "provider_response": json_value(r["provider_response"]),
                "create_time": _time(r["create_time"]),
            }
            for r in bought
        ],
        "subscriptions": [
            {
                "store": r["store"],
                "original_transaction_id": r["original_transaction_id"],
                "product_id": r["product_id"],
                "environment": r["environment"],
                "purchase_time": _time(r["purchase_time"]),
                "expiry_time": _time(r["expiry_time"] or None),
                "refund_time": _time(r["refund_time"] or None),
                "provider_response": json_value(r["provider_response"]),
                "create_time": _time(r["create_time"]),
            }
            for r in subscribed
        ],
    }


async def consents(ex: Executor, title_id: str, user_id: str) -> Document:
    rows = await ex.fetch(
        "SELECT id, policy, version, purpose, granted, create_time FROM consents WHERE title_id = $1"
        " AND user_id = $2 ORDER BY id",
        title_id,
        user_id,
    )
    return {
        "consents": [
            {
                "policy": r["policy"],
                "version": r["version"],
                "purpose": r["purpose"],
                "granted": bool(r["granted"]),
                "time": _time(r["create_time"]),
            }
            for r in rows
        ]
    }


# The domains in export order; each table with a column naming a user is covered by one of them.
DOMAINS: tuple[Domain, ...] = (
    Domain("account", {"users": ("id",), "user_devices": ("user_id",)}, account),
    Domain("sessions", {"revoked_tokens": ("user_id",), "session_cutoffs": ("user_id",)}, sessions),
    Domain("storage", {"storage_objects": ("user_id",)}, storage),
    Domain("friends", {"user_edges": ("source_id", "destination_id")}, friends),
    Domain("groups", {"group_edges": ("user_id",), "groups": ("creator_id",)}, groups),
    Domain("chat", {"channel_messages": ("sender_id",)}, chat),
    Domain("notifications", {"notifications": ("user_id", "sender_id")}, notifications),
    Domain("leaderboards", {"leaderboard_records": ("owner_id",)}, leaderboards),
    Domain("wallets", {"wallet_ledger": ("user_id",), "wallet_requests": ("scope",)}, wallets),
    Domain("matchmaking", {"matchmaker_ratings": ("user_id",)}, matchmaking),
    Domain(
        "store",
        {
            "inventory_items": ("user_id",),
            "store_purchases": ("user_id",),
            "store_product_grants": ("user_id",),
        },
        store,
    ),
    Domain("purchases", {"purchases": ("user_id",), "subscriptions": ("user_id",)}, purchases),
    Domain("consents", {"consents": ("user_id",)}, consents),
)

# Column names that hold a user's id: a table with one of them must be covered above.
USER_COLUMNS = frozenset(
    {"user_id", "owner_id", "sender_id", "source_id", "destination_id", "creator_id", "scope"}
)


async def count_rows(ex: Executor, title_id: str, user_id: str) -> dict[str, dict[str, int]]:
    """Per domain, per table: the rows naming the user (what an erasure removes or anonymises)."""
    counts: dict[str, dict[str, int]] = {}
    for domain in DOMAINS:
        per_table: dict[str, int] = {}
        for table, columns in domain.tables.items():
            where = " OR ".join(f"{c} = $2" for c in columns)
            n = await ex.fetchval(
                f"SELECT count(*) FROM {table} WHERE title_id = $1 AND ({where})",  # nosec B608 # table and columns from the DOMAINS constant; values bound as $n
                title_id,
                user_id,
            )
            per_table[table] = int(n or 0)
        counts[domain.name] = per_table
    return counts

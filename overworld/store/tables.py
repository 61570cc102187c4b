"""The catalog (the source of truth; nodes cache it), purchase records and real-money grants."""

from sqlalchemy import BigInteger, Column, Index, String, Table, Text

from overworld.db.metadata import metadata

# One row per catalog entry: `kind` is "item", "bundle" or "offer"; `definition` its checked JSON.
store_catalog = Table(
    "store_catalog",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("id", String(128), primary_key=True),
    Column("definition", Text, nullable=False),
    Column("update_time", BigInteger, nullable=False),
)

# One row per purchase with virtual currency. `key` is the caller's idempotency key (the purchase's
# own id when none was given): a retried purchase finds its row and applies nothing again.
store_purchases = Table(
    "store_purchases",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), nullable=False),
    Column("key", String(128), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("source", String(140), nullable=False),  # "bundle:<id>" or "offer:<id>" (purchase limits)
    Column("result", Text, nullable=False),  # JSON: what was paid and granted
    Column("create_time", BigInteger, nullable=False),
    Index(None, "title_id", "user_id", "key", unique=True),
    Index(None, "title_id", "user_id", "source", "create_time"),
)

# What each real-money store transaction granted (once) and whether it was revoked (once).
store_product_grants = Table(
    "store_product_grants",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("store", String(32), primary_key=True),
    Column("transaction_id", String(256), primary_key=True),
    Column("user_id", String(36), nullable=False),
    Column("product_id", String(256), nullable=False),
    Column("contents", Text, nullable=False),  # JSON: {"currencies": {...}, "items": {...}} granted
    Column("create_time", BigInteger, nullable=False),
    Column("revoke_time", BigInteger, nullable=False),  # 0 while not revoked
    Index(None, "title_id", "user_id"),
)

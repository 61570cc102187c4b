"""A player's items: one row per (user, item) with its quantity, properties and expiry."""

from sqlalchemy import BigInteger, Column, Index, String, Table, Text

from overworld.db.metadata import metadata

inventory_items = Table(
    "inventory_items",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("user_id", String(36), primary_key=True),
    Column("item_id", String(128), primary_key=True),  # the catalog item's id
    Column("quantity", BigInteger, nullable=False),
    Column("properties", Text, nullable=False),  # JSON object
    Column("expire_time", BigInteger, nullable=False),  # Unix ms; 0: never (time-limited items expire)
    Column("create_time", BigInteger, nullable=False),
    Column("update_time", BigInteger, nullable=False),
    Index(None, "expire_time"),  # the scheduled purge of expired items (every title at once)
)

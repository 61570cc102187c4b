from sqlalchemy import BigInteger, Column, Index, SmallInteger, String, Table, Text

from overworld.db.metadata import metadata

storage_objects = Table(
    "storage_objects",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("collection", String(128), primary_key=True),
    Column("user_id", String(36), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", Text, nullable=False),
    Column("version", String(32), nullable=False),
    Column("read", SmallInteger, nullable=False),
    Column("write", SmallInteger, nullable=False),
    Column("create_time", BigInteger, nullable=False),
    Column("update_time", BigInteger, nullable=False),
    # Public listing of a collection across users, in key order.
    Index(None, "title_id", "collection", "read", "key", "user_id"),
    # Everything a user owns (export, erasure).
    Index(None, "title_id", "user_id"),
)

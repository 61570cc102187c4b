from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from overworld.db.metadata import metadata

channel_messages = Table(
    "channel_messages",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("id", String(36), primary_key=True),
    Column("channel_id", String(128), nullable=False),  # "<mode>.<subject>.<subcontext>.<label>"
    Column("code", Integer, nullable=False),
    Column("sender_id", String(36), nullable=False),
    Column("username", String(128), nullable=False),
    Column("content", Text, nullable=False),
    Column("create_time", BigInteger, nullable=False),
    Column("update_time", BigInteger, nullable=False),
    # History of a channel in time order, both directions.
    Index(None, "title_id", "channel_id", "create_time", "id"),
    # A user's messages (erasure, export).
    Index(None, "title_id", "sender_id"),
    # The oldest messages of a title (retention).
    Index(None, "title_id", "create_time"),
)

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from overworld.db.metadata import metadata

notifications = Table(
    "notifications",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("user_id", String(36), primary_key=True),
    Column("id", String(36), primary_key=True),
    Column("subject", String(255), nullable=False),
    Column("content", Text, nullable=False),
    Column("code", Integer, nullable=False),
    Column("sender_id", String(36), nullable=False),
    Column("create_time", BigInteger, nullable=False),
    # A user's notifications in time order (listing with cursors).
    Index(None, "title_id", "user_id", "create_time", "id"),
    # The oldest of a title (retention); those a user sent (erasure).
    Index(None, "title_id", "create_time"),
    Index(None, "title_id", "sender_id"),
)

from sqlalchemy import BigInteger, Column, Index, Integer, SmallInteger, String, Table, Text

from overworld.db.metadata import metadata

groups = Table(
    "groups",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("id", String(36), primary_key=True),
    Column("creator_id", String(36), nullable=False),
    Column("name", String(255), nullable=False),
    Column("description", String(255)),
    Column("avatar_url", String(512)),
    Column("lang_tag", String(18), nullable=False, server_default="en"),
    Column("metadata", Text, nullable=False, server_default="{}"),
    Column("state", SmallInteger, nullable=False),  # 0 open, 1 closed
    Column("edge_count", Integer, nullable=False),  # members (states 0-2)
    Column("max_count", Integer, nullable=False),
    Column("create_time", BigInteger, nullable=False),
    Column("update_time", BigInteger, nullable=False),
    Index(None, "title_id", "name", unique=True),
    # Listing: every group, or filtered by open/closed or by language; biggest first.
    Index(None, "title_id", "edge_count", "id"),
    Index(None, "title_id", "state", "edge_count", "id"),
    Index(None, "title_id", "lang_tag", "edge_count", "id"),
)

# One row per user and group (Nakama keeps two, one each way).
group_edges = Table(
    "group_edges",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("group_id", String(36), primary_key=True),
    Column("user_id", String(36), primary_key=True),
    Column("state", SmallInteger, nullable=False),  # 0 superadmin .. 4 banned
    Column("position", BigInteger, nullable=False),  # nanoseconds at creation: list order
    Column("update_time", BigInteger, nullable=False),
    Index(None, "title_id", "group_id", "state", "position"),
    Index(None, "title_id", "user_id", "state", "position"),
)

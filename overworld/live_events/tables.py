from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table, Text

from overworld.db.metadata import metadata

# A title's base remote config: one JSON value per key, each with its own version.
remote_config = Table(
    "remote_config",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", Text, nullable=False),  # JSON
    Column("version", BigInteger, nullable=False),  # 1 on creation, +1 on each change
    Column("update_time", BigInteger, nullable=False),
)

# Live events; times in Unix milliseconds.
live_events = Table(
    "live_events",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("id", String(36), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("description", Text, nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=False),  # 0: a recurring event that never stops
    Column("cron", String(64), nullable=False),  # "" for a one-time event
    Column("duration", Integer, nullable=False),  # seconds each occurrence lasts (recurring only)
    Column("audience", Text, nullable=False),  # JSON object (docs/live_events.md)
    Column("config", Text, nullable=False),  # JSON object: remote config overrides
    Column("leaderboard_id", String(128), nullable=False),  # "" for none
    Column("metadata", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("create_time", BigInteger, nullable=False),
    Column("update_time", BigInteger, nullable=False),
    # Arming every node at start: events not over yet.
    Index(None, "title_id", "end_time"),
)

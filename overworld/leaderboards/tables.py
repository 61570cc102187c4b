from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, SmallInteger, String, Table, Text

from overworld.db.metadata import metadata

# Leaderboards and tournaments (a tournament is a leaderboard with a schedule of active windows).
leaderboards = Table(
    "leaderboards",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("id", String(128), primary_key=True),
    Column("tournament", Boolean, nullable=False),
    Column("authoritative", Boolean, nullable=False),
    Column("sort_order", SmallInteger, nullable=False),  # 0 ascending, 1 descending
    Column("operator", SmallInteger, nullable=False),  # Nakama's Operator: 1 best, 2 set, 3 incr, 4 decr
    Column("reset_schedule", String(64), nullable=False),  # cron, "" for none
    Column("metadata", Text, nullable=False),
    Column("create_time", BigInteger, nullable=False),
    # Tournaments only (zero or empty for leaderboards); times in Unix milliseconds.
    Column("title", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("category", SmallInteger, nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=False),  # 0: never ends
    Column("duration", Integer, nullable=False),  # seconds
    Column("max_size", Integer, nullable=False),  # 0: no limit
    Column("max_num_score", Integer, nullable=False),
    Column("join_required", Boolean, nullable=False),
    Column("size", Integer, nullable=False),  # owners in the current period (with max_size)
)

RANK_ORDER = ("title_id", "leaderboard_id", "expiry_time", "score", "subscore", "owner_id")
# One row per owner per period; the period is identified by its expiry (0: the board never resets).
leaderboard_records = Table(
    "leaderboard_records",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("leaderboard_id", String(128), primary_key=True),
    Column("expiry_time", BigInteger, primary_key=True),
    Column("owner_id", String(36), primary_key=True),
    Column("username", String(128)),
    Column("score", BigInteger, nullable=False),
    Column("subscore", BigInteger, nullable=False),
    Column("num_score", Integer, nullable=False),
    Column("max_num_score", Integer, nullable=False),
    Column("metadata", Text, nullable=False),
    Column("create_time", BigInteger, nullable=False),
    Column("update_time", BigInteger, nullable=False),
    # Pages in rank order, in both directions.
    Index("ix_leaderboard_records_rank_order", *RANK_ORDER),
    # Everything an owner has (account deletion).
    Index(None, "title_id", "owner_id"),
)

# Each period that has been closed, claimed by exactly one node: the reset's own record (when it
# ran, on which node), the list of archived periods, and the guard that a reset runs once.
leaderboard_resets = Table(
    "leaderboard_resets",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("leaderboard_id", String(128), primary_key=True),
    Column("expiry_time", BigInteger, primary_key=True),
    Column("kind", String(16), primary_key=True),  # "reset" or "end" (tournament window closed)
    Column("records", Integer, nullable=False),
    Column("node", String(128), nullable=False),
    Column("run_time", BigInteger, nullable=False),
)

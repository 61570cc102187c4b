from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table

from overworld.db.metadata import metadata

# A player's rating in one matchmaking queue (openskill's Plackett-Luce: mean and deviation).
matchmaker_ratings = Table(
    "matchmaker_ratings",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("queue", String(128), primary_key=True),
    Column("user_id", String(36), primary_key=True),
    Column("mu", Float, nullable=False),
    Column("sigma", Float, nullable=False),
    Column("matches", Integer, nullable=False),
    Column("update_time", BigInteger, nullable=False),
    # Everything a user owns (erasure).
    Index(None, "title_id", "user_id"),
)

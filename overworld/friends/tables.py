from sqlalchemy import BigInteger, Column, Index, SmallInteger, String, Table, Text

from overworld.db.metadata import metadata

# One row per direction: a friendship or an invitation is two rows (A->B and B->A, states 0/0 or
# 1/2); a block is one row from the blocker (state 3), the other direction removed.
user_edges = Table(
    "user_edges",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("source_id", String(36), primary_key=True),
    Column("destination_id", String(36), primary_key=True),
    Column("state", SmallInteger, nullable=False),
    Column("position", BigInteger, nullable=False),  # nanoseconds at creation: list order
    Column("update_time", BigInteger, nullable=False),
    Column("metadata", Text, nullable=False, server_default="{}"),
    # A user's list, by state then age.
    Index(None, "title_id", "source_id", "state", "position"),
    # Edges pointing at a user (account deletion).
    Index(None, "title_id", "destination_id"),
)

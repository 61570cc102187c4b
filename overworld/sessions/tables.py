from sqlalchemy import BigInteger, Column, Index, SmallInteger, String, Table

from overworld.db.metadata import metadata

# Tokens revoked before their expiry (logout, refresh rotation). Rows past `expires_at` are
# pruned: an expired token is refused on its own.
revoked_tokens = Table(
    "revoked_tokens",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("token_id", String(36), primary_key=True),
    Column("user_id", String(36), nullable=False),
    Column("kind", SmallInteger, nullable=False),  # 0 session token, 1 refresh token
    Column("expires_at", BigInteger, nullable=False),
    Index(None, "expires_at"),
)

# Every token of a user issued before `not_before` (Unix microseconds) is refused (account
# deleted, logout everywhere).
session_cutoffs = Table(
    "session_cutoffs",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("user_id", String(36), primary_key=True),
    Column("not_before", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index(None, "expires_at"),
)

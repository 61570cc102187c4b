"""Consent records, erasure tombstones and per-title retention policies (docs/data-protection.md)."""

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table

from overworld.db.metadata import metadata

# Every consent a player gave or withdrew, kept as a history (the proof of what was agreed to,
# and when): the current answer for a policy and purpose is the newest row.
consents = Table(
    "consents",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("user_id", String(36), primary_key=True),
    Column("id", String(36), primary_key=True),  # UUIDv7: newest last
    Column("policy", String(128), nullable=False),  # e.g. "privacy", "terms"
    Column("version", String(64), nullable=False),  # the policy's version agreed to, e.g. "2026-11"
    Column("purpose", String(128), nullable=False),  # e.g. "analytics", "marketing", "" for the policy
    Column("granted", Boolean, nullable=False),
    Column("create_time", BigInteger, nullable=False),  # Unix milliseconds
)

# What is left of an erased account: keyed digests (HMAC-SHA-256 with the title's token secret) of
# its user id and identifiers, never the values, so that a stale client cannot bring it back.
erasures = Table(
    "erasures",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("digest", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # "user", "device", "custom", "email"
    Column("erase_time", BigInteger, nullable=False),
    Column("expire_time", BigInteger, nullable=False),  # 0: never (erasure_tombstone_days = 0)
    Index(None, "expire_time"),
)

# A title's retention policy; a column left NULL takes the setting (retention_*_days).
retention_policies = Table(
    "retention_policies",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("chat_days", Integer),
    Column("notification_days", Integer),
    Column("ledger_metadata_days", Integer),
    Column("update_time", BigInteger, nullable=False),
)

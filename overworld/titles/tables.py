from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, String, Table

from overworld.db.metadata import metadata

titles = Table(
    "titles",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("server_key", String(128), nullable=False, unique=True),
    Column("http_key", String(128), nullable=False, unique=True),
    Column("token_secret", String(128), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("create_time", BigInteger, nullable=False),
    # Key rotation (`overworld title rotate-keys`): the keys replaced, working until the expiry (ms).
    Column("previous_server_key", String(128), nullable=True),
    Column("previous_http_key", String(128), nullable=True),
    Column("previous_keys_expire_time", BigInteger, nullable=True),
    # The default title: a digest of the key settings last applied, to tell when they change.
    Column("config_keys_digest", String(64), nullable=True),
    # Data residency: the region whose nodes serve the title (NULL: any node).
    Column("region", String(32), nullable=True),
)

# Encryption at rest (titles/crypto.py): the keys (by id, with a fingerprint, never the key) that a
# title's rows may be sealed under. A node records its newest key before it writes with it and
# refuses to start without every key listed here; `overworld keys rotate` removes the keys no row
# uses any more.
encryption_keys_used = Table(
    "encryption_keys_used",
    metadata,
    Column("title_id", String(36), ForeignKey("titles.id", ondelete="CASCADE"), primary_key=True),
    Column("key_id", String(32), primary_key=True),
    Column("fingerprint", String(32), nullable=False),
    Column("create_time", BigInteger, nullable=False),
)

# `overworld keys rotate`: where each title's pass over each table got to (resumable).
key_rotations = Table(
    "key_rotations",
    metadata,
    Column("title_id", String(36), ForeignKey("titles.id", ondelete="CASCADE"), primary_key=True),
    Column("table_name", String(64), primary_key=True),
    Column("key_id", String(32), nullable=False),  # the key the pass rewrites rows under
    Column("after_id", String(128), nullable=False),  # the last user id done ('' before the first)
    Column("rows_done", BigInteger, nullable=False),
    Column("update_time", BigInteger, nullable=False),
    Column("finish_time", BigInteger),
)

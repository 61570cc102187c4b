from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, LargeBinary, String, Table, Text

from overworld.db.metadata import metadata

users = Table(
    "users",
    metadata,
    Column("title_id", String(36), ForeignKey("titles.id", ondelete="CASCADE"), primary_key=True),
    Column("id", String(36), primary_key=True),
    Column("username", String(128), nullable=False),
    Column("display_name", String(255)),
    Column("avatar_url", String(512)),
    Column("lang_tag", String(18), nullable=False, server_default="en"),
    Column("location", String(255)),
    Column("timezone", String(255)),
    Column("metadata", Text, nullable=False, server_default="{}"),
    Column("email", String(255)),
    Column("password", LargeBinary),
    Column("custom_id", String(128)),
    Column("edge_count", Integer, nullable=False, server_default="0"),
    Column("create_time", BigInteger, nullable=False),
    Column("update_time", BigInteger, nullable=False),
    Column("verify_time", BigInteger),
    Column("disable_time", BigInteger),
    # The wallet, as Nakama keeps it: a JSON object of currency -> int64 amount (overworld/wallets).
    Column("wallet", Text, nullable=False, server_default="{}"),
    # Encryption at rest (accounts/store.py): for a title with a key, `email` and `custom_id` hold
    # blind indexes (the unique indexes below apply to them) and these the AES-GCM envelopes.
    Column("email_sealed", Text),
    Column("custom_id_sealed", Text),
    Index(None, "title_id", "username", unique=True),
    Index(None, "title_id", "email", unique=True),
    Index(None, "title_id", "custom_id", unique=True),
)

user_devices = Table(
    "user_devices",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("id", String(128), primary_key=True),
    Column("user_id", String(36), nullable=False),
    Column("vars", Text),
    # For a title with a key, `id` is the device id's blind index and this its AES-GCM envelope.
    Column("id_sealed", Text),
    Index(None, "title_id", "user_id"),
)

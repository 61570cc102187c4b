from sqlalchemy import BigInteger, Boolean, Column, String, Table

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
)

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
)

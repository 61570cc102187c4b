"""The wallet itself is the `wallet` column of `users` (as in Nakama: overworld/accounts/tables.py);
here are its ledger and the records of idempotent changes."""

from sqlalchemy import BigInteger, Column, Index, String, Table, Text

from overworld.db.metadata import metadata

# One row per applied wallet change (with `update_ledger`); times in Unix milliseconds.
wallet_ledger = Table(
    "wallet_ledger",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("id", String(36), primary_key=True),  # UUIDv7, increasing within a node
    Column("user_id", String(36), nullable=False),
    Column("changeset", Text, nullable=False),  # JSON object: currency -> amount
    Column("metadata", Text, nullable=False),  # JSON object
    Column("create_time", BigInteger, nullable=False),
    Column("update_time", BigInteger, nullable=False),
    # The row's place in its user's ledger: 1, 2, 3... in the order the changes were applied (set
    # under the user's row lock, so the ledger replays the wallet's history exactly, whichever
    # node wrote each row and whatever their clocks say).
    Column("seq", BigInteger, nullable=False),
    Index(None, "title_id", "user_id", "seq", unique=True),
    # The oldest rows of a title (retention of their metadata).
    Index(None, "title_id", "create_time"),
)

# The outcome of each change made with an idempotency key, so that a retry returns it instead of
# applying the change again. `scope`: the user id for `wallet_update`, the system user's id for
# keys of a whole call (`wallets_update`, `multi_update`).
wallet_requests = Table(
    "wallet_requests",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("scope", String(36), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("request_hash", String(64), nullable=False),  # of the change asked for: a reuse must match
    Column("result", Text, nullable=False),  # JSON
    Column("create_time", BigInteger, nullable=False),
)

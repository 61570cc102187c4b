"""Validated store purchases and subscriptions, and the store notifications already acted on.
Times in Unix milliseconds (0: never)."""

from sqlalchemy import BigInteger, Column, Index, String, Table, Text

from overworld.db.metadata import metadata

# One row per store transaction, owned by the user who validated it first. A store's transaction
# id is unique within that store, whatever the environment: the environment is recorded, a title
# accepts the environments it is configured for, and a notification of one environment never
# touches a record of the other.
purchases = Table(
    "purchases",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("store", String(16), primary_key=True),  # apple, google, huawei, facebook_instant
    Column("transaction_id", String(512), primary_key=True),
    Column("user_id", String(36), nullable=False),
    Column("product_id", String(512), nullable=False),
    Column("environment", String(16), nullable=False),  # production, sandbox, unknown
    Column("store_ref", String(1024), nullable=False),  # Google: the purchase token ("" elsewhere)
    Column("quantity", BigInteger, nullable=False),
    Column("purchase_time", BigInteger, nullable=False),
    Column("refund_time", BigInteger, nullable=False),
    Column("provider_response", Text, nullable=False),
    Column("create_time", BigInteger, nullable=False),
    Column("update_time", BigInteger, nullable=False),
    Index(None, "title_id", "user_id", "purchase_time"),
    Index(None, "title_id", "store", "store_ref"),
)

# One row per subscription (its original transaction), owned by the user who validated it first;
# renewals and refunds update it.
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("store", String(16), primary_key=True),
    Column("original_transaction_id", String(512), primary_key=True),
    Column("user_id", String(36), nullable=False),
    Column("product_id", String(512), nullable=False),
    Column("environment", String(16), nullable=False),
    Column("store_ref", String(1024), nullable=False),
    Column("purchase_time", BigInteger, nullable=False),
    Column("expiry_time", BigInteger, nullable=False),
    Column("refund_time", BigInteger, nullable=False),
    Column("provider_response", Text, nullable=False),
    Column("provider_notification", Text, nullable=False),
    Column("create_time", BigInteger, nullable=False),
    Column("update_time", BigInteger, nullable=False),
    Index(None, "title_id", "user_id", "purchase_time"),
    Index(None, "title_id", "store", "store_ref"),
)

# Store server notifications acted on (App Store notificationUUID, Pub/Sub messageId): a
# notification delivered twice acts once.
purchase_notifications = Table(
    "purchase_notifications",
    metadata,
    Column("title_id", String(36), primary_key=True),
    Column("store", String(16), primary_key=True),
    Column("notification_id", String(256), primary_key=True),
    Column("create_time", BigInteger, nullable=False),
)

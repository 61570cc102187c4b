"""purchases: validated store purchases and subscriptions, store notifications acted on

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "purchases",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("store", sa.String(16), nullable=False),
        sa.Column("transaction_id", sa.String(512), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("product_id", sa.String(512), nullable=False),
        sa.Column("environment", sa.String(16), nullable=False),
        sa.Column("store_ref", sa.String(1024), nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("purchase_time", sa.BigInteger, nullable=False),
        sa.Column("refund_time", sa.BigInteger, nullable=False),
        sa.Column("provider_response", sa.Text, nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.Column("update_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("title_id", "store", "transaction_id", name="pk_purchases"),
    )
    op.create_index(
        "ix_purchases_title_id_user_id_purchase_time", "purchases", ["title_id", "user_id", "purchase_time"]
    )
    op.create_index("ix_purchases_title_id_store_store_ref", "purchases", ["title_id", "store", "store_ref"])
    op.create_table(
        "subscriptions",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("store", sa.String(16), nullable=False),
        sa.Column("original_transaction_id", sa.String(512), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("product_id", sa.String(512), nullable=False),
        sa.Column("environment", sa.String(16), nullable=False),
        sa.Column("store_ref", sa.String(1024), nullable=False),
        sa.Column("purchase_time", sa.BigInteger, nullable=False),
        sa.Column("expiry_time", sa.BigInteger, nullable=False),
        sa.Column("refund_time", sa.BigInteger, nullable=False),
        sa.Column("provider_response", sa.Text, nullable=False),
        sa.Column("provider_notification", sa.Text, nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.Column("update_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("title_id", "store", "original_transaction_id", name="pk_subscriptions"),
    )
    op.create_index(
        "ix_subscriptions_title_id_user_id_purchase_time",
        "subscriptions",
        ["title_id", "user_id", "purchase_time"],
    )
    op.create_index(
        "ix_subscriptions_title_id_store_store_ref", "subscriptions", ["title_id", "store", "store_ref"]
    )
    op.create_table(
        "purchase_notifications",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("store", sa.String(16), nullable=False),
        sa.Column("notification_id", sa.String(256), nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("title_id", "store", "notification_id", name="pk_purchase_notifications"),
    )


def downgrade() -> None:
    op.drop_table("purchase_notifications")
    op.drop_table("subscriptions")
    op.drop_table("purchases")

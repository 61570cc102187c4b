"""data protection: consent records, erasure tombstones, retention policies, and the indexes
retention and erasure read by

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consents",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("policy", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(128), nullable=False),
        sa.Column("granted", sa.Boolean, nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("title_id", "user_id", "id", name="pk_consents"),
    )
    op.create_table(
        "erasures",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("erase_time", sa.BigInteger, nullable=False),
        sa.Column("expire_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("title_id", "digest", name="pk_erasures"),
    )
    op.create_index("ix_erasures_expire_time", "erasures", ["expire_time"])
    op.create_table(
        "retention_policies",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("chat_days", sa.Integer, nullable=True),
        sa.Column("notification_days", sa.Integer, nullable=True),
        sa.Column("ledger_metadata_days", sa.Integer, nullable=True),
        sa.Column("update_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("title_id", name="pk_retention_policies"),
    )
    op.create_index(
        "ix_channel_messages_title_id_create_time", "channel_messages", ["title_id", "create_time"]
    )
    op.create_index("ix_notifications_title_id_create_time", "notifications", ["title_id", "create_time"])
    op.create_index("ix_notifications_title_id_sender_id", "notifications", ["title_id", "sender_id"])
    op.create_index("ix_wallet_ledger_title_id_create_time", "wallet_ledger", ["title_id", "create_time"])


def downgrade() -> None:
    op.drop_index("ix_wallet_ledger_title_id_create_time", "wallet_ledger")
    op.drop_index("ix_notifications_title_id_sender_id", "notifications")
    op.drop_index("ix_notifications_title_id_create_time", "notifications")
    op.drop_index("ix_channel_messages_title_id_create_time", "channel_messages")
    op.drop_table("retention_policies")
    op.drop_index("ix_erasures_expire_time", "erasures")
    op.drop_table("erasures")
    op.drop_table("consents")

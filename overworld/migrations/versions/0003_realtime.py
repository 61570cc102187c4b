"""realtime: chat messages and notifications

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_messages",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("channel_id", sa.String(128), nullable=False),
        sa.Column("code", sa.Integer, nullable=False),
        sa.Column("sender_id", sa.String(36), nullable=False),
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.Column("update_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("title_id", "id", name="pk_channel_messages"),
    )
    op.create_index(
        "ix_channel_messages_title_id_channel_id_create_time_id",
        "channel_messages",
        ["title_id", "channel_id", "create_time", "id"],
    )
    op.create_index("ix_channel_messages_title_id_sender_id", "channel_messages", ["title_id", "sender_id"])
    op.create_table(
        "notifications",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("code", sa.Integer, nullable=False),
        sa.Column("sender_id", sa.String(36), nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("title_id", "user_id", "id", name="pk_notifications"),
    )
    op.create_index(
        "ix_notifications_title_id_user_id_create_time_id",
        "notifications",
        ["title_id", "user_id", "create_time", "id"],
    )


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_table("channel_messages")

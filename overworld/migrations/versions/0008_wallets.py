"""wallets: the wallet column of users, the wallet ledger, idempotency records

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("wallet", sa.Text, nullable=False, server_default="{}"))
    op.create_table(
        "wallet_ledger",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("changeset", sa.Text, nullable=False),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.Column("update_time", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("title_id", "id", name="pk_wallet_ledger"),
    )
    op.create_index(
        "ix_wallet_ledger_title_id_user_id_seq", "wallet_ledger", ["title_id", "user_id", "seq"], unique=True
    )
    op.create_table(
        "wallet_requests",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("scope", sa.String(36), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("title_id", "scope", "key", name="pk_wallet_requests"),
    )


def downgrade() -> None:
    op.drop_table("wallet_requests")
    op.drop_table("wallet_ledger")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("wallet")

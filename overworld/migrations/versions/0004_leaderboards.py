"""leaderboards: leaderboards, records and tournaments

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leaderboards",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("tournament", sa.Boolean, nullable=False),
        sa.Column("authoritative", sa.Boolean, nullable=False),
        sa.Column("sort_order", sa.SmallInteger, nullable=False),
        sa.Column("operator", sa.SmallInteger, nullable=False),
        sa.Column("reset_schedule", sa.String(64), nullable=False),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("category", sa.SmallInteger, nullable=False),
        sa.Column("start_time", sa.BigInteger, nullable=False),
        sa.Column("end_time", sa.BigInteger, nullable=False),
        sa.Column("duration", sa.Integer, nullable=False),
        sa.Column("max_size", sa.Integer, nullable=False),
        sa.Column("max_num_score", sa.Integer, nullable=False),
        sa.Column("join_required", sa.Boolean, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("title_id", "id", name="pk_leaderboards"),
    )
    op.create_table(
        "leaderboard_records",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("leaderboard_id", sa.String(128), nullable=False),
        sa.Column("expiry_time", sa.BigInteger, nullable=False),
        sa.Column("owner_id", sa.String(36), nullable=False),
        sa.Column("username", sa.String(128)),
        sa.Column("score", sa.BigInteger, nullable=False),
        sa.Column("subscore", sa.BigInteger, nullable=False),
        sa.Column("num_score", sa.Integer, nullable=False),
        sa.Column("max_num_score", sa.Integer, nullable=False),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.Column("update_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "title_id", "leaderboard_id", "expiry_time", "owner_id", name="pk_leaderboard_records"
        ),
    )
    op.create_index(
        "ix_leaderboard_records_rank_order",
        "leaderboard_records",
        ["title_id", "leaderboard_id", "expiry_time", "score", "subscore", "owner_id"],
    )
    op.create_index(
        "ix_leaderboard_records_title_id_owner_id", "leaderboard_records", ["title_id", "owner_id"]
    )
    op.create_table(
        "leaderboard_resets",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("leaderboard_id", sa.String(128), nullable=False),
        sa.Column("expiry_time", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("records", sa.Integer, nullable=False),
        sa.Column("node", sa.String(128), nullable=False),
        sa.Column("run_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "title_id", "leaderboard_id", "expiry_time", "kind", name="pk_leaderboard_resets"
        ),
    )


def downgrade() -> None:
    op.drop_table("leaderboard_resets")
    op.drop_table("leaderboard_records")
    op.drop_table("leaderboards")

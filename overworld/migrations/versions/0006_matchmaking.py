"""matchmaking: player ratings per queue

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "matchmaker_ratings",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("queue", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("mu", sa.Float, nullable=False),
        sa.Column("sigma", sa.Float, nullable=False),
        sa.Column("matches", sa.Integer, nullable=False),
        sa.Column("update_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("title_id", "queue", "user_id", name="pk_matchmaker_ratings"),
    )
    op.create_index("ix_matchmaker_ratings_title_id_user_id", "matchmaker_ratings", ["title_id", "user_id"])


def downgrade() -> None:
    op.drop_table("matchmaker_ratings")

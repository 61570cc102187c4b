"""social: friends and groups

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_edges",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("source_id", sa.String(36), nullable=False),
        sa.Column("destination_id", sa.String(36), nullable=False),
        sa.Column("state", sa.SmallInteger, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("update_time", sa.BigInteger, nullable=False),
        sa.Column("metadata", sa.Text, nullable=False, server_default="{}"),
        sa.PrimaryKeyConstraint("title_id", "source_id", "destination_id", name="pk_user_edges"),
    )
    op.create_index(
        "ix_user_edges_title_id_source_id_state_position",
        "user_edges",
        ["title_id", "source_id", "state", "position"],
    )
    op.create_index("ix_user_edges_title_id_destination_id", "user_edges", ["title_id", "destination_id"])
    op.create_table(
        "groups",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("creator_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.String(255)),
        sa.Column("avatar_url", sa.String(512)),
        sa.Column("lang_tag", sa.String(18), nullable=False, server_default="en"),
        sa.Column("metadata", sa.Text, nullable=False, server_default="{}"),
        sa.Column("state", sa.SmallInteger, nullable=False),
        sa.Column("edge_count", sa.Integer, nullable=False),
        sa.Column("max_count", sa.Integer, nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.Column("update_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("title_id", "id", name="pk_groups"),
    )
    op.create_index("ix_groups_title_id_name", "groups", ["title_id", "name"], unique=True)
    op.create_index("ix_groups_title_id_edge_count_id", "groups", ["title_id", "edge_count", "id"])
    op.create_index(
        "ix_groups_title_id_state_edge_count_id", "groups", ["title_id", "state", "edge_count", "id"]
    )
    op.create_index(
        "ix_groups_title_id_lang_tag_edge_count_id", "groups", ["title_id", "lang_tag", "edge_count", "id"]
    )
    op.create_table(
        "group_edges",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("group_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("state", sa.SmallInteger, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("update_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("title_id", "group_id", "user_id", name="pk_group_edges"),
    )
    op.create_index(
        "ix_group_edges_title_id_group_id_state_position",
        "group_edges",
        ["title_id", "group_id", "state", "position"],
    )
    op.create_index(
        "ix_group_edges_title_id_user_id_state_position",
        "group_edges",
        ["title_id", "user_id", "state", "position"],
    )


def downgrade() -> None:
    op.drop_table("group_edges")
    op.drop_table("groups")
    op.drop_table("user_edges")

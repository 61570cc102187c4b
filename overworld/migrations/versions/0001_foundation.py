"""foundation: titles, accounts, sessions, storage

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "titles",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("server_key", sa.String(128), nullable=False),
        sa.Column("http_key", sa.String(128), nullable=False),
        sa.Column("token_secret", sa.String(128), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_titles"),
        sa.UniqueConstraint("name", name="uq_titles_name"),
        sa.UniqueConstraint("server_key", name="uq_titles_server_key"),
        sa.UniqueConstraint("http_key", name="uq_titles_http_key"),
    )
    op.create_table(
        "users",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("display_name", sa.String(255)),
        sa.Column("avatar_url", sa.String(512)),
        sa.Column("lang_tag", sa.String(18), nullable=False, server_default="en"),
        sa.Column("location", sa.String(255)),
        sa.Column("timezone", sa.String(255)),
        sa.Column("metadata", sa.Text, nullable=False, server_default="{}"),
        sa.Column("email", sa.String(255)),
        sa.Column("password", sa.LargeBinary),
        sa.Column("custom_id", sa.String(128)),
        sa.Column("edge_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.Column("update_time", sa.BigInteger, nullable=False),
        sa.Column("verify_time", sa.BigInteger),
        sa.Column("disable_time", sa.BigInteger),
        sa.PrimaryKeyConstraint("title_id", "id", name="pk_users"),
        sa.ForeignKeyConstraint(
            ["title_id"], ["titles.id"], name="fk_users_title_id_titles", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_users_title_id_username", "users", ["title_id", "username"], unique=True)
    op.create_index("ix_users_title_id_email", "users", ["title_id", "email"], unique=True)
    op.create_index("ix_users_title_id_custom_id", "users", ["title_id", "custom_id"], unique=True)
    op.create_table(
        "user_devices",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("vars", sa.Text),
        sa.PrimaryKeyConstraint("title_id", "id", name="pk_user_devices"),
    )
    op.create_index("ix_user_devices_title_id_user_id", "user_devices", ["title_id", "user_id"])
    op.create_table(
        "revoked_tokens",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("token_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.SmallInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("title_id", "token_id", name="pk_revoked_tokens"),
    )
    op.create_index("ix_revoked_tokens_expires_at", "revoked_tokens", ["expires_at"])
    op.create_table(
        "session_cutoffs",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("not_before", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("title_id", "user_id", name="pk_session_cutoffs"),
    )
    op.create_index("ix_session_cutoffs_expires_at", "session_cutoffs", ["expires_at"])
    op.create_table(
        "storage_objects",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("collection", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("read", sa.SmallInteger, nullable=False),
        sa.Column("write", sa.SmallInteger, nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.Column("update_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("title_id", "collection", "user_id", "key", name="pk_storage_objects"),
    )
    op.create_index(
        "ix_storage_objects_title_id_collection_read_key_user_id",
        "storage_objects",
        ["title_id", "collection", "read", "key", "user_id"],
    )
    op.create_index("ix_storage_objects_title_id_user_id", "storage_objects", ["title_id", "user_id"])


def downgrade() -> None:
    op.drop_table("storage_objects")
    op.drop_table("session_cutoffs")
    op.drop_table("revoked_tokens")
    op.drop_table("user_devices")
    op.drop_table("users")
    op.drop_table("titles")

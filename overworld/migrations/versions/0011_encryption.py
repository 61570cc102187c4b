"""encryption at rest and data residency: sealed personal fields, keys in use, rotation checkpoints,
a title's region

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

Existing rows keep their plaintext identifiers (the `*_sealed` columns are NULL) and keep working;
`overworld keys rotate` seals them once the title has a key. The unique indexes on `users.email`,
`users.custom_id` and the primary key of `user_devices` stay: for a title with a key those columns
hold blind indexes.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email_sealed", sa.Text, nullable=True))
        batch.add_column(sa.Column("custom_id_sealed", sa.Text, nullable=True))
    with op.batch_alter_table("user_devices") as batch:
        batch.add_column(sa.Column("id_sealed", sa.Text, nullable=True))
    with op.batch_alter_table("titles") as batch:
        batch.add_column(sa.Column("region", sa.String(32), nullable=True))
    op.create_table(
        "encryption_keys_used",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("title_id", "key_id", name="pk_encryption_keys_used"),
        sa.ForeignKeyConstraint(
            ["title_id"], ["titles.id"], name="fk_encryption_keys_used_title_id_titles", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "key_rotations",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("table_name", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("after_id", sa.String(128), nullable=False),
        sa.Column("rows_done", sa.BigInteger, nullable=False),
        sa.Column("update_time", sa.BigInteger, nullable=False),
        sa.Column("finish_time", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("title_id", "table_name", name="pk_key_rotations"),
        sa.ForeignKeyConstraint(
            ["title_id"], ["titles.id"], name="fk_key_rotations_title_id_titles", ondelete="CASCADE"
        ),
    )


def downgrade() -> None:
    op.drop_table("key_rotations")
    op.drop_table("encryption_keys_used")
    with op.batch_alter_table("titles") as batch:
        batch.drop_column("region")
    with op.batch_alter_table("user_devices") as batch:
        batch.drop_column("id_sealed")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("custom_id_sealed")
        batch.drop_column("email_sealed")

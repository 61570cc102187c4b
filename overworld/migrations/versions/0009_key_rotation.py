"""key rotation: a title's previous keys and until when they still work; the configured default keys

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("titles") as batch:
        batch.add_column(sa.Column("previous_server_key", sa.String(128), nullable=True))
        batch.add_column(sa.Column("previous_http_key", sa.String(128), nullable=True))
        batch.add_column(sa.Column("previous_keys_expire_time", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("config_keys_digest", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("titles") as batch:
        batch.drop_column("config_keys_digest")
        batch.drop_column("previous_keys_expire_time")
        batch.drop_column("previous_http_key")
        batch.drop_column("previous_server_key")

"""store and inventory: the catalog, purchase records, real-money grants, players' items

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "store_catalog",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("update_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("title_id", "kind", "id", name="pk_store_catalog"),
    )
    op.create_table(
        "store_purchases",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("source", sa.String(140), nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("title_id", "id", name="pk_store_purchases"),
    )
    op.create_index(
        "ix_store_purchases_title_id_user_id_key",
        "store_purchases",
        ["title_id", "user_id", "key"],
        unique=True,
    )
    op.create_index(
        "ix_store_purchases_title_id_user_id_source_create_time",
        "store_purchases",
        ["title_id", "user_id", "source", "create_time"],
    )
    op.create_table(
        "store_product_grants",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("store", sa.String(32), nullable=False),
        sa.Column("transaction_id", sa.String(256), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("product_id", sa.String(256), nullable=False),
        sa.Column("contents", sa.Text, nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.Column("revoke_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("title_id", "store", "transaction_id", name="pk_store_product_grants"),
    )
    op.create_index(
        "ix_store_product_grants_title_id_user_id", "store_product_grants", ["title_id", "user_id"]
    )
    op.create_table(
        "inventory_items",
        sa.Column("title_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("item_id", sa.String(128), nullable=False),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("properties", sa.Text, nullable=False),
        sa.Column("expire_time", sa.BigInteger, nullable=False),
        sa.Column("create_time", sa.BigInteger, nullable=False),
        sa.Column("update_time", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("title_id", "user_id", "item_id", name="pk_inventory_items"),
    )
    op.create_index("ix_inventory_items_expire_time", "inventory_items", ["expire_time"])


def downgrade() -> None:
    op.drop_table("inventory_items")
    op.drop_table("store_product_grants")
    op.drop_table("store_purchases")
    op.drop_table("store_catalog")

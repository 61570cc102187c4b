"""performance: indexes and tables for hot paths

PostgreSQL: triggers that NOTIFY `overworld_accounts` ("<title id> <user id>") at the commit of
any UPDATE or DELETE of a user row or of a device row, so every node's account cache drops the
entry, whoever wrote it (overworld/accounts/cache.py). SQLite uses TEMP triggers made by the
server itself (overworld/db/sqlite.py), so nothing here.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


_FUNCTIONS = {
    "ow_user_changed": "PERFORM pg_notify('overworld_accounts', OLD.title_id || ' ' || OLD.id);",
    "ow_device_changed": "PERFORM pg_notify('overworld_accounts', OLD.title_id || ' ' || OLD.user_id);",
}
_TRIGGERS = {
    "ow_users_changed": ("users", "ow_user_changed"),
    "ow_devices_changed": ("user_devices", "ow_device_changed"),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, body in _FUNCTIONS.items():
        op.execute(
            f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS"
            f" $$ BEGIN {body} RETURN NULL; END $$"
        )
    for trigger, (table, function) in _TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {trigger} AFTER UPDATE OR DELETE ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION {function}()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for trigger, (table, _) in _TRIGGERS.items():
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    for name in _FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {name}()")

"""Database access: one small async interface over SQLite (embedded) and PostgreSQL (cluster)."""

from overworld.db.database import Database, IntegrityError, Row, SqlDialect, Tx, open_database

__all__ = ["Database", "IntegrityError", "Row", "SqlDialect", "Tx", "open_database"]

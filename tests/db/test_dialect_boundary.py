"""What differs between the database backends is answered in overworld/db (`Database.sql`): no
module outside it reads `.dialect` to branch on the backend. (Alembic migrations, in
overworld/migrations, are written per backend and read SQLAlchemy's dialect: they are the other
place allowed to.)"""

from __future__ import annotations

import ast
from pathlib import Path

import overworld

PACKAGE = Path(overworld.__file__).parent


def dialect_reads(source: str) -> list[int]:
    """The lines where `source` reads an attribute named `dialect`."""
    tree = ast.parse(source)
    return sorted(
        node.lineno for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr == "dialect"
    )


def test_the_scan_finds_dialect_reads() -> None:
    source = "x = 1\nlock = ' FOR UPDATE' if db.dialect == 'postgresql' else ''\nkey = (self.db.dialect,)\n"
    assert dialect_reads(source) == [2, 3]
    assert dialect_reads("lock = db.sql.lock_rows\ndialect = 'sqlite'\n") == []


def test_only_the_db_package_reads_the_dialect() -> None:
    allowed = (PACKAGE / "db", PACKAGE / "migrations")
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if not any(folder in path.parents for folder in allowed)
        for line in dialect_reads(path.read_text())
    ]
    assert found == [], f"use Database.sql (overworld/db/database.py), not Database.dialect: {found}"

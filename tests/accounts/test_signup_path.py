"""The sign-up write path: all-or-nothing under concurrency, on both backends; time-ordered ids."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from overworld.accounts.service import new_user_id
from overworld.db import IntegrityError
from overworld.db.sqlite import SqliteDatabase
from overworld.node import Node
from tests.support import unique

pytestmark = pytest.mark.anyio


async def test_concurrent_sign_ups_with_one_device_make_one_account_and_no_orphans(node: Node):
    title = node.default_title
    device = unique("dev-")
    others = [unique("dev-") for _ in range(20)]
    results = await asyncio.gather(
        *(node.accounts.authenticate_device(title, device, True) for _ in range(10)),
        *(node.accounts.authenticate_device(title, d, True) for d in others),
    )
    same = {r.user_id for r in results[:10]}
    assert len(same) == 1 and sum(r.created for r in results[:10]) == 1
    assert all(r.created for r in results[10:])
    orphans = await node.db.fetchval(
        "SELECT count(*) FROM users u WHERE u.title_id = $1 AND NOT EXISTS (SELECT 1 FROM user_devices d"
        " WHERE d.title_id = u.title_id AND d.user_id = u.id)",
        title.id,
    )
    assert orphans == 0
    devices = await node.db.fetchval("SELECT count(*) FROM user_devices WHERE title_id = $1", title.id)
    assert devices == 21


async def test_write_steps_undo_the_earlier_steps_when_one_fails(tmp_path: Path):
    db = SqliteDatabase.connect(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        await db.execute("CREATE TABLE a (id TEXT PRIMARY KEY)")
        await db.execute("CREATE TABLE b (id TEXT PRIMARY KEY)")
        await db.execute("INSERT INTO b (id) VALUES ('taken')")
        undo_a = "DELETE FROM a WHERE id = $1"
        ok, clash = (
            db.write_steps([("INSERT INTO a (id) VALUES ($1)", (i,), undo_a, (i,)),
                            ("INSERT INTO b (id) VALUES ($1)", (j,), "", ())])
            for i, j in (("a1", "b1"), ("a2", "taken"))
        )  # fmt: skip
        # Both in the same turn of the loop, so in the same group commit.
        outcome = await asyncio.gather(ok, clash, return_exceptions=True)
        assert outcome[0] is None and isinstance(outcome[1], IntegrityError)
        assert [r[0] for r in await db.fetch("SELECT id FROM a")] == ["a1"]
        assert sorted(r[0] for r in await db.fetch("SELECT id FROM b")) == ["b1", "taken"]
    finally:
        await db.close()


def test_user_ids_are_uuid7_and_time_ordered():
    ids = [new_user_id() for _ in range(1000)]
    for value in ids[:10]:
        parsed = uuid.UUID(value)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122 and str(parsed) == value
    assert len(set(ids)) == 1000
    prefixes = [i[:13] for i in ids]  # the 48-bit millisecond time
    assert prefixes == sorted(prefixes)


def test_token_ids_are_random_uuid4():
    from overworld.sessions.tokens import _uuid4

    ids = [_uuid4() for _ in range(500)]
    assert len(set(ids)) == 500
    for value in ids:
        parsed = uuid.UUID(value)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == value

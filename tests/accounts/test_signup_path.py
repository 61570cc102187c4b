"""The sign-up write path: all-or-nothing under concurrency, on both backends; time-ordered ids."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from overworld.accounts.service import new_user_id
from overworld.db import IntegrityError
from overworld.db.sqlite import SqliteDatabase
from overworld.errors import NotFound
from overworld.node import Node
from tests.support import count_reads, unique

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


async def test_concurrent_device_and_custom_id_log_ins_share_one_lookup(node: Node, monkeypatch):
    """PostgreSQL answers the lookups of one turn with one query (accounts/lookups.py), each
    caller its own account; SQLite probes one at a time. The same on both: who gets what."""
    title = node.default_title
    other = await node.titles.create(unique("iso-"))
    devices = [unique("dev-") for _ in range(4)]
    customs = [unique("custom-") for _ in range(3)]
    mine = {d: (await node.accounts.authenticate_device(title, d, True)).user_id for d in devices}
    mine |= {c: (await node.accounts.authenticate_custom(title, c, True)).user_id for c in customs}
    elsewhere = (await node.accounts.authenticate_device(other, devices[0], True)).user_id
    reads = count_reads(node, monkeypatch, "FROM user_devices d", "custom_id")

    results = await asyncio.gather(
        *(node.accounts.authenticate_device(title, d, False) for d in devices),
        node.accounts.authenticate_device(other, devices[0], False),
        node.accounts.authenticate_device(other, devices[1], False),  # only in the default title
        *(node.accounts.authenticate_custom(title, c, False) for c in customs),
        node.accounts.authenticate_custom(title, unique("custom-"), False),
        return_exceptions=True,
    )

    assert [r.user_id for r in results[:4]] == [mine[d] for d in devices]  # type: ignore[union-attr]
    assert results[4].user_id == elsewhere  # type: ignore[union-attr]
    assert isinstance(results[5], NotFound), results[5]
    assert [r.user_id for r in results[6:9]] == [mine[c] for c in customs]  # type: ignore[union-attr]
    assert isinstance(results[9], NotFound), results[9]
    assert not any(r.created for r in results if not isinstance(r, BaseException))
    if node.db.sql.batch_writes:
        assert len(reads["FROM user_devices d"]) == 1, reads
        assert len(reads["custom_id"]) == 1, reads
    else:
        assert len(reads["FROM user_devices d"]) == 6, reads


async def test_an_error_of_the_shared_lookup_reaches_every_caller(node: Node, monkeypatch):
    title = node.default_title
    devices = [unique("dev-") for _ in range(5)]
    for device in devices:
        await node.accounts.authenticate_device(title, device, True)

    async def broken(sql: str, *args: object) -> object:
        raise ConnectionError("database gone")

    for name in ("fetch", "fetchrow", "fetchval"):
        monkeypatch.setattr(node.db, name, broken)
    results = await asyncio.gather(
        *(node.accounts.authenticate_device(title, d, False) for d in devices), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in results), results
    monkeypatch.undo()
    again = await node.accounts.authenticate_device(title, devices[0], False)  # the next batch works
    assert not again.created

"""The erasure tombstone check at sign-up, batched (overworld/privacy/tombstones.py), on SQLite
and PostgreSQL: concurrent checks share one query and each caller gets its own answer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from overworld.clock import now_ms
from overworld.errors import PermissionDenied
from overworld.privacy.service import DAY_MS, digest
from tests.support import count_reads, unique

pytestmark = pytest.mark.anyio


async def test_concurrent_sign_ups_refuse_only_the_erased_identifier_in_one_query(node, monkeypatch):
    title = node.default_title
    erased = unique("dev-")
    me = await node.accounts.authenticate_device(title, erased, True)
    await node.privacy.erase(title, me.user_id)
    others = [unique("dev-") for _ in range(8)]
    reads = count_reads(node, monkeypatch, "erasures", "FROM user_devices d")

    results = await asyncio.gather(
        *(node.accounts.authenticate_device(title, d, True) for d in others[:4]),
        node.accounts.authenticate_device(title, erased, True),
        *(node.accounts.authenticate_device(title, d, True) for d in others[4:]),
        return_exceptions=True,
    )

    assert isinstance(results[4], PermissionDenied), results[4]
    created = results[:4] + results[5:]
    assert all(not isinstance(r, BaseException) and r.created for r in created), created
    assert len({r.user_id for r in created}) == 8  # type: ignore[union-attr]
    # The nine sign-ups looked their devices up together, then checked the tombstones together
    # (SQLite: each lookup answers at once, so the nine reach the check in the same turn too).
    assert len(reads["erasures"]) == 1, reads
    if node.db.sql.batch_writes:
        assert len(reads["FROM user_devices d"]) == 1, reads
    found = await node.db.fetchval(
        "SELECT count(*) FROM user_devices WHERE title_id = $1 AND id = $2", title.id, erased
    )
    assert found == 0


async def test_concurrent_checks_issue_one_query_and_keep_the_expire_rule(node, monkeypatch):
    title = node.default_title
    other = await node.titles.create(unique("iso-"))
    forever, lasting, expired, crossed, clean = (unique("dev-") for _ in range(5))
    now = now_ms()
    tombstones = [
        (title.id, digest(title, "device", forever), 0),
        (title.id, digest(title, "device", lasting), now + DAY_MS),
        (title.id, digest(title, "device", expired), now - 1),
        # The digest of `crossed` in the default title, but kept under the other title.
        (other.id, digest(title, "device", crossed), 0),
    ]
    for title_id, value, expire in tombstones:
        await node.db.execute(
            "INSERT INTO erasures (title_id, digest, kind, erase_time, expire_time) VALUES ($1, $2, 'device', $3, $4)",
            title_id, value, now, expire,
        )  # fmt: skip
    sent = count_reads(node, monkeypatch, "erasures")["erasures"]

    checks = [
        (title, forever, None, None),
        (title, clean, None, None),
        (title, lasting, None, None),
        (title, expired, None, None),
        (title, crossed, None, None),
        (other, crossed, None, None),
        (title, clean, forever, None),  # a clean device with an erased custom id: the custom's digest differs
        (title, clean, None, lasting),  # likewise for an email
        (other, forever, unique("c-"), "x@example.com"),
        (title, None, None, None),  # nothing to check: no query of its own
    ]
    results = await asyncio.gather(
        *(node.privacy.check_signup(t, d, c, e) for t, d, c, e in checks), return_exceptions=True
    )

    refused = [isinstance(r, PermissionDenied) for r in results]
    assert refused == [True, False, True, False, False, False, False, False, False, False], results
    assert not any(isinstance(r, BaseException) and not isinstance(r, PermissionDenied) for r in results)
    assert len(sent) == 1, sent
    # An erased custom id and email are refused too, in one batch with the others.
    await node.db.execute(
        "INSERT INTO erasures (title_id, digest, kind, erase_time, expire_time) VALUES ($1, $2, 'custom', $3, 0),"
        " ($1, $4, 'email', $3, 0)",
        title.id, digest(title, "custom", clean), now, digest(title, "email", "gone@example.com"),
    )  # fmt: skip
    results = await asyncio.gather(
        node.privacy.check_signup(title, None, clean, None),
        node.privacy.check_signup(title, unique("dev-"), None, "gone@example.com"),
        node.privacy.check_signup(title, unique("dev-"), unique("c-"), "here@example.com"),
        return_exceptions=True,
    )
    assert [isinstance(r, PermissionDenied) for r in results] == [True, True, False], results
    assert len(sent) == 2, sent


async def test_an_error_of_the_shared_query_reaches_every_caller(node, monkeypatch):
    title = node.default_title

    async def broken(sql: str, *args: Any) -> Any:
        raise ConnectionError("database gone")

    for name in ("fetch", "fetchrow", "fetchval"):
        monkeypatch.setattr(node.db, name, broken)
    results = await asyncio.gather(
        *(node.privacy.check_signup(title, unique("dev-"), None, None) for _ in range(5)),
        return_exceptions=True,
    )
    assert all(isinstance(r, ConnectionError) for r in results), results
    monkeypatch.undo()
    await node.privacy.check_signup(title, unique("dev-"), None, None)  # the next batch is unaffected

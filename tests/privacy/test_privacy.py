"""Data protection (docs/data-protection.md) on SQLite and PostgreSQL: the export of everything a
title holds about a player (REST, server code, CLI), erasure with its report and tombstone,
consents, retention, and title isolation (erasing in one title touches nothing in another)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest

from overworld.errors import InvalidArgument, NotFound
from overworld.migrations.schema import metadata
from overworld.node import Node
from overworld.privacy import domains
from overworld.protocol.streams import Mode, Stream, notifications_stream
from overworld.runtime import ServerApi
from overworld.subsystems.presence.base import Presence, PresenceMeta
from overworld.titles.models import Title
from tests.support import basic, bearer, unique

pytestmark = pytest.mark.anyio
DOMAIN_FILES = {f"{d.name}.json" for d in domains.DOMAINS}


def test_every_table_naming_a_user_is_covered_by_export_and_erasure():
    """Fails when a table with a user column is added to the schema without its domain here
    (overworld/privacy/domains.py), so neither the export nor the erasure can miss it."""
    covered = {table: set(columns) for d in domains.DOMAINS for table, columns in d.tables.items()}
    naming = {
        t.name: {c.name for c in t.columns if c.name in domains.USER_COLUMNS}
        for t in metadata.tables.values()
        if any(c.name in domains.USER_COLUMNS for c in t.columns)
    }
    naming["users"] = {"id"}
    assert set(covered) == set(naming), set(covered) ^ set(naming)
    for table, columns in naming.items():
        assert columns <= covered[table], (table, columns - covered[table])
        assert covered[table] <= {c.name for c in metadata.tables[table].columns}, table


# -- a player with data in every domain ------------------------------------------------------------


async def sign_up(client, title: Title, device_id: str | None = None) -> dict[str, Any]:
    response = await client.post(
        "/v2/account/authenticate/device", json={"id": device_id or unique("device-")},
        headers=basic(title.server_key),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    session: dict[str, Any] = response.json()
    session["h"] = bearer(session["token"])
    session["id"] = (await client.get("/v2/account", headers=session["h"])).json()["user"]["id"]
    return session


async def populate(client, node: Node, title: Title, board: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A player with rows in every domain, and a friend of theirs."""
    nk = ServerApi(node.runtime, title, "tests")
    me, friend = await sign_up(client, title), await sign_up(client, title)
    uid = me["id"]
    await client.post("/v2/account/link/email", json={"email": f"{unique()}@example.com", "password": "secret-pw-1"},
                      headers=me["h"])  # fmt: skip
    await nk.storage_write([{"collection": "saves", "key": "slot1", "user_id": uid, "value": {"hp": 3}}])
    await nk.friends_add(uid, ids=[friend["id"]])
    await nk.friends_add(friend["id"], ids=[uid])
    group = await nk.group_create(uid, unique("guild-"), open=True)
    await nk.group_user_join(group.id, friend["id"])
    await node.chat.send_system(
        Stream(title.id, Mode.CHANNEL, "", "", "lobby"), '{"hello": 1}', sender_id=uid, username="me"
    )
    await nk.notification_send(uid, "Reward", {"coins": 5}, code=101)
    await nk.notification_send(friend["id"], "Gift", {"from": "me"}, code=102, sender_id=uid)
    await nk.leaderboard_create(board)
    await nk.leaderboard_record_write(board, uid, "me", 42)
    await nk.wallet_update(uid, {"coins": 100}, {"reason": "welcome"})
    await node.privacy.record_consent(title, uid, "privacy", "2026-11", "analytics", True)
    await node.db.execute(
        "INSERT INTO matchmaker_ratings (title_id, queue, user_id, mu, sigma, matches, update_time)"
        " VALUES ($1, 'ranked', $2, 25.0, 8.3, 1, 0)",
        title.id, uid,
    )  # fmt: skip
    return me, friend


async def rows_naming(node: Node, title_id: str, user_id: str) -> dict[str, int]:
    found = {}
    for d in domains.DOMAINS:
        for table, columns in d.tables.items():
            where = " OR ".join(f"{c} = $2" for c in columns)
            n = await node.db.fetchval(
                f"SELECT count(*) FROM {table} WHERE title_id = $1 AND ({where})", title_id, user_id
            )
            if n:
                found[table] = int(n)
    return found


# -- export -----------------------------------------------------------------------------------------


async def test_the_player_exports_everything_as_a_zip(client, node):
    title = node.default_title
    me, friend = await populate(client, node, title, unique("board-"))
    response = await client.get("/v2/overworld/account/export", headers=me["h"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    files = {name: json.loads(archive.read(name)) for name in archive.namelist()}
    assert set(files) == DOMAIN_FILES | {"manifest.json"}
    assert files["manifest.json"]["user_id"] == me["id"] and files["manifest.json"]["title"] == title.name
    account = files["account.json"]
    assert account["user_id"] == me["id"] and account["email"].endswith("@example.com")
    assert account["password_set"] is True and "password" not in account
    assert len(account["devices"]) == 1
    assert files["storage.json"]["objects"][0]["value"] == {"hp": 3}
    assert files["friends.json"]["friends"] == [
        {"user_id": friend["id"], "state": "friend", "update_time": files["friends.json"]["friends"][0]["update_time"],
         "metadata": {}}
    ]  # fmt: skip
    assert files["groups.json"]["memberships"][0]["state"] == "superadmin"
    assert len(files["groups.json"]["created"]) == 1
    assert files["chat.json"]["messages_sent"][0]["content"] == {"hello": 1}
    assert "Reward" in [n["subject"] for n in files["notifications.json"]["received"]]
    assert "Gift" in [n["subject"] for n in files["notifications.json"]["sent"]]
    assert {n["to_user_id"] for n in files["notifications.json"]["sent"]} == {friend["id"]}
    assert files["leaderboards.json"]["records"][0]["score"] == 42
    assert files["wallets.json"]["wallet"] == {"coins": 100}
    assert files["wallets.json"]["ledger"][0]["metadata"] == {"reason": "welcome"}
    assert files["matchmaking.json"]["ratings"][0]["queue"] == "ranked"
    assert files["consents.json"]["consents"][0]["purpose"] == "analytics"
    # Nothing of the friend's own account is in the player's export.
    assert friend["id"] not in json.dumps(files["account.json"])


async def test_server_code_exports_bytes_or_files(client, node):
    title = node.default_title
    me, _ = await populate(client, node, title, unique("board-"))
    nk = ServerApi(node.runtime, title, "tests")
    data = await nk.account_export(me["id"])
    assert isinstance(data, bytes) and zipfile.ZipFile(io.BytesIO(data)).namelist()[0] == "manifest.json"
    files = await nk.account_export(me["id"], as_zip=False)
    assert isinstance(files, dict) and set(files) == DOMAIN_FILES | {"manifest.json"}
    with pytest.raises(NotFound):
        await nk.account_export("00000000-0000-7000-8000-000000000000")
    with pytest.raises(InvalidArgument):
        await nk.account_export("not-a-uuid")


# -- erasure ----------------------------------------------------------------------------------------


async def test_erasure_removes_every_row_keeps_ledger_amounts_and_leaves_a_tombstone(client, node):
    title = node.default_title
    device = unique("device-")
    me = await sign_up(client, title, device)
    board = unique("board-")
    _, friend = await populate(client, node, title, board)  # a second player, untouched
    nk = ServerApi(node.runtime, title, "tests")
    # The player under erasure: data in every domain too.
    uid = me["id"]
    await nk.storage_write([{"collection": "saves", "key": "k", "user_id": uid, "value": {}}])
    await nk.friends_add(uid, ids=[friend["id"]])
    await nk.leaderboard_record_write(board, uid, "", 7)
    await nk.wallet_update(uid, {"coins": 30}, {"bought": "sword"})
    await nk.store_item_set("shield", {"name": "Shield", "kind": "durable"})
    await nk.store_bundle_set("shield-pack", {"contents": {"items": {"shield": 1}}, "price": {"coins": 10}})
    await nk.store_purchase(uid, bundle_id="shield-pack")  # an item, a purchase record, a ledger row
    await nk.notification_send(friend["id"], "Hi", {}, code=103, sender_id=uid)
    await node.privacy.record_consent(title, uid, "terms", "1", "", True)
    friend_rows = await rows_naming(node, title.id, friend["id"])

    report = await nk.account_erase(uid)
    assert report["removed"]["account"] == {"users": 1, "user_devices": 1}
    assert report["removed"]["storage"] == {"storage_objects": 1}
    assert report["removed"]["leaderboards"] == {"leaderboard_records": 1}
    assert report["removed"]["consents"] == {"consents": 1}
    assert report["removed"]["store"] == {
        "inventory_items": 1,
        "store_purchases": 0,
        "store_product_grants": 0,
    }
    # Sent to the friend: the friend request and "Hi". The purchase and its price's ledger row are
    # kept without the player's id.
    assert report["anonymised"] == {
        "wallet_ledger": 2, "store_purchases": 1, "store_product_grants": 0, "purchases": 0,
        "notifications_sent": 2, "groups_created": 0,
    }  # fmt: skip
    assert report["tombstones"] == 2  # the user id and the device

    left = await rows_naming(node, title.id, uid)
    assert left == {"session_cutoffs": 1}, left  # refuses the old tokens until they expire
    # The ledger keeps the amount, under nobody's id and without its metadata.
    kept = await node.db.fetch("SELECT user_id, changeset, metadata FROM wallet_ledger WHERE title_id = $1"
                               " AND changeset = '{\"coins\":30}'", title.id)  # fmt: skip
    assert len(kept) == 1 and kept[0]["user_id"] != uid and kept[0]["metadata"] == "{}"
    # The leaderboard's rank index no longer has the player.
    listing = await nk.leaderboard_records_list(board, limit=10)
    assert uid not in [r.owner_id for r in listing.records]
    # The other player lost only the edges and notification naming the erased one.
    after = await rows_naming(node, title.id, friend["id"])
    assert after["user_edges"] == friend_rows["user_edges"] - 2
    assert after.get("notifications") == friend_rows["notifications"]  # still delivered, sender blanked
    assert await node.db.fetchval(
        "SELECT sender_id FROM notifications WHERE title_id = $1 AND subject = 'Hi'", title.id
    ) == ""  # fmt: skip
    # The old token is refused; the same device cannot sign up again while the tombstone lasts.
    assert (await client.get("/v2/account", headers=me["h"])).status_code == 401
    again = await client.post(
        "/v2/account/authenticate/device", json={"id": device}, headers=basic(title.server_key)
    )
    assert again.status_code == 403, again.text
    assert again.json()["message"].startswith("This account was erased")
    with pytest.raises(NotFound):
        await nk.account_erase(uid)
    # No identifier is stored in the clear.
    stored = [
        r["digest"] for r in await node.db.fetch("SELECT digest FROM erasures WHERE title_id = $1", title.id)
    ]
    assert uid not in stored and device not in stored and len(stored) >= 2


async def test_tombstones_expire_and_the_device_signs_up_anew(client, node):
    title = node.default_title
    device = unique("device-")
    me = await sign_up(client, title, device)
    await node.privacy.erase(title, me["id"])
    await node.db.execute("UPDATE erasures SET expire_time = 1 WHERE title_id = $1", title.id)
    await node.privacy.purge(10**13)  # drops expired tombstones
    again = await client.post(
        "/v2/account/authenticate/device", json={"id": device}, headers=basic(title.server_key)
    )
    assert again.status_code == 200, again.text
    assert again.json()["created"] is True


async def test_the_report_counts_the_sockets_the_deletion_closed_first(client, node, monkeypatch):
    """On a cluster node the deletion's revocation of every session can close the player's sockets
    (and untrack them) before the erasure counts them: the count is taken before the deletion."""
    title = node.default_title
    me = await sign_up(client, title)
    stream = notifications_stream(title.id, me["id"])
    node.hub.tracker.track(
        Presence(stream, "socket-1", me["id"], node.hub.node, PresenceMeta("p", hidden=True))
    )
    accounts = node.privacy._accounts
    delete = accounts.delete_account

    async def closing_first(title: Title, user_id: str, first: Any) -> None:
        await delete(title, user_id, first)
        node.hub.tracker.untrack_session("socket-1")  # the revocation's listener got there first

    monkeypatch.setattr(accounts, "delete_account", closing_first)
    report = await node.privacy.erase(title, me["id"])
    assert report["sockets_closed"] == 1
    assert node.hub.tracker.count(stream) == 0


async def test_erasing_in_one_title_touches_nothing_in_another(client, node):
    other = await node.titles.create(unique("iso-"))
    board = unique("board-")
    a_me, _ = await populate(client, node, node.default_title, board)
    b_me, b_friend = await populate(client, node, other, board)
    before = {u: await rows_naming(node, other.id, u) for u in (b_me["id"], b_friend["id"])}
    b_total = {t: int(await node.db.fetchval(f"SELECT count(*) FROM {t} WHERE title_id = $1", other.id))
               for d in domains.DOMAINS for t in d.tables}  # fmt: skip
    report = await node.privacy.erase(node.default_title, a_me["id"])
    assert report["removed"]["account"]["users"] == 1
    assert {u: await rows_naming(node, other.id, u) for u in (b_me["id"], b_friend["id"])} == before
    assert {t: int(await node.db.fetchval(f"SELECT count(*) FROM {t} WHERE title_id = $1", other.id))
            for d in domains.DOMAINS for t in d.tables} == b_total  # fmt: skip
    # The user id of title A is unknown in title B.
    with pytest.raises(NotFound):
        await node.privacy.erase(other, a_me["id"])


# -- consent ----------------------------------------------------------------------------------------


async def test_consents_over_rest_are_kept_as_a_history(client, api, node):
    me = await sign_up(client, node.default_title)
    put = "/v2/overworld/account/consent"
    first = await client.put(put, json={"policy": "privacy", "version": "2026-11", "purpose": "analytics"},
                             headers=me["h"])  # fmt: skip
    assert first.status_code == 200, first.text
    assert first.json()["granted"] is True and first.json()["create_time"].endswith("Z")
    withdrawn = await client.put(
        put, json={"policy": "privacy", "version": "2026-11", "purpose": "analytics", "granted": False},
        headers=me["h"],
    )  # fmt: skip
    assert withdrawn.status_code == 200
    await client.put(put, json={"policy": "terms", "version": "3"}, headers=me["h"])
    listed = (await client.get(put, headers=me["h"])).json()["consents"]
    assert [(c["policy"], c["purpose"], c["granted"]) for c in listed] == [
        ("privacy", "analytics", True), ("privacy", "analytics", False), ("terms", "", True)
    ]  # fmt: skip
    current = (await client.get(put, params={"current": "true"}, headers=me["h"])).json()["consents"]
    assert [(c["policy"], c["granted"]) for c in current] == [("privacy", False), ("terms", True)]
    for body, field in (
        ({"policy": "", "version": "1"}, "policy"),
        ({"policy": "p", "version": "x" * 65}, "version"),
        ({"policy": "p", "version": "1", "purpose": "a\nb"}, "purpose"),
    ):
        bad = await client.put(put, json=body, headers=me["h"])
        assert bad.status_code == 400 and field in bad.json()["message"], bad.text
    assert (await client.get(put)).status_code == 401
    nk = ServerApi(node.runtime, node.default_title, "tests")
    await nk.consent_record(me["id"], "marketing", "1", "email", False)
    assert (await nk.consent_list(me["id"], current=True))[-1]["granted"] is False


# -- retention --------------------------------------------------------------------------------------


async def test_retention_purges_old_rows_by_the_titles_policy(client, node):
    title = node.default_title
    await populate(client, node, title, unique("board-"))
    nk = ServerApi(node.runtime, title, "tests")
    notes = await node.db.fetchval("SELECT count(*) FROM notifications WHERE title_id = $1", title.id)
    chats = await node.db.fetchval("SELECT count(*) FROM channel_messages WHERE title_id = $1", title.id)
    assert await nk.retention_policy_get() == {
        "chat_days": 0,
        "notification_days": 0,
        "ledger_metadata_days": 0,
    }
    assert await nk.retention_policy_set(chat_days=1, notification_days=2, ledger_metadata_days=3) == {
        "chat_days": 1, "notification_days": 2, "ledger_metadata_days": 3
    }  # fmt: skip
    with pytest.raises(InvalidArgument, match="chat_days"):
        await nk.retention_policy_set(chat_days=-1)
    day = 86_400_000
    now = 10 * day + 1_700_000_000_000
    # Age the rows: chat 1.5 days old, notifications 1.5 days, ledger 4 days.
    await node.db.execute(
        "UPDATE channel_messages SET create_time = $2 WHERE title_id = $1", title.id, now - day * 3 // 2
    )
    await node.db.execute(
        "UPDATE notifications SET create_time = $2 WHERE title_id = $1", title.id, now - day * 3 // 2
    )
    await node.db.execute(
        "UPDATE wallet_ledger SET create_time = $2 WHERE title_id = $1", title.id, now - 4 * day
    )
    done = await node.privacy.purge(now)
    assert done[title.name] == {"chat_messages": chats, "notifications": 0, "ledger_metadata": 1}
    assert chats >= 1
    assert await node.db.fetchval("SELECT count(*) FROM channel_messages WHERE title_id = $1", title.id) == 0
    assert await node.db.fetchval("SELECT count(*) FROM notifications WHERE title_id = $1", title.id) == notes
    ledger = await node.db.fetch(
        "SELECT changeset, metadata FROM wallet_ledger WHERE title_id = $1", title.id
    )
    assert [(r["changeset"], r["metadata"]) for r in ledger] == [('{"coins":100}', "{}")]
    done = await node.privacy.purge(now + day)
    assert done[title.name]["notifications"] == notes > 0


async def test_the_purge_forgets_store_notifications_after_30_days(node):
    """A store's notification id is kept to act once on a redelivery; the stores stop redelivering
    within days, so the purge drops the ids older than 30 days (every title's)."""
    from overworld.privacy.service import STORE_NOTIFICATION_DAYS

    day = 86_400_000
    now = 100 * day + 1_700_000_000_000
    title = node.default_title
    store = unique("s")[:16]
    for notification, age in (("old", STORE_NOTIFICATION_DAYS * day + 1), ("recent", day)):
        await node.db.execute(
            "INSERT INTO purchase_notifications (title_id, store, notification_id, create_time)"
            " VALUES ($1, $2, $3, $4)",
            title.id, store, notification, now - age,
        )  # fmt: skip
    await node.privacy.purge(now)
    kept = await node.db.fetch(
        "SELECT notification_id FROM purchase_notifications WHERE title_id = $1 AND store = $2",
        title.id,
        store,
    )
    assert [r["notification_id"] for r in kept] == ["recent"]


async def test_the_scheduler_runs_the_retention_purge(settings):
    """Every node adds the job under one name (the cluster scheduler runs each fire time on one
    node); here every second, with a title policy of one day and messages two days old."""
    import asyncio

    import msgspec

    running = await Node.start(msgspec.structs.replace(settings, retention_schedule="* * * * * *",
                                                       retention_notification_days=1))  # fmt: skip
    try:
        assert "overworld:retention" in running.scheduler.names()
        title = running.default_title
        nk = ServerApi(running.runtime, title, "tests")
        user = (await running.accounts.authenticate_device(title, unique("device-"), True)).user_id
        await nk.notification_send(user, "old", {}, code=101)
        await nk.notification_send(user, "new", {}, code=101)
        await running.db.execute(
            "UPDATE notifications SET create_time = create_time - $2 WHERE title_id = $1 AND subject = 'old'",
            title.id, 2 * 86_400_000,
        )  # fmt: skip
        subjects: list[str] = []
        for _ in range(300):  # the job fires every second; a loaded machine may take a while
            rows = await running.db.fetch("SELECT subject FROM notifications WHERE title_id = $1", title.id)
            subjects = sorted(r["subject"] for r in rows)
            if subjects == ["new"]:
                break
            await asyncio.sleep(0.1)
        assert subjects == ["new"]
    finally:
        await running.close()


async def test_a_bad_retention_schedule_is_a_configuration_error(settings):
    import msgspec

    from overworld.config import ConfigError

    with pytest.raises(ConfigError, match="retention_schedule"):
        await Node.start(msgspec.structs.replace(settings, retention_schedule="every day"))


def test_the_data_map_names_every_table():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "data-protection.md").read_text()
    for d in domains.DOMAINS:
        for table in d.tables:
            assert f"`{table}." in text, table

"""Encryption at rest of personal fields (docs/data-protection.md#encryption-at-rest): what the
database holds, lookups, wrong keys, tampering, rotation, title isolation. On SQLite and
PostgreSQL, against a real node."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from overworld.accounts.rotation import Progress, Rotation
from overworld.api.http.app import create_app
from overworld.config import ConfigError, Settings, load_settings
from overworld.db import migrate
from overworld.node import Node
from overworld.titles.crypto import TitleKeys, _Hmac, parse_keyring
from overworld.titles.keys_used import used_keys
from tests.conftest import BACKENDS
from tests.support import PG_URL, basic, bearer, create_pg_database, drop_pg_database, run, unique

pytestmark = pytest.mark.anyio

K1 = "k1:" + base64.b64encode(os.urandom(32)).decode()
K1_OTHER_BYTES = "k1:" + base64.b64encode(os.urandom(32)).decode()
K2 = "k2:" + base64.b64encode(os.urandom(32)).decode()


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[Settings]:
    """A database of the test's own: the keys a title's rows are sealed under are checked for
    every title at start, so these titles must not meet other tests' nodes."""
    url = f"sqlite:///{tmp_path / 'overworld.db'}"
    if request.param == "postgresql":
        if not PG_URL:
            pytest.skip("PostgreSQL tests need OVERWORLD_TEST_DATABASE_URL")
        url = run(create_pg_database(PG_URL))
        run(migrate.upgrade(url))
    else:
        shutil.copy(sqlite_template, tmp_path / "overworld.db")
    try:
        yield load_settings(
            environ={},
            overrides={
                "database_url": url, "data_dir": str(tmp_path), "auto_migrate": False,
                "default_title": unique("t"), "default_server_key": unique("key-"),
                "default_http_key": unique("http-"), "log_level": "warning", "metrics": False,
            },
        )  # fmt: skip
    finally:
        if request.param == "postgresql":
            run(drop_pg_database(PG_URL, url))


def with_keys(settings: Settings, ring: str | None, **more: Any) -> Settings:
    keys = {"*": ring} if ring else {}
    return msgspec.structs.replace(settings, encryption_keys=keys, **more)


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[Node, httpx.AsyncClient]]:
    node = await Node.start(settings)
    try:
        app = create_app(settings, node=node)
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
            yield node, client
    finally:
        await node.close()


async def sign_in(client: httpx.AsyncClient, key: str, kind: str, body: dict[str, Any], **params: Any) -> Any:
    response = await client.post(
        f"/v2/account/authenticate/{kind}", json=body, params=params, headers=basic(key)
    )
    assert response.status_code == 200, response.text
    return response.json()


async def raw_rows(node: Node, title_id: str) -> list[dict[str, Any]]:
    users = await node.db.fetch(
        "SELECT id, email, email_sealed, custom_id, custom_id_sealed FROM users WHERE title_id = $1", title_id
    )
    devices = await node.db.fetch(
        "SELECT user_id, id, id_sealed FROM user_devices WHERE title_id = $1", title_id
    )
    return [dict(r) for r in users] + [dict(r) for r in devices]


def everything(rows: list[dict[str, Any]]) -> str:
    return " ".join(str(v) for row in rows for v in row.values())


async def account(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/v2/account", headers=bearer(token))


async def test_personal_fields_are_sealed_and_lookups_work(settings: Settings, tmp_path: Path):
    settings = with_keys(settings, K1)
    device, custom, email = unique("device-"), unique("custom-"), f"{unique('mail')}@example.com"
    async with serving(settings) as (node, client):
        key = node.default_title.server_key
        title_id = node.default_title.id
        first = await sign_in(client, key, "device", {"id": device})
        second = await sign_in(client, key, "custom", {"id": custom})
        third = await sign_in(client, key, "email", {"email": email, "password": "password1"})
        linked = unique("linked-")
        response = await client.post(
            "/v2/account/link/custom", json={"id": linked}, headers=bearer(first["token"])
        )
        assert response.status_code == 200, response.text

        rows = await raw_rows(node, title_id)
        text = everything(rows)
        for plain in (device, custom, email, linked):
            assert plain not in text  # neither in the lookup columns nor in the sealed ones
        sealed = [r for r in rows if r.get("email_sealed") or r.get("custom_id_sealed") or r.get("id_sealed")]
        assert len(sealed) == 4  # three users (one with two identifiers) and one device
        assert all(
            v.startswith("v1:k1:")
            for r in sealed
            for k, v in r.items()
            if k.endswith("sealed") and v is not None
        )

        # Lookups by blind index: signing in again finds the same accounts.
        assert (await sign_in(client, key, "device", {"id": device}, create="false"))["token"]
        again = await sign_in(client, key, "custom", {"id": linked}, create="false")
        me = (await account(client, again["token"])).json()
        assert me["user"]["id"] == (await account(client, first["token"])).json()["user"]["id"]
        assert me["devices"] == [{"id": device}] and me["custom_id"] == linked
        assert (await account(client, third["token"])).json()["email"] == email
        assert (await account(client, second["token"])).json()["custom_id"] == custom
        # Uniqueness holds on the blind index: another account cannot take the identifiers.
        for path, body in (("custom", {"id": linked}), ("device", {"id": device})):
            response = await client.post(
                f"/v2/account/link/{path}", json=body, headers=bearer(second["token"])
            )
            assert response.status_code == 409, response.text
        response = await client.post(
            "/v2/account/authenticate/email",
            json={"email": email, "password": "wrong-password"},
            headers=basic(key),
        )
        assert response.status_code == 401
        # Unlinking finds the sealed identifier.
        response = await client.post(
            "/v2/account/unlink/custom", json={"id": linked}, headers=bearer(first["token"])
        )
        assert response.status_code == 200, response.text
        assert "custom_id" not in (await account(client, first["token"])).json()
        if settings.is_postgres:
            return
    # SQLite: the database file itself (and its write-ahead log) never held the plaintext.
    data = b"".join(
        p.read_bytes() for p in Path(settings.resolved_database_url[10:]).parent.glob("overworld.db*")
    )
    for plain in (device, custom, email, linked):
        assert plain.encode() not in data


async def test_tampered_or_moved_values_do_not_open(settings: Settings):
    settings = with_keys(settings, K1)
    async with serving(settings) as (node, client):
        key, title_id = node.default_title.server_key, node.default_title.id
        a = await sign_in(
            client, key, "email", {"email": f"{unique('a')}@example.com", "password": "password1"}
        )
        b = await sign_in(
            client, key, "email", {"email": f"{unique('b')}@example.com", "password": "password1"}
        )
        a_id = (await account(client, a["token"])).json()["user"]["id"]
        b_id = (await account(client, b["token"])).json()["user"]["id"]
        sealed_a = await node.db.fetchval(
            "SELECT email_sealed FROM users WHERE title_id = $1 AND id = $2", title_id, a_id
        )
        # A's sealed email copied into B's row: it names the right key, but B is not its row.
        await node.db.execute(
            "UPDATE users SET email_sealed = $3 WHERE title_id = $1 AND id = $2", title_id, b_id, sealed_a
        )
        node.accounts.cache.changed(title_id, b_id)
        response = await account(client, b["token"])
        assert response.status_code == 500 and response.json()["code"] == 13
        assert "could not be decrypted" in response.json()["message"]
        # One byte of A's ciphertext changed.
        prefix, body = sealed_a.rsplit(":", 1)
        raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        raw[-1] ^= 1
        tampered = prefix + ":" + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
        await node.db.execute(
            "UPDATE users SET email_sealed = $3 WHERE title_id = $1 AND id = $2", title_id, a_id, tampered
        )
        node.accounts.cache.changed(title_id, a_id)
        response = await account(client, a["token"])
        assert response.status_code == 500 and response.json()["code"] == 13


def test_sealed_values_are_bound_to_title_column_and_row():
    ring = parse_keyring(K1, "test")
    one, other = TitleKeys("title-1", ring), TitleKeys("title-2", ring)
    sealed = one.seal("users.email", "user-1", "ada@example.com")
    assert one.open("users.email", "user-1", sealed) == "ada@example.com"
    for keys, column, row in ((other, "users.email", "user-1"), (one, "users.custom_id", "user-1"),
                              (one, "users.email", "user-2")):  # fmt: skip
        with pytest.raises(Exception, match="integrity check"):
            keys.open(column, row, sealed)
    # The same value, the same key: different indexes in different titles and columns.
    assert one.index("users.email", "x@y.z") != other.index("users.email", "x@y.z")
    assert one.index("users.email", "x@y.z") != one.index("users.custom_id", "x@y.z")
    assert one.index("users.email", "x@y.z") == one.index("users.email", "x@y.z")
    assert " " in one.index("users.email", "x@y.z")  # never a valid identifier
    for size in (0, 1, 63, 64, 65, 200):  # the precomputed HMAC is HMAC-SHA256
        key, message = os.urandom(32), os.urandom(size)
        assert _Hmac(key).digest(message) == hmac.new(key, message, hashlib.sha256).digest()


async def test_titles_with_the_same_identifier_stay_apart(settings: Settings):
    settings = with_keys(settings, K1)
    device = unique("device-")
    async with serving(settings) as (node, client):
        other = await node.titles.create(unique("other"))
        mine = await sign_in(client, node.default_title.server_key, "device", {"id": device})
        theirs = await sign_in(client, other.server_key, "device", {"id": device})
        mine_id = (await account(client, mine["token"])).json()["user"]["id"]
        assert mine_id != (await account(client, theirs["token"])).json()["user"]["id"]
        ours = await node.db.fetchval(
            "SELECT id FROM user_devices WHERE title_id = $1", node.default_title.id
        )
        their = await node.db.fetchval("SELECT id FROM user_devices WHERE title_id = $1", other.id)
        assert ours != their  # per-title index keys: equal identifiers do not show across titles
        # Another title's sealed value does not open in this one.
        sealed = await node.db.fetchval("SELECT id_sealed FROM user_devices WHERE title_id = $1", other.id)
        await node.db.execute(
            "UPDATE user_devices SET id_sealed = $2 WHERE title_id = $1", node.default_title.id, sealed
        )
        node.accounts.cache.changed(node.default_title.id, mine_id)
        assert (await account(client, mine["token"])).status_code == 500


async def test_a_node_refuses_to_start_without_the_rows_key(settings: Settings):
    async with serving(with_keys(settings, K1)):
        pass
    for ring, says in (
        (None, "no key is configured"),
        (K2, "not in its keyring"),
        (K1_OTHER_BYTES, "is not the key of that id"),
    ):
        with pytest.raises(ConfigError, match=says) as caught:
            await Node.start(with_keys(settings, ring))
        assert "\n" not in str(caught.value)
    async with serving(with_keys(settings, f"{K2},{K1}")) as (node, _):  # the old key kept: starts
        assert set(await used_keys(node.db, node.default_title.id)) == {"k1", "k2"}


async def test_plaintext_rows_work_after_a_first_key_and_rotation_seals_them(settings: Settings):
    devices = [unique("device-") for _ in range(7)]
    email = f"{unique('p')}@example.com"
    async with serving(with_keys(settings, None)) as (node, client):  # no key: plaintext, as before
        key, title_id = node.default_title.server_key, node.default_title.id
        for device in devices:
            await sign_in(client, key, "device", {"id": device})
        await sign_in(client, key, "email", {"email": email, "password": "password1"})
        assert devices[0] in everything(await raw_rows(node, title_id))
    async with serving(with_keys(settings, K1)) as (node, client):
        # Plaintext rows are found and read; a new account is sealed.
        old = await sign_in(client, key, "device", {"id": devices[0]}, create="false")
        assert (await account(client, old["token"])).json()["devices"] == [{"id": devices[0]}]
        assert (await sign_in(client, key, "email", {"email": email, "password": "password1"}))["token"]
        # A plaintext identifier cannot be claimed twice by a row under the key.
        session = await sign_in(client, key, "device", {"id": unique("device-")})
        response = await client.post(
            "/v2/account/link/device", json={"id": devices[1]}, headers=bearer(session["token"])
        )
        assert response.status_code == 409
        keys = node.accounts._keys(node.default_title)
        assert keys is not None
        # Rotation, stopped after the first batch, then resumed from its checkpoint.
        rotation = Rotation(node.db, batch=3)
        stopped = await rotation.run(title_id, keys, Progress("t"), stop_after=lambda p: True)
        assert not stopped.finished and stopped.done == 3
        assert set(await used_keys(node.db, title_id)) == {"k1", ""}  # "": plaintext rows may remain
        resumed = await rotation.run(title_id, keys, Progress("t"))
        assert resumed.finished and resumed.left_behind == 0
        assert resumed.rewritten == len(devices) - 3 + 1  # the rows not done before: 4 devices, 1 email
        text = everything(await raw_rows(node, title_id))
        assert email not in text and not any(d in text for d in devices)
        for device in devices:
            await sign_in(client, key, "device", {"id": device}, create="false")
        # Run again: nothing left to do.
        again = await rotation.run(title_id, keys, Progress("t"))
        assert again.finished and again.rewritten == 0
        assert set(await used_keys(node.db, title_id)) == {"k1"}
    async with serving(with_keys(settings, K1)) as (node, client):
        keys = node.accounts._keys(node.default_title)
        assert keys is not None and not keys.plaintext  # sign-ins no longer try the plaintext
        assert await sign_in(client, key, "device", {"id": devices[3]}, create="false")


async def test_concurrent_sign_ins_find_every_stored_form(settings: Settings):
    """Sign-ins of one turn share one lookup on PostgreSQL (accounts/lookups.py): rows in
    plaintext, under the old key and under the new one are each found by their own caller."""
    plain, old, new = unique("device-"), unique("device-"), unique("device-")
    custom_plain, custom_old = unique("custom-"), unique("custom-")
    ids: dict[str, str] = {}
    async with serving(with_keys(settings, None)) as (node, _):
        title = node.default_title
        ids[plain] = (await node.accounts.authenticate_device(title, plain, True)).user_id
        ids[custom_plain] = (await node.accounts.authenticate_custom(title, custom_plain, True)).user_id
    async with serving(with_keys(settings, K1)) as (node, _):
        title = node.default_title
        ids[old] = (await node.accounts.authenticate_device(title, old, True)).user_id
        ids[custom_old] = (await node.accounts.authenticate_custom(title, custom_old, True)).user_id
    async with serving(with_keys(settings, f"{K2},{K1}")) as (node, _):
        title = node.default_title
        ids[new] = (await node.accounts.authenticate_device(title, new, True)).user_id
        keys = node.accounts._keys(title)
        assert keys is not None and keys.current == "k2" and keys.plaintext
        results = await asyncio.gather(
            *(node.accounts.authenticate_device(title, d, False) for d in (new, plain, old)),
            *(node.accounts.authenticate_custom(title, c, False) for c in (custom_old, custom_plain)),
        )
        assert [r.user_id for r in results] == [ids[k] for k in (new, plain, old, custom_old, custom_plain)]
        assert not any(r.created for r in results)
        # Signing up again with any of them logs in instead (no second account).
        again = await asyncio.gather(
            *(node.accounts.authenticate_device(title, d, True) for d in (plain, old))
        )
        assert [r.user_id for r in again] == [ids[plain], ids[old]] and not any(r.created for r in again)


async def test_rotation_to_a_new_key_while_serving(settings: Settings):
    async with serving(with_keys(settings, K1)) as (node, client):
        key, title_id = node.default_title.server_key, node.default_title.id
        sessions = [await sign_in(client, key, "device", {"id": unique("device-")}) for _ in range(12)]
    rotated = with_keys(settings, f"{K2},{K1}")
    async with serving(rotated) as (node, client):
        keys = node.accounts._keys(node.default_title)
        assert keys is not None and keys.current == "k2"
        linked: dict[str, str] = {}

        async def keep_serving() -> None:
            for i, session in enumerate(sessions):  # link and unlink while the pass runs
                custom = unique("custom-")
                response = await client.post(
                    "/v2/account/link/custom", json={"id": custom}, headers=bearer(session["token"])
                )
                assert response.status_code == 200, response.text
                linked[session["token"]] = custom
                if i % 3 == 0:
                    response = await client.post(
                        "/v2/account/unlink/custom", json={"id": custom}, headers=bearer(session["token"])
                    )
                    assert response.status_code == 200, response.text
                    linked.pop(session["token"])
                await asyncio.sleep(0)

        progress = Progress("t")
        await asyncio.gather(Rotation(node.db, batch=2).run(title_id, keys, progress), keep_serving())
        assert progress.finished
        left = await Rotation(node.db).run(title_id, keys, Progress("t"))  # already finished
        assert left.left_behind == 0
        assert set(await used_keys(node.db, title_id)) == {"k2"}
        for session in sessions:
            me = (await account(client, session["token"])).json()
            assert me.get("custom_id", "") == linked.get(session["token"], "")
            again = await sign_in(client, key, "device", {"id": me["devices"][0]["id"]}, create="false")
            assert again["token"]
        rows = await raw_rows(node, title_id)
        assert all(
            v.startswith("v1:k2:")
            for r in rows
            for k, v in r.items()
            if k.endswith("sealed") and v is not None
        )
    # The old key is no longer needed.
    async with serving(with_keys(settings, K2)) as (node, client):
        me = await account(client, sessions[0]["token"])
        assert me.status_code == 200


async def test_rotation_rereads_a_row_a_server_changed_meanwhile(settings: Settings):
    async with serving(with_keys(settings, K1)) as (node, client):
        key, title_id = node.default_title.server_key, node.default_title.id
        session = await sign_in(client, key, "custom", {"id": unique("custom-")})
        user_id = (await account(client, session["token"])).json()["user"]["id"]
    async with serving(with_keys(settings, f"{K2},{K1}")) as (node, client):
        keys = node.accounts._keys(node.default_title)
        assert keys is not None
        read = await node.db.fetchrow(
            "SELECT id, email, email_sealed, custom_id, custom_id_sealed FROM users WHERE title_id = $1",
            title_id,
        )
        # A server links a new custom id after the pass read the row and before it writes it.
        newer = unique("custom-")
        response = await client.post(
            "/v2/account/link/custom", json={"id": newer}, headers=bearer(session["token"])
        )
        assert response.status_code == 200, response.text
        progress = Progress("t")
        await Rotation(node.db)._user(title_id, keys, read, progress)
        assert progress.conflicts == 1  # its conditional write did not apply; it read the row again
        assert (await account(client, session["token"])).json()["custom_id"] == newer
        assert await sign_in(client, key, "custom", {"id": newer}, create="false")
        assert (await node.db.fetchval("SELECT id FROM users WHERE title_id = $1", title_id)) == user_id


async def test_login_lockout_counters_hold_no_email_or_address(settings: Settings):
    settings = with_keys(settings, K1, lockout_delay_sec=0)  # the counts, not the growing delays
    email = f"{unique('lock')}@example.com"
    async with serving(settings) as (node, client):
        key = node.default_title.server_key
        await sign_in(client, key, "email", {"email": email, "password": "password1"})
        statuses = []
        for _ in range(6):
            response = await client.post(
                "/v2/account/authenticate/email",
                json={"email": email, "password": "wrong-password"},
                headers=basic(key),
            )
            statuses.append(response.status_code)
        assert statuses == [401] * 5 + [429]  # the limits still apply, counted under blind names
        response = await client.post(
            "/v2/account/authenticate/device", params={"create": "false"}, json={"id": unique("device-")},
            headers=basic(key),
        )  # fmt: skip
        assert response.status_code == 404
        names = " ".join(node.counters._counts)  # type: ignore[attr-defined]
        assert "lock:pair:" in names and "lock:addr:" in names
        assert email not in names and "203.0.113.9" not in names


async def test_identifiers_for_export_and_erasure_are_plaintext(settings: Settings):
    device, custom = unique("device-"), unique("custom-")
    async with serving(with_keys(settings, None)) as (node, client):
        key = node.default_title.server_key
        old = await sign_in(client, key, "custom", {"id": custom})  # written in plaintext
    async with serving(with_keys(settings, K1)) as (node, client):
        fresh = await sign_in(client, key, "device", {"id": device})  # sealed
        for session, expected in ((old, ("", custom, [])), (fresh, ("", "", [device]))):
            user_id = (await account(client, session["token"])).json()["user"]["id"]
            found = await node.accounts.identifiers(node.db, node.default_title, user_id)
            assert found is not None and (found.email, found.custom_id, found.devices) == expected
        assert await node.accounts.identifiers(node.db, node.default_title, unique("nobody")) is None
        counter = node.accounts.lockout_counter(node.default_title, "someone@example.com")
        assert counter.startswith(f"lock:acct:{node.default_title.id}:k1:") and "someone" not in counter


async def test_export_and_erasure_of_an_encrypted_account_use_the_plaintext_identifiers(
    settings: Settings,
):
    """The export shows the identifiers as the player gave them, and the erasure's tombstones
    refuse them at sign-up, though the columns hold blind indexes."""
    device, email = unique("device-"), f"{unique('mail')}@example.com"
    async with serving(with_keys(settings, K1)) as (node, client):
        key = node.default_title.server_key
        session = await sign_in(client, key, "device", {"id": device})
        linked = await client.post(
            "/v2/account/link/email", json={"email": email, "password": "password-1234"},
            headers=bearer(session["token"]),
        )  # fmt: skip
        assert linked.status_code == 200, linked.text
        user_id = (await account(client, session["token"])).json()["user"]["id"]
        files = await node.privacy.export(node.default_title, user_id)
        exported = json.loads(files["account.json"])
        assert exported["email"] == email and [d["id"] for d in exported["devices"]] == [device]
        assert device not in everything(await raw_rows(node, node.default_title.id))
        report = await node.privacy.erase(node.default_title, user_id)
        assert report["tombstones"] == 3  # the user id, the device, the email
        for kind, body in (
            ("device", {"id": device}),
            ("email", {"email": email, "password": "password-1234"}),
        ):
            again = await client.post(f"/v2/account/authenticate/{kind}", json=body, headers=basic(key))
            assert again.status_code == 403, again.text

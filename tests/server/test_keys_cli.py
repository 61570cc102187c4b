"""`overworld keys generate|rotate` and `overworld title create --region|region`, as an operator
runs them against a server's SQLite database."""

from __future__ import annotations

import sqlite3

import httpx

from tests.server.test_operator import one_line, overworld
from tests.support import basic, free_port, running_server, unique


def test_first_key_then_rotate_then_the_server_needs_the_key(tmp_path):
    env = {"OVERWORLD_DATA_DIR": str(tmp_path / "data")}
    devices = [unique("device-") for _ in range(5)]
    with running_server(env, tmp_path) as server:  # no key yet: plaintext, as before
        for device in devices:
            response = httpx.post(
                f"{server.url}/v2/account/authenticate/device",
                json={"id": device},
                headers=basic("defaultkey"),
            )
            assert response.status_code == 200, response.text
    db = tmp_path / "data" / "overworld.db"
    with sqlite3.connect(db) as conn:
        assert {r[0] for r in conn.execute("SELECT id FROM user_devices")} == set(devices)

    generated = overworld("keys", "generate", "--id", "k1", env=env, cwd=tmp_path)
    assert generated.returncode == 0, generated.stderr
    entry = generated.stdout.strip()
    assert entry.startswith("k1:") and len(entry) == 3 + 44
    keyring = tmp_path / "default.keys"
    keyring.write_text(f"# the default title's keys, newest first\n{entry}\n")
    keyed = {**env, "OVERWORLD_ENCRYPTION_KEYS": f"*=file:{keyring}"}

    rotated = overworld("keys", "rotate", "--batch", "2", env=keyed, cwd=tmp_path)
    assert rotated.returncode == 0, rotated.stderr
    assert "default: 5 users examined, 5 rows re-encrypted" in rotated.stdout, rotated.stdout
    assert "older keys are no longer used" in rotated.stdout
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, id_sealed FROM user_devices").fetchall()
        assert not {r[0] for r in rows} & set(devices)
        assert all(r[1].startswith("v1:k1:") for r in rows)
        assert conn.execute("SELECT key_id FROM encryption_keys_used").fetchall() == [("k1",)]
    again = overworld("keys", "rotate", env=keyed, cwd=tmp_path)
    assert again.returncode == 0 and "0 rows re-encrypted" in again.stdout, again.stdout

    one_line(
        overworld("keys", "rotate", "--title", "nope", env=keyed, cwd=tmp_path), 1, "no title named 'nope'"
    )
    one_line(overworld("keys", "rotate", env=env, cwd=tmp_path), 1, "no title has a key configured")
    keyring.write_text("k1:tooshort\n")
    one_line(overworld("keys", "rotate", env=keyed, cwd=tmp_path), 2, "'k1' is", "must be 32")
    # A server without the key refuses to start, in one line naming the title and the key.
    keyring.write_text(f"{entry}\n")
    refused = overworld("serve", "--port", str(free_port()), env=env, cwd=tmp_path)
    one_line(refused, 2, "title 'default'", "'k1'", "encryption_keys")
    with running_server(keyed, tmp_path) as server:  # with it: the players sign in as before
        for device in devices:
            response = httpx.post(
                f"{server.url}/v2/account/authenticate/device?create=false",
                json={"id": device},
                headers=basic("defaultkey"),
            )
            assert response.status_code == 200, response.text


def test_title_region_commands(tmp_path):
    env = {"OVERWORLD_DATA_DIR": str(tmp_path / "data")}
    with running_server(env, tmp_path):
        pass
    created = overworld("title", "create", "eu-game", "--region", "eu", env=env, cwd=tmp_path)
    assert created.returncode == 0 and "region:     eu" in created.stdout, created.stderr
    listing = overworld("title", "list", env=env, cwd=tmp_path)
    assert "eu-game" in listing.stdout and "region eu" in listing.stdout
    moved = overworld("title", "region", "eu-game", "", env=env, cwd=tmp_path)
    assert moved.returncode == 0 and "no region" in moved.stdout, moved.stderr
    one_line(overworld("title", "region", "eu-game", "EU!", env=env, cwd=tmp_path), 1, "Region must be")
    one_line(overworld("title", "create", "x-game", "--region", "EU!", env=env, cwd=tmp_path), 1, "Region")

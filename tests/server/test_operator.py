"""What a new operator meets: one clear line instead of a traceback, commands that find the server's
database, a banner that lists only what is served, the docs' settings table, the licence."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.support import ROOT, basic, bearer, redis_prefix, running_server, unique


def overworld(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OVERWORLD_")}
    return subprocess.run(
        [sys.executable, "-m", "overworld", *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> str:
    """The command failed with `code` and said so in one line holding every fragment."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_migrate_to_an_unknown_revision_says_which_exist(tmp_path):
    env = {"OVERWORLD_DATA_DIR": str(tmp_path / "data")}
    one_line(overworld("migrate", "--revision", "9999", env=env, cwd=tmp_path), 1, "'9999'", "0001")


def test_migrate_to_an_older_revision_refuses_then_downgrades_when_told(tmp_path):
    env = {"OVERWORLD_DATA_DIR": str(tmp_path / "data")}
    assert overworld("migrate", env=env, cwd=tmp_path).returncode == 0
    line = one_line(overworld("migrate", "--revision", "0005", env=env, cwd=tmp_path), 1, "--downgrade")
    assert "0005" in line
    db = tmp_path / "data" / "overworld.db"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] != "0005"
    done = overworld("migrate", "--revision", "0005", "--downgrade", env=env, cwd=tmp_path)
    assert done.returncode == 0 and "at revision 0005" in done.stdout, done.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0005"
    # An old schema with auto_migrate off: one line saying what to do, not a traceback.
    stale = overworld("serve", env={**env, "OVERWORLD_AUTO_MIGRATE": "false"}, cwd=tmp_path)
    one_line(stale, 1, "0005", "auto_migrate", "overworld migrate")
    assert overworld("migrate", env=env, cwd=tmp_path).returncode == 0


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("postgresql+asyncpg://u@127.0.0.1/db", "write postgresql://"),
        ("mysql://u@127.0.0.1/db", "'mysql' is not supported"),
    ],
)
@pytest.mark.parametrize("command", [["serve"], ["migrate"], ["title", "list"]])
def test_a_database_url_of_another_kind_is_refused_in_one_line(tmp_path, url, fragment, command):
    result = overworld(*command, env={"OVERWORLD_DATABASE_URL": url}, cwd=tmp_path)
    one_line(result, 2, "database_url", "OVERWORLD_DATABASE_URL", fragment)


def test_an_unreachable_database_is_one_line(tmp_path):
    result = overworld(
        "title", "list", env={"OVERWORLD_DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/x"}, cwd=tmp_path
    )
    line = one_line(result, 1, "postgresql://u@127.0.0.1:1/x")
    assert "pw" not in line  # the password is not repeated


def test_a_bad_flag_value_names_the_flag(tmp_path):
    line = one_line(overworld("serve", "--port", "99999", env={}, cwd=tmp_path), 2, "flag --port")
    assert "OVERWORLD_PORT" not in line


def test_cluster_mode_on_sqlite_is_refused(tmp_path):
    result = overworld("serve", env={"OVERWORLD_REDIS_URL": "redis://127.0.0.1:6379/0"}, cwd=tmp_path)
    one_line(result, 2, "redis_url", "needs PostgreSQL")


def test_config_after_the_command_and_paths_relative_to_the_file(tmp_path):
    (tmp_path / "srv").mkdir()
    config = tmp_path / "srv" / "overworld.toml"
    config.write_text('[overworld]\ndata_dir = "state"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert overworld("migrate", "--config", str(config), env={}, cwd=tmp_path).returncode == 0
    assert (tmp_path / "srv" / "state" / "overworld.db").exists()
    created = overworld("title", "create", "space-game", "--config", str(config), env={}, cwd=elsewhere)
    assert created.returncode == 0, created.stderr
    assert str(tmp_path / "srv" / "state" / "overworld.db") in created.stdout
    before = overworld("--config", str(config), "title", "list", env={}, cwd=tmp_path)
    after = overworld("title", "list", "--config", str(config), env={}, cwd=elsewhere)
    assert "space-game" in before.stdout and before.stdout == after.stdout
    assert list(elsewhere.iterdir()) == []  # nothing created where the command ran


def test_title_commands_refuse_a_missing_database_instead_of_creating_one(tmp_path):
    for command in (["title", "list"], ["title", "create", "x-game"], ["title", "delete", "x-game"]):
        one_line(overworld(*command, env={}, cwd=tmp_path), 1, "no database at", str(tmp_path / "data"))
    assert not (tmp_path / "data").exists()


def test_a_reader_that_stops_reading_ends_the_command_quietly(tmp_path):
    """`overworld title list | head -1`: the pipe's reader goes away; the command stops with
    SIGPIPE's status and says nothing (it used to print Python's BrokenPipeError)."""
    env = {"OVERWORLD_DATA_DIR": str(tmp_path)}
    assert overworld("migrate", env=env, cwd=tmp_path).returncode == 0
    for i in range(20):
        assert overworld("title", "create", f"game-{i}", env=env, cwd=tmp_path).returncode == 0
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OVERWORLD_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "overworld", "title", "list"],
        env={**clean, **env}, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # gone before the command writes
    with process.stderr:
        error = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141 and error == ""


def test_banner_lists_only_what_is_served_and_refused_sockets_are_not_errors(tmp_path):
    env = {"OVERWORLD_DATA_DIR": str(tmp_path / "data"), "OVERWORLD_METRICS": "false"}
    with running_server(env, tmp_path) as server:
        for url in (f"ws://127.0.0.1:{server.port}/ws?token=bad", f"ws://127.0.0.1:{server.port}/ws"):
            with pytest.raises(Exception, match="401"):
                connect(url)
        assert httpx.get(server.url + "/metrics").status_code == 404
    output = server.output()
    assert "/docs" in output and "/metrics" not in output
    assert "server key setting default_server_key: still the built-in default" in output
    assert '"level": "error"' not in output, output


def test_license_matches_pyproject():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]["text"]
    assert declared == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:3] == ["Apache", "License", "Version"] and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_docs_settings_table_is_the_settings_class():
    spec = importlib.util.spec_from_file_location("config_docs", ROOT / "scripts" / "config_docs.py")
    assert spec is not None and spec.loader is not None
    config_docs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(config_docs)
    text = config_docs.DOC.read_text()
    assert config_docs.problems(text) == []
    assert "`node_name` (`OVERWORLD_NODE_NAME`)" in text
    # A setting the docs lack, or one they list that no longer exists, is found.
    missing = re.sub(r"^\| `node_name`.*\n", "", text, flags=re.MULTILINE)
    assert any("node_name" in p for p in config_docs.problems(missing))
    extra = text.replace("| `port` (", "| `no_such_setting` (`X`) | `1` | Gone. |\n| `port` (", 1)
    assert config_docs.problems(extra)


def test_readme_commands_work_as_written_after_the_quick_start(tmp_path):
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Commands", 1)[1].split("```", 2)[1]
    commands = [line.split("  ")[0].strip() for line in block.strip().splitlines()[1:] if line.strip()]
    assert commands and all(c.startswith("scripts/overworld ") for c in commands), commands
    for command in commands:
        words = [w for w in command.split()[1:] if w.isidentifier() and w.islower()]
        result = subprocess.run(
            [str(ROOT / "scripts" / "overworld"), *words, "--help"],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0 and "usage: overworld" in result.stdout, (command, result.stderr)


def test_title_delete_removes_the_titles_rows_in_every_table_and_nothing_else(tmp_path):
    from overworld.cli import title_tables
    from overworld.migrations.schema import metadata

    # Every table is covered: all but `titles` carry the title's id (docs/architecture.md).
    assert {t for t, _ in title_tables()} == set(metadata.tables)
    env = {"OVERWORLD_DATA_DIR": str(tmp_path / "data")}
    with running_server(env, tmp_path) as server:
        created = overworld(
            "title", "create", "doomed", "--server-key", "doomed-key-1", env=env, cwd=tmp_path
        )
        assert created.returncode == 0, created.stderr
        for key in ("doomed-key-1", "defaultkey"):
            _play(server.url, key)
    db = tmp_path / "data" / "overworld.db"
    with sqlite3.connect(db) as conn:
        doomed = conn.execute("SELECT id FROM titles WHERE name = 'doomed'").fetchone()[0]
        default = conn.execute("SELECT id FROM titles WHERE name = 'default'").fetchone()[0]
        before = _counts(conn, default)
        assert sum(_counts(conn, doomed).values()) >= 8
    refused = overworld("title", "delete", "doomed", env=env, cwd=tmp_path)
    one_line(refused, 1, "--yes")
    deleted = overworld("title", "delete", "doomed", "--yes", env=env, cwd=tmp_path)
    assert deleted.returncode == 0 and "deleted title doomed" in deleted.stdout, deleted.stderr
    with sqlite3.connect(db) as conn:
        assert sum(_counts(conn, doomed).values()) == 0
        assert conn.execute("SELECT count(*) FROM titles WHERE id = ?", (doomed,)).fetchone()[0] == 0
        assert _counts(conn, default) == before
    one_line(overworld("title", "delete", "doomed", "--yes", env=env, cwd=tmp_path), 1, "no title named")


def _counts(conn: sqlite3.Connection, title_id: str) -> dict[str, int]:
    from overworld.cli import title_tables

    return {
        table: conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = ?", (title_id,)).fetchone()[0]
        for table, column in title_tables()
        if table != "titles"
    }


def _play(url: str, key: str) -> None:
    """Rows in several domains: accounts, devices, storage, friends, groups, notifications, chat,
    revoked sessions."""
    with httpx.Client(base_url=url) as http:
        sessions = [
            http.post(
                "/v2/account/authenticate/device", json={"id": unique("device-")}, headers=basic(key)
            ).json()
            for _ in range(2)
        ]
        a, b = (bearer(s["token"]) for s in sessions)
        b_id = http.get("/v2/account", headers=b).json()["user"]["id"]
        write = {"objects": [{"collection": "saves", "key": "slot1", "value": '{"level": 3}'}]}
        assert http.put("/v2/storage", json=write, headers=a).status_code == 200
        assert http.post(f"/v2/friend?ids={b_id}", headers=a).status_code == 200
        assert (
            http.post("/v2/group", json={"name": unique("guild-"), "open": True}, headers=a).status_code
            == 200
        )
        with connect(f"{url.replace('http', 'ws')}/ws?token={sessions[0]['token']}") as ws:

            def request(cid: str, body: dict[str, object]) -> dict[str, object]:
                ws.send(json.dumps({"cid": cid, **body}))
                while True:  # pushes (presence events, the message itself) may come first
                    reply: dict[str, object] = json.loads(ws.recv(timeout=5))
                    if reply.get("cid") == cid:
                        return reply

            joined = request("1", {"channel_join": {"target": "lobby", "type": 1, "persistence": True}})
            channel_id = joined["channel"]["id"]  # type: ignore[index]
            sent = request("2", {"channel_message_send": {"channel_id": channel_id, "content": "{}"}})
            assert "channel_message_ack" in sent, sent
        assert http.post("/v2/session/logout", json={}, headers=b).status_code == 200


@pytest.mark.cluster
def test_title_delete_on_postgresql_also_deletes_its_redis_keys(tmp_path):
    from tests.support import PG_URL, REDIS_URL, create_pg_database, drop_pg_database, run

    if not (PG_URL and REDIS_URL):
        pytest.skip("needs OVERWORLD_TEST_DATABASE_URL and OVERWORLD_TEST_REDIS_URL")
    import asyncpg
    import redis

    database = run(create_pg_database(PG_URL))
    prefix = redis_prefix("owdel")
    env = {
        "OVERWORLD_DATABASE_URL": database,
        "OVERWORLD_REDIS_URL": REDIS_URL,
        "OVERWORLD_REDIS_PREFIX": prefix,
    }
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert overworld("migrate", env=env, cwd=tmp_path).returncode == 0
        for name in ("doomed", "kept"):
            assert overworld("title", "create", name, env=env, cwd=tmp_path).returncode == 0

        async def ids() -> dict[str, str]:
            conn = await asyncpg.connect(database)
            try:
                return {r["name"]: r["id"] for r in await conn.fetch("SELECT name, id FROM titles")}
            finally:
                await conn.close()

        titles = run(ids())
        for name in ("doomed", "kept"):
            client.set(f"{prefix}:rk:{{{titles[name]}:0:board}}", "1")
        deleted = overworld("title", "delete", "doomed", "--yes", env=env, cwd=tmp_path)
        assert deleted.returncode == 0, deleted.stderr
        assert "and its 1 Redis keys" in deleted.stdout
        assert set(run(ids())) == {"kept"}
        assert client.exists(f"{prefix}:rk:{{{titles['kept']}:0:board}}") == 1
        assert client.exists(f"{prefix}:rk:{{{titles['doomed']}:0:board}}") == 0
    finally:
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)
        client.close()
        run(drop_pg_database(PG_URL, database))


def test_banner_shows_no_redis_password(capsys):
    from types import SimpleNamespace

    from overworld.api.http.app import _announce
    from overworld.config import load_settings

    settings = load_settings(
        environ={},
        overrides={
            "database_url": "postgresql://ow@db/ow",
            "redis_url": "redis://:s3cret-pass@cache:6379/0",
            "metrics": False,
        },
    )
    title = SimpleNamespace(name="default", server_key="defaultkey")
    _announce(settings, SimpleNamespace(default_title=title))  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert "redis://@cache:6379/0" in out and "s3cret-pass" not in out and "/metrics" not in out

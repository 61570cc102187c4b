"""A title's keys: the well-known default keys refused beyond loopback, key settings changed after
the first start applied at the next, and `overworld title rotate-keys` with an overlap window in
which the old and the new keys both work, on every node of a cluster, and after which the old ones
are refused."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from overworld.titles.service import REFRESH_INTERVAL
from tests.deployments import deploy
from tests.support import ServerProcess, basic, free_port, running_server, unique


def overworld(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "overworld", *args], env={**os.environ, **env}, cwd=cwd,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def auth(url: str, key: str) -> int:
    response = httpx.post(
        url + "/v2/account/authenticate/device", json={"id": unique("device-")}, headers=basic(key)
    )
    return response.status_code


def admin_put(url: str, http_key: str) -> int:
    response = httpx.put(
        url + "/v2/overworld/admin/config/motd", params={"http_key": http_key}, json={"value": "hi"}
    )
    return response.status_code


def on_every_interface(env: dict[str, str], cwd: Path) -> ServerProcess:
    server = ServerProcess(env, cwd)
    server.env["OVERWORLD_HOST"] = "0.0.0.0"
    return server


def rotated_keys(stdout: str) -> tuple[str, str]:
    lines = dict(line.split(":", 1) for line in stdout.splitlines() if ":" in line)
    return lines["server key"].strip(), lines["http key"].strip()


def test_the_well_known_keys_are_refused_beyond_loopback_unless_allowed(tmp_path):
    env = {"OVERWORLD_DATA_DIR": str(tmp_path / "data")}
    refused = overworld("serve", "--host", "0.0.0.0", "--port", str(free_port()), env=env, cwd=tmp_path)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0, output
    assert "refusing to listen on 0.0.0.0 with the well-known keys" in output
    assert "allow_default_keys" in output and "Traceback" not in output
    # On this machine only (the default host): the quick start works with them.
    with running_server(env, tmp_path) as server:
        assert auth(server.url, "defaultkey") == 200
    # Allowed explicitly: served on every interface, with a warning.
    allowed = on_every_interface({**env, "OVERWORLD_ALLOW_DEFAULT_KEYS": "true"}, tmp_path).start()
    try:
        assert auth(allowed.url, "defaultkey") == 200
    finally:
        allowed.stop()
    assert "serving with well-known keys beyond loopback" in allowed.output()
    # The studio's own keys in the settings: applied at start; the well-known ones stop at once,
    # on the REST API and on the operator API alike.
    keys = {"OVERWORLD_DEFAULT_SERVER_KEY": "studio-server-1", "OVERWORLD_DEFAULT_HTTP_KEY": "studio-http-1"}
    own = on_every_interface({**env, **keys}, tmp_path).start()
    try:
        assert auth(own.url, "studio-server-1") == 200
        assert auth(own.url, "defaultkey") == 401
        assert admin_put(own.url, "defaulthttpkey") == 401
        assert admin_put(own.url, "studio-http-1") == 200
    finally:
        own.stop()
    assert "keys were changed to the configured ones" in own.output()


def test_key_settings_changed_after_the_first_start_apply_with_an_overlap(tmp_path):
    env = {"OVERWORLD_DATA_DIR": str(tmp_path / "data"), "OVERWORLD_KEY_ROTATION_OVERLAP_SEC": "3"}
    first = {"OVERWORLD_DEFAULT_SERVER_KEY": "first-server", "OVERWORLD_DEFAULT_HTTP_KEY": "first-http"}
    second = {"OVERWORLD_DEFAULT_SERVER_KEY": "second-server", "OVERWORLD_DEFAULT_HTTP_KEY": "second-http"}
    with running_server({**env, **first}, tmp_path) as server:
        assert auth(server.url, "first-server") == 200
    with running_server({**env, **second}, tmp_path) as server:
        changed = time.monotonic()
        assert auth(server.url, "second-server") == 200
        assert auth(server.url, "first-server") == 200  # the overlap: clients not yet updated
        assert admin_put(server.url, "second-http") == 200 and admin_put(server.url, "first-http") == 200
        time.sleep(max(0.0, changed + 3.2 - time.monotonic()))
        assert auth(server.url, "first-server") == 401  # expired
        assert admin_put(server.url, "first-http") == 401
        assert auth(server.url, "second-server") == 200
    assert "keys were changed to the configured ones" in server.output()
    # Keys rotated by the command are kept while the settings stay as they were.
    rotated = overworld("title", "rotate-keys", "default", "--overlap-sec", "0", env=env, cwd=tmp_path)
    assert rotated.returncode == 0, rotated.stderr
    new_server, _ = rotated_keys(rotated.stdout)
    with running_server({**env, **second}, tmp_path) as server:
        assert auth(server.url, new_server) == 200
        assert auth(server.url, "second-server") == 401
    assert "keys were changed" not in server.output()


def test_rotate_keys_of_an_unknown_title_or_with_bad_keys_fails_clearly(tmp_path):
    env = {"OVERWORLD_DATA_DIR": str(tmp_path / "data")}
    with running_server(env, tmp_path):
        pass
    missing = overworld("title", "rotate-keys", "nope", env=env, cwd=tmp_path)
    assert missing.returncode == 1 and "no title named 'nope'" in missing.stderr
    short = overworld("title", "rotate-keys", "default", "--server-key", "short", env=env, cwd=tmp_path)
    assert short.returncode == 1 and "8-128 characters" in short.stderr


@pytest.mark.cluster
def test_rotation_works_across_the_nodes_of_a_cluster(tmp_path):
    with deploy("cluster", tmp_path) as running:
        urls = [node.url for node in running.nodes]
        for url in urls:
            assert auth(url, running.server_key) == 200
        created = overworld("title", "create", "space-game", env=running.env, cwd=tmp_path)
        assert created.returncode == 0, created.stderr
        old_server, old_http = rotated_keys(created.stdout)
        for url in urls:
            assert auth(url, old_server) == 200 and admin_put(url, old_http) == 200
        rotated = overworld(
            "title", "rotate-keys", "space-game", "--overlap-sec", "4", env=running.env, cwd=tmp_path
        )
        assert rotated.returncode == 0, rotated.stderr
        started = time.monotonic()
        new_server, new_http = rotated_keys(rotated.stdout)
        assert "old keys:" in rotated.stdout
        # The first node hears of the new keys first (an unknown key makes a node read the titles
        # again); the second is asked with the old keys only, until after the overlap.
        first, second = urls
        assert auth(first, new_server) == 200 and admin_put(first, new_http) == 200
        for url in urls:
            assert auth(url, old_server) == 200 and admin_put(url, old_http) == 200
        assert time.monotonic() - started < 4, "the overlap ended before the checks ran"
        time.sleep(max(0.0, started + 4.3 - time.monotonic()))
        assert auth(first, old_server) == 401 and admin_put(first, old_http) == 401
        # A node that has not read the titles since the rotation does within REFRESH_INTERVAL.
        deadline = started + 4 + REFRESH_INTERVAL + 2
        while auth(second, old_server) != 401:
            assert time.monotonic() < deadline, "the second node kept the expired key"
            time.sleep(0.2)
        assert admin_put(second, old_http) == 401
        for url in urls:
            assert auth(url, new_server) == 200 and admin_put(url, new_http) == 200

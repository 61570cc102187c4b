"""Two server processes sharing PostgreSQL and Redis behave as one service."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from tests.support import (
    basic,
    bearer,
    running_server,
    unique,
)

pytestmark = pytest.mark.cluster


def test_logout_on_one_node_ends_the_session_on_the_other_at_once(cluster_env, tmp_path):
    with running_server(cluster_env, tmp_path) as a, running_server(cluster_env, tmp_path) as b:
        session = httpx.post(
            a.url + "/v2/account/authenticate/device",
            json={"id": unique("device-")},
            headers=basic("defaultkey"),
        ).json()
        headers = bearer(session["token"])
        assert httpx.get(b.url + "/v2/account", headers=headers).status_code == 200
        assert httpx.post(a.url + "/v2/session/logout", json={}, headers=headers).status_code == 200
        deadline = time.monotonic() + 2
        while httpx.get(b.url + "/v2/account", headers=headers).status_code != 401:
            assert time.monotonic() < deadline, "node B still accepts a token logged out on node A"
            time.sleep(0.02)
        # The refresh token is spent on every node too.
        refreshed = httpx.post(
            b.url + "/v2/account/session/refresh",
            json={"token": session["refresh_token"]},
            headers=basic("defaultkey"),
        )
        assert refreshed.status_code == 401


def test_login_lockout_is_shared_between_nodes(cluster_env, tmp_path):
    # The counts, not the growing delays (tests/security/test_rate_limits_e2e.py has those).
    env = {**cluster_env, "OVERWORLD_LOCKOUT_ACCOUNT_FAILURES": "3", "OVERWORLD_LOCKOUT_DELAY_SEC": "0"}
    with running_server(env, tmp_path) as a, running_server(env, tmp_path) as b:
        email = f"{unique('c')}@example.com"
        url = "/v2/account/authenticate/email"
        httpx.post(
            a.url + url, json={"email": email, "password": "right password"}, headers=basic("defaultkey")
        )
        for node in (a, b, a):
            bad = httpx.post(
                node.url + url,
                json={"email": email, "password": "wrong password"},
                headers=basic("defaultkey"),
            )
            assert bad.status_code == 401
        locked = httpx.post(
            b.url + url, json={"email": email, "password": "right password"}, headers=basic("defaultkey")
        )
        assert locked.status_code == 429


def test_titles_created_on_one_node_work_on_the_other(cluster_env, tmp_path):
    with running_server(cluster_env, tmp_path) as a, running_server(cluster_env, tmp_path) as b:
        del a
        out = subprocess.run(
            [sys.executable, "-m", "overworld", "title", "create", "second-game"],
            env={**os.environ, **cluster_env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        key = next(
            line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("server key")
        )
        deadline = time.monotonic() + 2
        while True:
            response = httpx.post(
                b.url + "/v2/account/authenticate/device", json={"id": unique("device-")}, headers=basic(key)
            )
            if response.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert response.status_code == 200

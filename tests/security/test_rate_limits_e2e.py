"""Rate limits end to end on `overworld serve`: one server on SQLite, and two nodes sharing
PostgreSQL and Redis behind the round-robin balancer, where every limit must hold for the
cluster as a whole (each new connection lands on the other node). Client addresses come from
X-Forwarded-For, believed from the configured proxy (the balancer, on 127.0.0.1)."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.deployments import DEPLOYMENT_PARAMS, Deployment, deploy
from tests.support import basic, bearer, unique

ENV = {
    "OVERWORLD_TRUSTED_PROXIES": "127.0.0.1",
    "OVERWORLD_RATE_LIMIT_CALLS": "GetAccount:user=4/60s;ping:user=3/60s",
    "OVERWORLD_SIGNUP_LIMIT_ADDRESS": "3/h",
    "OVERWORLD_SOCKET_CAP_PER_USER": "2",
}
KINDS = [p for p in DEPLOYMENT_PARAMS if p.values[0] != "postgresql"]  # the in-process tests cover it


def fresh(d: Deployment, method: str, path: str, **kwargs) -> httpx.Response:
    """One request on a connection of its own: behind the balancer, the next node."""
    with httpx.Client(base_url=d.url, timeout=30) as http:
        return http.request(method, path, **kwargs)


def sign_up(d: Deployment, address: str) -> httpx.Response:
    return fresh(
        d, "POST", "/v2/account/authenticate/device", json={"id": unique("device-")},
        headers={**basic(d.server_key), "X-Forwarded-For": address},
    )  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_limits_hold_for_the_whole_deployment(kind, tmp_path):
    with deploy(kind, tmp_path, ENV) as d:
        # Sign-ups per address (from X-Forwarded-For), counted on both nodes together.
        statuses = [sign_up(d, "198.51.100.20").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429], statuses
        refused = sign_up(d, "198.51.100.20")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 1000
        assert refused.json()["code"] == 8
        signed = sign_up(d, "198.51.100.21")  # another address
        assert signed.status_code == 200
        token = signed.json()["token"]

        # A user's limit on a call, whichever node serves it.
        statuses = [fresh(d, "GET", "/v2/account", headers=bearer(token)).status_code for _ in range(6)]
        assert statuses == [200] * 4 + [429] * 2, statuses
        limited = fresh(d, "GET", "/v2/account", headers=bearer(token))
        assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 15
        assert set(limited.json()) == {"error", "code", "message"}
        assert limited.headers["x-content-type-options"] == "nosniff"

        # Sockets: the message kind's budget and the cap are the user's on every node.
        ws = d.ws_url + f"?token={token}"
        with connect(ws) as one, connect(ws) as two:
            answers = []
            for i, sock in enumerate((one, two, one, two)):
                sock.send(orjson.dumps({"cid": f"p{i}", "ping": {}}).decode())
                answers.append(orjson.loads(sock.recv(timeout=10)))
            assert [("pong" in a) for a in answers] == [True, True, True, False], answers
            assert answers[3]["cid"] == "p3" and answers[3]["error"]["code"] == 8
            refused_socket = _third_socket_refused(ws)
            assert refused_socket.status_code == 429
            assert "Too many sockets for this user" in orjson.loads(refused_socket.body)["message"]
            one.send(orjson.dumps({"cid": "after", "status_update": {"status": "x"}}).decode())
            assert orjson.loads(one.recv(timeout=10))["cid"] == "after"  # still open


def _third_socket_refused(ws: str):
    """A third socket of the user, refused once the others' presences have reached its node."""
    deadline = time.monotonic() + 15
    while True:
        try:
            with connect(ws):
                pass
        except InvalidStatus as exc:
            return exc.response
        assert time.monotonic() < deadline, "a third socket was never refused"
        time.sleep(0.2)

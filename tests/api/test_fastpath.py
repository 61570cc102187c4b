"""The fast path and the Litestar routes answer every request the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from overworld.api.http.app import create_app
from tests.support import basic, bearer, unique

pytestmark = pytest.mark.anyio


@pytest.fixture
async def both(node, settings) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    fast = create_app(settings, node=node, fast_path=True)
    slow = create_app(settings, node=node, fast_path=False)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=fast), base_url="http://fast.local") as a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=slow), base_url="http://slow.local") as b,
    ):
        yield a, b


def _claims_uid(token: str) -> str:
    import jwt

    return str(jwt.decode(token, options={"verify_signature": False})["uid"])


async def test_same_answers_on_both_paths(both, server_key):
    fast, slow = both
    device = unique("device-")
    session = (
        await fast.post("/v2/account/authenticate/device", json={"id": device}, headers=basic(server_key))
    ).json()
    again = (
        await slow.post("/v2/account/authenticate/device", json={"id": device}, headers=basic(server_key))
    ).json()
    assert _claims_uid(session["token"]) == _claims_uid(again["token"]) and "created" not in again
    token = bearer(session["token"])
    await fast.put(
        "/v2/storage", json={"objects": [{"collection": "c", "key": "k", "value": '{"a": 1}'}]}, headers=token
    )
    uid = _claims_uid(session["token"])

    requests = [
        ("GET", "/v2/account", {}, None, token),
        ("GET", "/v2/account", {}, None, {}),
        ("GET", "/v2/account", {}, None, bearer("not.a.token")),
        ("POST", "/v2/storage", {}, {"object_ids": [{"collection": "c", "key": "k", "user_id": uid}]}, token),
        ("POST", "/v2/storage", {}, {"object_ids": "nope"}, token),
        ("PUT", "/v2/storage", {}, {"objects": [{"collection": "c", "key": "k", "value": "[]"}]}, token),
        (
            "PUT",
            "/v2/storage",
            {},
            {"objects": [{"collection": "c", "key": "k", "value": "{}", "version": "*"}]},
            token,
        ),
        ("POST", "/v2/account/authenticate/device", {}, {"id": "short"}, basic(server_key)),
        (
            "POST",
            "/v2/account/authenticate/device",
            {"create": "false"},
            {"id": unique("device-")},
            basic(server_key),
        ),
        ("POST", "/v2/account/authenticate/device", {}, {"id": 12}, basic(server_key)),
        ("POST", "/v2/account/authenticate/device", {}, {"id": unique("device-")}, basic("wrong-key")),
        (
            "POST",
            "/v2/account/authenticate/custom",
            {"create": "false"},
            {"id": unique("c-")},
            basic(server_key),
        ),
        ("POST", "/v2/account/authenticate/custom", {}, {"id": "abc"}, {}),
    ]
    for method, path, params, body, headers in requests:
        a = await fast.request(method, path, params=params, json=body, headers=headers)
        b = await slow.request(method, path, params=params, json=body, headers=headers)
        assert a.status_code == b.status_code, (method, path, body, a.text, b.text)
        assert a.headers["content-type"].startswith("application/json")
        if a.status_code >= 400:
            assert a.json()["code"] == b.json()["code"], (path, a.text, b.text)
            assert set(a.json()) == {"error", "code", "message"}
        else:
            assert a.json() == b.json(), (path, a.text, b.text)

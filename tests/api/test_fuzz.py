"""Generated requests (hypothesis) against every endpoint: never a 5xx, always Nakama's error
body, and never a change to another user's data."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overworld.api.http.app import create_app
from overworld.config import Settings
from overworld.node import Node
from overworld.storage.models import ObjectId
from tests.support import basic, bearer, unique

ENDPOINTS = [
    ("POST", "/v2/account/authenticate/device", "key"),
    ("POST", "/v2/account/authenticate/email", "key"),
    ("POST", "/v2/account/authenticate/custom", "key"),
    ("POST", "/v2/account/session/refresh", "key"),
    ("POST", "/v2/session/logout", "session"),
    ("GET", "/v2/account", "session"),
    ("PUT", "/v2/account", "session"),
    ("POST", "/v2/account/link/device", "session"),
    ("POST", "/v2/account/link/custom", "session"),
    ("POST", "/v2/account/unlink/device", "session"),
    ("POST", "/v2/account/unlink/custom", "session"),
    ("GET", "/v2/user", "session"),
    ("POST", "/v2/storage", "session"),
    ("PUT", "/v2/storage", "session"),
    ("PUT", "/v2/storage/delete", "session"),
    ("GET", "/v2/storage/{text}", "session"),
    ("GET", "/v2/storage/{text}/{victim}", "session"),
]
FIELDS = [
    "id", "email", "password", "vars", "token", "refresh_token", "username", "display_name", "avatar_url",
    "lang_tag", "location", "timezone", "objects", "object_ids", "collection", "key", "value", "version",
    "permission_read", "permission_write", "user_id",
]  # fmt: skip

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
json_leaf = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | text
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
storage_object = st.fixed_dictionaries(
    {},
    optional={
        "collection": text | json_leaf,
        "key": text | json_leaf,
        "value": text | st.just('{"a": 1}') | json_value,
        "version": text | st.just("*"),
        "permission_read": st.integers(-3, 5) | json_leaf,
        "permission_write": st.integers(-3, 5) | json_leaf,
        "user_id": text | st.just("{victim}"),
    },
)
body = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), json_value | text, max_size=6),
    st.fixed_dictionaries({"objects": st.lists(storage_object, max_size=3)}),
    st.fixed_dictionaries({"object_ids": st.lists(storage_object, max_size=3)}),
    json_value,
    st.binary(max_size=60),
)
params = st.dictionaries(
    st.sampled_from(["create", "username", "limit", "cursor", "user_id", "ids", "usernames"]),
    text,
    max_size=3,
)


class World:
    """A node, a client, a victim whose data must never change, and an attacker session."""

    def __init__(self, loop: asyncio.AbstractEventLoop, node: Node, client: httpx.AsyncClient) -> None:
        self.loop, self.node, self.client = loop, node, client
        self.key = node.default_title.server_key

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def setup(self) -> None:
        self.victim = await self._session()
        self.victim_id = (await self.client.get("/v2/account", headers=bearer(self.victim))).json()["user"][
            "id"
        ]
        await self.client.put(
            "/v2/storage",
            json={"objects": [
                {"collection": "vault", "key": "gold", "value": '{"coins": 100}', "permission_read": 2},
                {"collection": "vault", "key": "secret", "value": '{"pin": 1234}', "permission_read": 1},
            ]},
            headers=bearer(self.victim),
        )  # fmt: skip
        self.victim_snapshot = await self.snapshot()

    async def _session(self) -> str:
        response = await self.client.post(
            "/v2/account/authenticate/device", json={"id": unique("device-")}, headers=basic(self.key)
        )
        return str(response.json()["token"])

    async def snapshot(self) -> Any:
        account = (await self.client.get("/v2/account", headers=bearer(self.victim))).json()
        objects = await self.node.storage.read(
            self.node.default_title.id,
            None,
            [ObjectId("vault", key, self.victim_id) for key in ("gold", "secret")],
        )
        return account, [(o.key, o.value, o.version) for o in objects]


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    loop = asyncio.new_event_loop()
    node = loop.run_until_complete(Node.start(settings))
    app = create_app(settings, node=node)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fuzz.local")
    w = World(loop, node, client)
    loop.run_until_complete(w.setup())
    yield w
    loop.run_until_complete(client.aclose())
    loop.run_until_complete(node.close())
    loop.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    payload=body,
    query=params,
    auth=st.sampled_from(["right", "none", "garbage", "victim-key"]),
    path_text=text.filter(lambda s: s.strip(".") != ""),
)
def test_fuzzed_requests_never_fail_the_server_or_touch_other_users(
    world: World, endpoint, payload, query, auth, path_text
):
    method, path, kind = endpoint
    path = path.replace("{text}", quote(path_text, safe="")).replace("{victim}", world.victim_id)
    attacker = world.run(world._session())
    headers: dict[str, str] = {}
    if auth == "right":
        headers = basic(world.key) if kind == "key" else bearer(attacker)
    elif auth == "garbage":
        headers = {"Authorization": "Bearer " + "".join(reversed(attacker))}
    elif auth == "victim-key":
        headers = basic(world.key)
    if isinstance(payload, bytes):
        content = payload
    else:
        content = json.dumps(payload).replace("{victim}", world.victim_id).encode()
    if method == "GET":
        content = b""
    response = world.run(
        world.client.request(
            method,
            path,
            content=content,
            params=query,
            headers={**headers, "content-type": "application/json"},
        )
    )
    assert response.status_code < 500, (method, path, response.text)
    if response.status_code >= 400:
        error = response.json()
        assert set(error) == {"error", "code", "message"} and error["message"], response.text
    assert world.run(world.snapshot()) == world.victim_snapshot

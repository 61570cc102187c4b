"""Data residency (docs/data-protection.md#data-residency): a node serves only the titles of its
region, refuses the others' keys and tokens with FAILED_PRECONDITION naming the region that
serves them, and never loads their data."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import msgspec
import pytest

from overworld.api.http.app import create_app
from overworld.config import ConfigError, Settings, load_settings
from overworld.errors import InvalidArgument
from overworld.leaderboards.models import Leaderboard
from overworld.node import Node
from tests.support import basic, bearer, unique

pytestmark = pytest.mark.anyio


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


async def test_a_node_serves_only_its_regions_titles(settings: Settings):
    async with serving(settings) as (node, client):  # a node without a region
        eu = await node.titles.create(unique("eu"), region="eu")
        assert eu.region == "eu" and node.titles.get(eu.id) is None
        assert eu not in node.titles.all()
        # Its data is written by a node of its region; here: a board and an account (sessions
        # are signed with the title's secret, whichever node signs them).
        board = unique("board")
        await node.leaderboards.create(Leaderboard(title_id=eu.id, id=board))
        session = node.sessions.issue(eu, "0193a5a4-0000-7000-8000-000000000001", "someone", {})

        response = await client.post(
            "/v2/account/authenticate/device", json={"id": unique("device-")}, headers=basic(eu.server_key)
        )
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["code"] == 9
        assert "region 'eu'" in body["message"] and "no region" in body["message"]
        response = await client.get("/v2/account", headers=bearer(session.token))
        assert response.status_code == 400 and response.json()["code"] == 9
        response = await client.post("/v2/rpc/echo", params={"http_key": eu.http_key}, json="{}")
        assert response.status_code == 400 and response.json()["code"] == 9
        # The default title (no region) is served as before.
        response = await client.post(
            "/v2/account/authenticate/device", json={"id": unique("device-")},
            headers=basic(node.default_title.server_key),
        )  # fmt: skip
        assert response.status_code == 200

    eu_settings = msgspec.structs.replace(
        settings, region="eu", default_title=unique("eudefault"),
        default_server_key=unique("key-"), default_http_key=unique("http-"),
    )  # fmt: skip
    async with serving(eu_settings) as (node, client):
        assert node.default_title.region == "eu"  # the default title is created in the node's region
        assert node.titles.get(eu.id) is not None
        assert any(b.title_id == eu.id and b.id == board for b in node.leaderboards.known_boards())
        response = await client.post(
            "/v2/account/authenticate/device", json={"id": unique("device-")}, headers=basic(eu.server_key)
        )
        assert response.status_code == 200, response.text
        # The titles without a region are another region's to this node.
        response = await client.post(
            "/v2/account/authenticate/device", json={"id": unique("device-")},
            headers=basic(settings.default_server_key),
        )  # fmt: skip
        assert response.status_code == 400 and "nodes without a region" in response.json()["message"]

    async with serving(settings) as (node, _):
        # Restarted without a region: the eu title's boards are not loaded, its jobs not scheduled.
        assert not any(b.title_id == eu.id for b in node.leaderboards.known_boards())
        assert eu.id not in {t.id for t in node.titles.all()}
        # Moving a title to a region takes effect at the node's next reload of the titles.
        moved = await node.titles.set_region(node.default_title.name, "us")
        assert moved.region == "us" and node.titles.get(moved.id) is None
        with pytest.raises(InvalidArgument):
            await node.titles.set_region(node.default_title.name, "Not A Region")


def test_the_region_setting_is_checked():
    assert load_settings(environ={"OVERWORLD_REGION": "eu-west"}).region == "eu-west"
    with pytest.raises(ConfigError, match="setting 'region'"):
        load_settings(environ={"OVERWORLD_REGION": "EU West"})
    keys = load_settings(environ={"OVERWORLD_ENCRYPTION_KEYS": "game=file:/k;*=k1:abc"}).encryption_keys
    assert keys == {"game": "file:/k", "*": "k1:abc"}
    with pytest.raises(ConfigError, match="encryption_keys"):
        load_settings(environ={"OVERWORLD_ENCRYPTION_KEYS": "Not A Title=k1:abc"})

"""Security headers on every kind of HTTP response (docs/security.md#headers): the fast path
(written in one transport write under uvicorn) and the framework's routes, answers and errors,
preflights, the docs page and its assets, and the socket's refused upgrades; HSTS only when
configured. Served by uvicorn in process, as `overworld serve` serves them."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from overworld.api.http.app import create_app
from overworld.config import Settings
from overworld.node import Node
from tests.realtime_support import live_server
from tests.support import basic, bearer, unique

pytestmark = pytest.mark.anyio
ALWAYS = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "x-frame-options": "DENY"}
API = {
    **ALWAYS,
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "cache-control": "no-store",
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return msgspec.structs.replace(settings, cors_origins=["https://game.example"], hsts_max_age_sec=31536000)


@pytest.fixture
async def http(settings: Settings, node: Node) -> AsyncIterator[httpx.AsyncClient]:
    async with live_server(settings, node) as host, httpx.AsyncClient(base_url=f"http://{host}") as client:
        yield client


def has(response: httpx.Response, expected: dict[str, str]) -> None:
    for name, value in expected.items():
        assert response.headers.get(name) == value, (response.request.url, name, dict(response.headers))
    hsts = "max-age=31536000; includeSubDomains"
    assert response.headers.get("strict-transport-security") == hsts, dict(response.headers)


async def test_api_answers_and_errors_carry_them(http, node):
    key = basic(node.default_title.server_key)
    session = await http.post("/v2/account/authenticate/device", json={"id": unique("device-")}, headers=key)
    has(session, API)  # fast path, sign-up
    token = session.json()["token"]
    has(await http.get("/v2/account", headers=bearer(token)), API)  # fast path, one write
    has(await http.get("/v2/account"), API)  # fast path error (401)
    has(await http.get("/v2/user", params={"usernames": "x"}, headers=bearer(token)), API)  # framework
    has(await http.get("/v2/friend", params={"limit": "lots"}, headers=bearer(token)), API)  # 400
    has(await http.get("/v2/nowhere"), API)  # 404, no route
    has(await http.post("/v2/rpc/none", json="{}", headers=bearer(token)), API)  # RPC (404)
    too_big = await http.post("/v2/account/authenticate/device", content=b"x" * 300_000, headers=key)
    assert too_big.status_code == 413
    has(too_big, API)
    has(await http.get("/healthz"), API)


async def test_preflights_carry_them(http):
    asked = {"Access-Control-Request-Method": "POST"}
    allowed = await http.options("/v2/account", headers={"Origin": "https://game.example", **asked})
    assert allowed.status_code == 204
    has(allowed, API)
    refused = await http.options("/v2/account", headers={"Origin": "https://elsewhere.example", **asked})
    assert refused.status_code == 403
    has(refused, API)


async def test_the_docs_page_gets_a_policy_that_lets_swagger_ui_work(http):
    page = await http.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    has(page, ALWAYS)
    assert "no-store" not in page.headers.get("cache-control", "")  # public, cacheable
    policy = page.headers["content-security-policy"]
    scripts = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", page.text, re.DOTALL)
    assert scripts, "the page has its inline start-up script"
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert "script-src 'self' 'sha256-" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-eval" not in policy and "script-src 'self' 'unsafe-inline'" not in policy
    asset = await http.get("/docs/assets/swagger-ui.css")
    assert asset.status_code == 200
    has(asset, ALWAYS)
    document = await http.get("/docs/openapi.json")
    has(document, ALWAYS)
    assert "429" in document.json()["paths"]["/v2/account"]["get"]["responses"]


async def test_a_refused_socket_upgrade_carries_them(http, settings):
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"ws://{http.base_url.host}:{http.base_url.port}/ws?token=bad"):
            pass
    response = refused.value.response
    assert response.status_code == 401
    for name, value in API.items():
        assert response.headers.get(name) == value, (name, dict(response.headers))


async def test_without_the_setting_no_hsts(settings, node):
    app = create_app(msgspec.structs.replace(settings, hsts_max_age_sec=0), node=node)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
        key = basic(node.default_title.server_key)
        session = await client.post("/v2/account/authenticate/device", json={"id": unique("d-")}, headers=key)
        answer = await client.get("/v2/account", headers=bearer(session.json()["token"]))
    assert answer.status_code == 200 and "strict-transport-security" not in answer.headers
    assert answer.headers["x-frame-options"] == "DENY" and answer.headers["cache-control"] == "no-store"

"""CORS on every response (fast path, Litestar routes, errors), preflights answered before any
authentication, a title narrowing its origins, and the socket upgrade's Origin check.

In-process (ASGI sends) and through a live uvicorn with the edge's one-write responses
(overworld/api/uvicorn_direct.py), since the fast path writes its headers in both ways.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from overworld.api.http.app import create_app
from overworld.config import Settings
from overworld.node import Node
from tests.realtime_support import authenticate, live_server
from tests.support import basic, bearer, unique

pytestmark = pytest.mark.anyio

GAME = "https://game.example"
OTHER = "https://other.example"
ACAO = "access-control-allow-origin"


def _with(settings: Settings, **changes: object) -> Settings:
    return msgspec.convert({**msgspec.structs.asdict(settings), **changes}, Settings)


@pytest.fixture
async def http(client: httpx.AsyncClient) -> httpx.AsyncClient:
    return client


async def _session(client: httpx.AsyncClient, server_key: str, **headers: str) -> dict[str, str]:
    response = await client.post(
        "/v2/account/authenticate/device",
        json={"id": unique("device-")},
        headers={**basic(server_key), **headers},
    )
    assert response.status_code == 200, response.text
    session: dict[str, str] = response.json()
    return session


# -- the default policy: any origin, as Nakama ------------------------------------------------------


async def test_every_response_allows_any_origin(client, server_key):
    session = await _session(client, server_key, Origin=GAME)
    token = bearer(session["token"])
    answers = {
        "fast path: authenticate": await client.post(
            "/v2/account/authenticate/device", json={"id": unique("device-")}, headers=basic(server_key)
        ),
        "fast path: account": await client.get("/v2/account", headers={**token, "Origin": GAME}),
        "fast path: storage read": await client.post("/v2/storage", json={"object_ids": []}, headers=token),
        "fast path: error": await client.get("/v2/account", headers={"Authorization": "Bearer nope"}),
        "rpc (edge): unknown id": await client.post("/v2/rpc/nope", content=b'""', headers=token),
        "route: users": await client.get("/v2/user", params={"ids": "x"}, headers=token),
        "route: friends": await client.get("/v2/friend", headers=token),
        "route: error": await client.get("/v2/friend", headers={"Origin": GAME}),
        "unmatched": await client.get("/v2/nothing-here"),
        "health": await client.get("/healthz"),
    }
    for what, response in answers.items():
        assert response.headers.get(ACAO) == "*", what
        assert "vary" not in response.headers, what
    assert answers["fast path: account"].status_code == 200
    assert answers["fast path: error"].status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/v2/account/authenticate/device",  # fast path
        "/v2/account",  # fast path, session
        "/v2/rpc/echo",  # the edge's RPC
        "/v2/friend",  # Litestar route
        "/v2/leaderboard/board-1",  # fast path with a parameter
        "/v2/no/such/path",
    ],
)
async def test_preflight_needs_no_credentials(client, path):
    response = await client.options(
        path,
        headers={
            "Origin": GAME,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers[ACAO] == "*"
    assert response.headers["access-control-allow-methods"] == "GET, HEAD, POST, PUT, DELETE, PATCH"
    assert response.headers["access-control-allow-headers"] == "Authorization, Content-Type, User-Agent"
    assert response.headers["access-control-max-age"] == "7200"
    assert response.headers["x-request-id"]
    assert response.content == b""


async def test_options_without_origin_is_not_a_preflight(client):
    response = await client.options("/v2/friend")
    assert "access-control-allow-methods" not in response.headers
    assert response.headers[ACAO] == "*"


# -- a deployment narrowed to some origins ----------------------------------------------------------


@pytest.fixture
async def narrowed(settings: Settings) -> AsyncIterator[tuple[Node, Settings]]:
    """A node allowing GAME only, whose default title narrows to GAME as well and with a second
    title (`node.titles` name in `extra`) that does not narrow; the deployment allows OTHER too."""
    changed = _with(
        settings,
        cors_origins=[GAME, OTHER],
        cors_title_origins={settings.default_title: [GAME]},
        cors_max_age_sec=600,
    )
    node = await Node.start(changed)
    try:
        yield node, changed
    finally:
        await node.close()


@pytest.fixture
async def narrowed_client(narrowed) -> AsyncIterator[httpx.AsyncClient]:
    node, settings = narrowed
    app = create_app(settings, node=node)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t.local") as http:
        yield http


async def test_a_listed_origin_is_echoed_and_responses_vary_by_origin(narrowed_client, narrowed):
    node, _ = narrowed
    key = node.default_title.server_key
    other_title = await node.titles.create(unique("t"))
    allowed = await narrowed_client.post(
        "/v2/account/authenticate/device",
        json={"id": unique("device-")},
        headers={**basic(key), "Origin": GAME},
    )
    assert allowed.status_code == 200
    assert allowed.headers[ACAO] == GAME and allowed.headers["vary"] == "Origin"
    # An origin the deployment does not list: answered (as Nakama), but without the header the
    # browser needs to read the answer.
    unlisted = await narrowed_client.post(
        "/v2/account/authenticate/device",
        json={"id": unique("device-")},
        headers={**basic(other_title.server_key), "Origin": "https://evil.example"},
    )
    assert ACAO not in unlisted.headers and unlisted.headers["vary"] == "Origin"
    route = await narrowed_client.get("/healthz", headers={"Origin": OTHER})
    assert route.headers[ACAO] == OTHER and route.headers["vary"] == "Origin"
    preflight = await narrowed_client.options(
        "/v2/account", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 403 and ACAO not in preflight.headers
    good = await narrowed_client.options(
        "/v2/account", headers={"Origin": GAME, "Access-Control-Request-Method": "GET"}
    )
    assert good.status_code == 204 and good.headers[ACAO] == GAME
    assert good.headers["access-control-max-age"] == "600" and good.headers["vary"] == "Origin"


async def test_a_title_narrows_its_origins(narrowed_client, narrowed):
    """The preflight cannot tell the title (no credentials): it passes for any origin the
    deployment allows; the request itself is refused once its key or token names the title."""
    node, _ = narrowed
    key, http_key = node.default_title.server_key, node.default_title.http_key
    other_title = await node.titles.create(unique("t"))
    device = unique("device-")
    preflight = await narrowed_client.options(
        "/v2/account/authenticate/device", headers={"Origin": OTHER, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 204 and preflight.headers[ACAO] == OTHER

    refused = await narrowed_client.post(
        "/v2/account/authenticate/device", json={"id": device}, headers={**basic(key), "Origin": OTHER}
    )
    assert refused.status_code == 403
    assert refused.json() == {"error": "Origin not allowed", "code": 7, "message": "Origin not allowed"}
    # ... before the operation ran: the account was not created.
    missing = await narrowed_client.post(
        "/v2/account/authenticate/device", params={"create": "false"}, json={"id": device}, headers=basic(key)
    )
    assert missing.status_code == 404

    # The title's own origin, and no origin at all (a native client), are served.
    session = (
        await narrowed_client.post(
            "/v2/account/authenticate/device", json={"id": device}, headers={**basic(key), "Origin": GAME}
        )
    ).json()
    token = bearer(session["token"])
    assert (await narrowed_client.get("/v2/account", headers=token)).status_code == 200
    assert (await narrowed_client.get("/v2/account", headers={**token, "Origin": GAME})).status_code == 200
    # The title's session from another origin: fast path, Litestar route, RPC (session, http key).
    for response in (
        await narrowed_client.get("/v2/account", headers={**token, "Origin": OTHER}),
        await narrowed_client.get("/v2/friend", headers={**token, "Origin": OTHER}),
        await narrowed_client.post("/v2/rpc/nope", content=b'""', headers={**token, "Origin": OTHER}),
        await narrowed_client.post(
            f"/v2/rpc/nope?http_key={http_key}", content=b'""', headers={"Origin": OTHER}
        ),
        await narrowed_client.post(
            "/v2/account/session/refresh",
            json={"token": session["refresh_token"]},
            headers={**basic(key), "Origin": OTHER},
        ),
    ):
        assert response.status_code == 403, response.text
        assert response.json()["code"] == 7
    # The rpc with the title's origin gets as far as the function lookup.
    assert (
        await narrowed_client.post("/v2/rpc/nope", content=b'""', headers={**token, "Origin": GAME})
    ).status_code == 404
    # A title that does not narrow takes any origin the deployment allows.
    served = await narrowed_client.post(
        "/v2/account/authenticate/device",
        json={"id": unique("device-")},
        headers={**basic(other_title.server_key), "Origin": OTHER},
    )
    assert served.status_code == 200 and served.headers[ACAO] == OTHER


# -- through a live uvicorn: the one-write responses and the socket upgrade -------------------------


async def test_live_server_fast_path_and_socket_origin(narrowed):
    node, settings = narrowed
    key = node.default_title.server_key
    async with live_server(settings, node) as host, httpx.AsyncClient(base_url=f"http://{host}") as http:
        answer = await http.post(
            "/v2/account/authenticate/device",
            json={"id": unique("device-")},
            headers={**basic(key), "Origin": GAME},
        )
        assert answer.status_code == 200
        assert answer.headers[ACAO] == GAME and answer.headers["vary"] == "Origin"
        token = answer.json()["token"]
        account = await http.get("/v2/account", headers={**bearer(token), "Origin": GAME})
        assert account.status_code == 200 and account.headers[ACAO] == GAME
        refused = await http.get("/v2/account", headers={**bearer(token), "Origin": OTHER})
        assert refused.status_code == 403 and refused.headers[ACAO] == OTHER  # the page may read why

        url = f"ws://{host}/ws?token={token}"
        for origin in ("https://evil.example", OTHER):  # not the deployment's; not the title's
            with pytest.raises(InvalidStatus) as denied:
                await connect(url, origin=origin, compression=None)  # type: ignore[arg-type]
            assert denied.value.response.status_code == 403
            assert b"Origin not allowed" in denied.value.response.body
        for origin in (GAME, None):  # the title's origin; a native client sends none
            ws = await connect(url, origin=origin, compression=None)  # type: ignore[arg-type]
            await ws.close()
        other = await node.titles.create(unique("t"))
        session = await authenticate(host, other.server_key)
        ws = await connect(f"ws://{host}/ws?token={session['token']}", origin=OTHER, compression=None)  # type: ignore[arg-type]
        await ws.close()


async def test_live_server_default_policy(settings, node):
    async with live_server(settings, node) as host, httpx.AsyncClient(base_url=f"http://{host}") as http:
        key = node.default_title.server_key
        answer = await http.post(
            "/v2/account/authenticate/device", json={"id": unique("device-")}, headers=basic(key)
        )
        assert answer.headers[ACAO] == "*"
        token = answer.json()["token"]
        for response in (
            await http.get("/v2/account", headers=bearer(token)),
            await http.post("/v2/rpc/nope", content=b'""', headers=bearer(token)),
            await http.get("/v2/friend", headers=bearer(token)),
        ):
            assert response.headers[ACAO] == "*"
        ws = await connect(f"ws://{host}/ws?token={token}", origin="https://any.example", compression=None)  # type: ignore[arg-type]
        await ws.close()

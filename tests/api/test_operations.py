"""Operator endpoints, request ids, body limits, metrics."""

from __future__ import annotations

import pytest

from overworld.api.http.app import create_app
from overworld.db import migrate
from tests.conftest import Api
from tests.support import basic, bearer, unique

pytestmark = pytest.mark.anyio


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok" and ready.json()["checks"]["schema"] == "ok"


async def test_readiness_fails_when_schema_is_behind(client, node):
    await node.db.execute("UPDATE alembic_version SET version_num = 'older'")
    try:
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and "needs" in ready.json()["checks"]["schema"]
    finally:
        await node.db.execute("UPDATE alembic_version SET version_num = $1", migrate.head_revision())


async def test_request_id_is_echoed_or_made(client):
    given = await client.get("/healthz", headers={"x-request-id": "abc123"})
    assert given.headers["x-request-id"] == "abc123"
    made = await client.get("/healthz")
    assert len(made.headers["x-request-id"]) == 32


async def test_oversized_body_is_rejected(client, server_key, node):
    big = {"id": unique("device-"), "vars": {"pad": "x" * (node.settings.max_request_bytes + 10)}}
    response = await client.post("/v2/account/authenticate/device", json=big, headers=basic(server_key))
    assert response.status_code == 413
    assert response.json()["code"] == 3


async def test_unknown_route_and_method_use_the_error_body(client, api: Api):
    session = await api.device()
    missing = await client.get("/v2/nothing-here", headers=bearer(session["token"]))
    assert missing.status_code == 404 and missing.json() == {
        "error": "Not Found",
        "code": 5,
        "message": "Not Found",
    }
    wrong_method = await client.patch("/v2/account", headers=bearer(session["token"]))
    assert wrong_method.status_code == 405 and wrong_method.json()["code"] == 12


async def test_openapi_document_lists_the_api(client):
    spec = (await client.get("/docs/openapi.json")).json()
    paths = spec["paths"]
    for path in ("/v2/account", "/v2/account/authenticate/device", "/v2/storage", "/v2/user"):
        assert path in paths


async def test_metrics_count_requests_by_route(node, settings):
    import httpx
    import msgspec

    app = create_app(msgspec.structs.replace(settings, metrics=True), node=node)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t.local") as client:
        for _ in range(3):
            await client.get("/v2/account")  # 401s
        text = (await client.get("/metrics")).text
    assert "overworld_requests_total" in text
    assert 'path="/v2/account"' in text and 'status_code="401"' in text
    assert "overworld_request_duration_seconds_bucket" in text
    assert "overworld_db_pool_size" in text


async def test_internal_errors_are_500_with_code_13_and_no_detail(client, node, api: Api):
    session = await api.device()

    async def explode(ctx, request):
        raise RuntimeError("secret internals")

    node.hooks.before("GetAccount", explode)
    response = await client.get("/v2/account", headers=bearer(session["token"]))
    assert response.status_code == 500
    assert response.json() == {
        "error": "Internal server error",
        "code": 13,
        "message": "Internal server error",
    }

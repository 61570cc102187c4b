"""Fixtures. Every database test runs on SQLite and, when OVERWORLD_TEST_DATABASE_URL is set, on
PostgreSQL too. Each test gets its own title (so its own keys and data) on a shared, migrated
database; SQLite tests get their own copy of a migrated database file."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from overworld.api.http.app import create_app
from overworld.config import Settings, load_settings
from overworld.db import migrate
from overworld.node import Node
from overworld.ops import logging as ow_logging
from tests import realtime_support
from tests.deployments import (
    Deployment,
    deployment,  # noqa: F401 - the end-to-end fixture, for every test module
)
from tests.support import (
    PG_URL,
    REDIS_URL,
    basic,
    create_pg_database,
    drop_pg_database,
    drop_redis_prefixes,
    redis_prefix,
    run,
    unique,
)

BACKENDS = ["sqlite", "postgresql"]
LOG_TAIL = 200


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed end-to-end test's report ends with the last lines its servers logged: a server's
    error (a traceback, a connection it closed) is often the only explanation of a client's."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if not report.failed:
        return
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, Deployment):
            for node in value.nodes:
                lines = node.output().splitlines()[-LOG_TAIL:]
                report.sections.append((f"server {node.port} (last {len(lines)} lines)", "\n".join(lines)))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The Redis keys under the prefixes this process's tests used (each xdist worker drops its own)."""
    drop_redis_prefixes()


# Log as the server does (JSON, plain tracebacks): structlog's default console renderer draws rich
# tracebacks with local variables, which takes seconds for each error the tests provoke.
ow_logging.configure("info", "json", cache=False)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=realtime_support.FORMATS)
def socket_format(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs a test once per socket format: tests/realtime_support.open_socket opens sockets in it."""
    realtime_support.default_format = request.param
    yield request.param
    realtime_support.default_format = "json"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "overworld.db"
    run(migrate.upgrade(f"sqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    if not PG_URL:
        pytest.skip(
            "PostgreSQL tests need OVERWORLD_TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1/test)"
        )
    url = run(create_pg_database(PG_URL))
    run(migrate.upgrade(url))
    yield url
    run(drop_pg_database(PG_URL, url))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg_database")
        return url
    path = tmp_path / "overworld.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        environ={},
        overrides={
            "database_url": database_url,
            "data_dir": str(tmp_path),
            "auto_migrate": False,
            "default_title": unique("t"),
            "default_server_key": unique("key-"),
            "default_http_key": unique("http-"),
            "log_level": "warning",
            "metrics": False,
            # Tests sign up as many players as they need from the test client's one address;
            # the sign-up limit has its own tests (tests/security/test_rate_limits.py).
            "signup_limit_address": "off",
        },
    )


@pytest.fixture
async def node(settings: Settings) -> AsyncIterator[Node]:
    running = await Node.start(settings)
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture
async def client(node: Node, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, node=node)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as test_client:
        yield test_client


@pytest.fixture
def server_key(node: Node) -> str:
    return node.default_title.server_key


class Api:
    """Small wrappers over the REST API for tests that are about something else."""

    def __init__(self, client: httpx.AsyncClient, server_key: str) -> None:
        self.client = client
        self.server_key = server_key

    async def device(self, device_id: str | None = None, **params: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/v2/account/authenticate/device",
            json={"id": device_id or unique("device-")},
            params=params,
            headers=basic(self.server_key),
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def api(client: httpx.AsyncClient, server_key: str) -> Api:
    return Api(client, server_key)


@pytest.fixture
def cluster_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for server processes forming one cluster: their own PostgreSQL database and
    Redis key prefix, dropped afterwards."""
    if not PG_URL or not REDIS_URL:
        pytest.skip("cluster tests need OVERWORLD_TEST_DATABASE_URL and OVERWORLD_TEST_REDIS_URL")
    url = run(create_pg_database(PG_URL))
    yield {
        "OVERWORLD_DATABASE_URL": url,
        "OVERWORLD_REDIS_URL": REDIS_URL,
        "OVERWORLD_REDIS_PREFIX": redis_prefix("owtest"),
        "OVERWORLD_DATA_DIR": str(tmp_path / "data"),
        "OVERWORLD_LOG_LEVEL": "warning",
        "OVERWORLD_PRESENCE_TIMEOUT_SEC": "2",
    }
    run(drop_pg_database(PG_URL, url))

"""The three ways a game reaches Overworld, for end-to-end tests that must hold on each of them.

- `sqlite`: one `overworld serve` on its own SQLite file (the embedded default);
- `postgresql`: one `overworld serve` on its own PostgreSQL database;
- `cluster`: two `overworld serve` processes sharing a PostgreSQL database and a Redis key prefix,
  behind a round-robin TCP balancer started by the test (tools/balancer.py). Each new TCP connection goes to the next
  node, so two clients that connect one after the other sit on different nodes (an HTTP client
  keeps its connection, and so its node, for as long as it lives).

Use the module-scoped `deployment` fixture (servers started once per module and kind, with the
example server code loaded), `deploy()` for a deployment with settings of its own, or
`deploy_with_code()` for one that also loads test server code from tests/runtime_e2e.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import (
    PG_URL,
    REDIS_URL,
    ROOT,
    ServerProcess,
    create_pg_database,
    drop_pg_database,
    redis_prefix,
    run,
)
from tools.balancer import Balancer

KINDS = ("sqlite", "postgresql", "cluster")
SERVER_KEY = "defaultkey"
HTTP_KEY = "defaulthttpkey"


@dataclass
class Deployment:
    kind: str
    url: str
    nodes: list[ServerProcess]
    balancer: Balancer | None = None
    server_key: str = SERVER_KEY
    http_key: str = HTTP_KEY
    env: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self.url.rpartition(":")[2])

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http") + "/ws"

    def logs(self) -> str:
        return "\n".join(f"--- node {n.port} ---\n{n.output()}" for n in self.nodes)


def skip_reason(kind: str) -> str | None:
    if kind == "postgresql" and not PG_URL:
        return "needs OVERWORLD_TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1/test)"
    if kind == "cluster" and not (PG_URL and REDIS_URL):
        return "a cluster needs OVERWORLD_TEST_DATABASE_URL and OVERWORLD_TEST_REDIS_URL"
    return None


@contextlib.contextmanager
def deploy(kind: str, workdir: Path, env: dict[str, str] | None = None) -> Iterator[Deployment]:
    """Start a deployment of `kind` (skipping the test when its services are not configured)."""
    reason = skip_reason(kind)
    if reason:
        pytest.skip(reason)
    workdir.mkdir(parents=True, exist_ok=True)
    base = {
        "OVERWORLD_DATA_DIR": str(workdir / "data"),
        "OVERWORLD_LOG_LEVEL": "warning",
        "OVERWORLD_RUNTIME_PATH": str(ROOT / "examples" / "runtime"),
        **(env or {}),
    }
    database = ""
    if kind != "sqlite":
        database = run(create_pg_database(PG_URL))
        base["OVERWORLD_DATABASE_URL"] = database
    if kind == "cluster":
        base |= {"OVERWORLD_REDIS_URL": REDIS_URL, "OVERWORLD_REDIS_PREFIX": redis_prefix("owdeploy")}
    nodes: list[ServerProcess] = []
    balancer: Balancer | None = None
    try:
        for _ in range(2 if kind == "cluster" else 1):
            # One at a time: the first runs the migrations the second then finds done.
            nodes.append(ServerProcess(base, workdir).start())
        if kind == "cluster":
            balancer = Balancer([n.port for n in nodes]).start()
            url = f"http://127.0.0.1:{balancer.port}"
        else:
            url = nodes[0].url
        yield Deployment(kind=kind, url=url, nodes=nodes, balancer=balancer, env=base)
    finally:
        if balancer is not None:
            balancer.stop()
        for node in nodes:
            node.stop()
        if database:
            run(drop_pg_database(PG_URL, database))


@contextlib.contextmanager
def deploy_with_code(
    kind: str, workdir: Path, *modules: str, env: dict[str, str] | None = None
) -> Iterator[Deployment]:
    """`deploy()` with the example server code plus `modules` (file names in tests/runtime_e2e)."""
    code = workdir / "runtime"
    code.mkdir(parents=True)
    for source in [*(ROOT / "examples" / "runtime").glob("*.py"), *(E2E_CODE / m for m in modules)]:
        shutil.copy(source, code / source.name)
    with deploy(kind, workdir, {"OVERWORLD_RUNTIME_PATH": str(code), **(env or {})}) as running:
        yield running


E2E_CODE = ROOT / "tests" / "runtime_e2e"
DEPLOYMENT_PARAMS = [
    pytest.param("sqlite"),
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("cluster", marks=pytest.mark.cluster),
]


@pytest.fixture(scope="module", params=DEPLOYMENT_PARAMS)
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """A running deployment of each kind, shared by the tests of a module."""
    with deploy(request.param, tmp_path_factory.mktemp(f"deploy-{request.param}")) as running:
        yield running

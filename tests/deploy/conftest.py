"""A real `overworld serve` (SQLite, a temporary folder) that the deploy tests read: the metric
names it exports and the status of the operator endpoints the manifests probe."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.deploy.support import PROBE_PATHS, exported_series
from tests.support import running_server


@dataclass(frozen=True)
class Served:
    metrics: set[str]  # every series name /metrics exports
    status: dict[str, int]  # operator path -> HTTP status
    port: int  # where it listens, for the whole test session


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder: Path = tmp_path_factory.mktemp("deploy-server")
    env = {"OVERWORLD_DATA_DIR": str(folder / "data"), "OVERWORLD_LOG_LEVEL": "warning"}
    with running_server(env, folder) as server:
        status = {path: httpx.get(server.url + path, timeout=5).status_code for path in PROBE_PATHS}
        text = httpx.get(server.url + "/metrics", timeout=5).text
        yield Served(metrics=exported_series(text), status=status, port=server.port)

"""The compose cluster (deploy/compose): valid against the Compose Specification's JSON schema
(vendored: tests/deploy/schemas/README.md), wired to the server's real settings, port and
endpoints; Prometheus's configuration passes promtool."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from overworld.config import FIELDS, Settings
from tests.deploy.conftest import Served
from tests.deploy.support import DEPLOY, load_yaml, tool

pytestmark = pytest.mark.deploy

COMPOSE = DEPLOY / "compose"
SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"
NODES = ("overworld-1", "overworld-2")


def compose() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(COMPOSE / "compose.yaml")
    return data


def schema_errors(document: dict[str, Any]) -> list[str]:
    import jsonschema

    validator = jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text()))
    return [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(document)]


def test_compose_file_follows_the_compose_specification() -> None:
    assert schema_errors(compose()) == []


def test_the_schema_refuses_a_broken_compose_file() -> None:
    broken = compose()
    broken["services"]["redis"]["healthcheck"] = {"tset": ["CMD", "redis-cli", "ping"]}
    broken["services"]["balancer"]["ports"] = [{"target": "seven"}]
    assert len(schema_errors(broken)) == 2


def test_docker_compose_config_accepts_it() -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode:
        pytest.skip("no docker CLI with the compose plugin here (the schema test above validates the file)")
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_the_cluster_has_its_services() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", *NODES, "balancer", "prometheus", "grafana"}
    for node in NODES:
        assert services[node]["build"] == {"context": "../..", "dockerfile": "Dockerfile"}
        assert (COMPOSE / services[node]["build"]["context"] / "Dockerfile").is_file()


def test_nodes_use_real_settings_and_the_clusters_services() -> None:
    services = compose()["services"]
    names = set()
    for node in NODES:
        env = services[node]["environment"]
        names |= set(env)
        assert env["OVERWORLD_NODE_NAME"] == node
        database = urlsplit(env["OVERWORLD_DATABASE_URL"])
        assert database.scheme == "postgresql" and database.hostname == "postgres"
        assert (
            database.port == 5432
            and database.path == "/" + services["postgres"]["environment"]["POSTGRES_DB"]
        )
        assert urlsplit(env["OVERWORLD_REDIS_URL"]).hostname == "redis"
        assert services[node]["depends_on"]["postgres"] == {"condition": "service_healthy"}
        # docker's stop timeout covers the server's drain
        grace = int(env["OVERWORLD_SHUTDOWN_GRACE_SEC"])
        assert int(services[node]["stop_grace_period"].rstrip("s")) >= grace + 5
    for name in names:
        assert name.startswith("OVERWORLD_") and name[10:].lower() in FIELDS, name


def test_balancer_spreads_over_both_nodes_and_checks_readiness(served: Served) -> None:
    port = Settings().port
    config = (COMPOSE / "haproxy.cfg").read_text()
    servers = re.findall(r"^\s*server (\S+) (\S+):(\d+) check$", config, re.MULTILINE)
    assert [(name, host, int(p)) for name, host, p in servers] == [(n, n, port) for n in NODES]
    check = re.search(r"option httpchk GET (\S+)", config)
    assert check and check.group(1) == "/readyz" and served.status["/readyz"] == 200
    assert f"bind :{port}" in config
    assert compose()["services"]["balancer"]["ports"] == [f"127.0.0.1:{port}:{port}"]


def test_prometheus_scrapes_both_nodes(served: Served) -> None:
    config = load_yaml(COMPOSE / "prometheus.yml")
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "overworld"  # the alert rules' up{job="overworld"}
    assert served.status[job["metrics_path"]] == 200
    targets = job["static_configs"][0]["targets"]
    assert targets == [f"{n}:{Settings().port}" for n in NODES]
    assert "overworld" in (DEPLOY / "prometheus" / "alerts.yml").read_text()


def test_mounted_files_exist() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE / source).exists(), f"{name}: {source}"


def test_prometheus_configuration_passes_promtool(tmp_path) -> None:
    promtool = tool("promtool", "checks Prometheus's configuration")
    # the layout inside the container: the config and, beside it, the rules it names
    for volume in compose()["services"]["prometheus"]["volumes"]:
        source, target = volume.split(":")[:2]
        shutil.copy(COMPOSE / source, tmp_path / Path(target).name)
    result = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rules found" in result.stdout  # it read the alert rules too


def test_balancer_configuration_passes_haproxy_check(tmp_path) -> None:
    haproxy = tool("haproxy", "checks the balancer's configuration")
    config = COMPOSE / "haproxy.cfg"
    result = subprocess.run([haproxy, "-c", "-f", str(config)], capture_output=True, text=True)
    # the nodes' names resolve only inside the compose network: haproxy starts without them
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "haproxy.cfg"
    broken.write_text(config.read_text().replace("timeout tunnel", "timeout tunel"))
    assert subprocess.run([haproxy, "-c", "-f", str(broken)], capture_output=True).returncode != 0

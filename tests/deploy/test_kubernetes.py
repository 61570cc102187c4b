"""The Kubernetes manifests: each overlay renders with `kubectl kustomize`, every object is valid
for the Kubernetes API of a named release, and the ports, probes, drain timing, secrets and
metric names are the ones the server really has."""

from __future__ import annotations

import functools
import re
import subprocess
from typing import Any

import pytest
import yaml

from overworld.config import FIELDS, Settings
from tests.deploy.conftest import Served
from tests.deploy.support import (
    KUBERNETES,
    KUBERNETES_VERSION,
    OVERLAYS,
    load_all,
    load_yaml,
    metric_names,
    tool,
    unknown_metrics,
)

pytestmark = pytest.mark.deploy

ADAPTER = KUBERNETES / "prometheus-adapter" / "values.yaml"
# SIGTERM to the end of the drain: sockets first (overworld.node.Node.drain: min(5 s, grace)).
SOCKET_DRAIN_SEC = 5
# Kinds kubernetes-validate has no schema for: custom resources of the Prometheus Operator. Their
# CRD schema ships with the operator, not with any package this project can install; the tests
# below check their fields against the objects they point at instead.
CUSTOM_KINDS = {"ServiceMonitor"}


@functools.cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    kubectl = tool("kubectl", "renders the Kustomize overlays")
    result = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES / "overlays" / overlay)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return tuple(load_all(result.stdout))


def one(objects: tuple[dict[str, Any], ...], kind: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind}"
    return found[0]


def container(objects: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    (main,) = pod["containers"]
    return dict(main)


def config_map(objects: tuple[dict[str, Any], ...]) -> dict[str, str]:
    data: dict[str, str] = one(objects, "ConfigMap")["data"]
    return data


def validate(obj: dict[str, Any]) -> None:
    import kubernetes_validate

    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[dict[str, Any], ...]:
    return rendered(request.param)


def test_every_object_is_valid_for_the_kubernetes_api(overlay) -> None:
    kinds = {o["kind"] for o in overlay}
    assert {"Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor"} <= kinds
    for obj in overlay:
        if obj["kind"] in CUSTOM_KINDS:
            continue
        validate(obj)


def test_an_invalid_object_is_refused() -> None:
    from kubernetes_validate.utils import ValidationError

    deployment = dict(one(rendered("cluster"), "Deployment"))
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 3}}  # misspelt field
    with pytest.raises(ValidationError):
        validate(broken)
    hpa = one(rendered("cluster"), "HorizontalPodAutoscaler")
    wrong = {**hpa, "spec": {**hpa["spec"], "minReplicas": "two"}}
    with pytest.raises(ValidationError):
        validate(wrong)


def test_ports_are_the_servers(overlay) -> None:
    port = Settings().port
    main = container(overlay)
    assert main["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    assert config_map(overlay).get("OVERWORLD_PORT", str(port)) == str(port)
    service = one(overlay, "Service")
    assert [(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [
        ("http", port, "http")
    ]
    pod_labels = one(overlay, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_probes_use_the_servers_health_endpoints(overlay, served: Served) -> None:
    main = container(overlay)
    probes = {kind: main[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["startupProbe"]["path"] == "/healthz"
    for probe in probes.values():
        assert probe["port"] == "http"
        assert served.status[probe["path"]] == 200, probe["path"]
    # the startup probe allows at least a minute for migrations and server code to load
    startup = main["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60


def test_rolling_updates_drain_within_the_grace_period(overlay) -> None:
    pod = one(overlay, "Deployment")["spec"]["template"]["spec"]
    main = container(overlay)
    grace = int(config_map(overlay)["OVERWORLD_SHUTDOWN_GRACE_SEC"])
    command = main["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop = int(command[1])
    assert pre_stop >= 3  # long enough for the endpoints to drop the pod before SIGTERM
    needed = pre_stop + min(SOCKET_DRAIN_SEC, grace) + grace
    # SIGKILL only after the whole drain, but not much later: a stuck pod should not linger
    assert needed < pod["terminationGracePeriodSeconds"] <= needed + 15
    strategy = one(overlay, "Deployment")["spec"]["strategy"]
    if strategy["type"] == "RollingUpdate":
        assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_secrets_are_referenced_never_written(overlay) -> None:
    main = container(overlay)
    assert not [o for o in overlay if o["kind"] == "Secret"]
    names = {env["name"] for env in main["env"]} | set(config_map(overlay))
    for name in names:
        assert name.startswith("OVERWORLD_") and name[10:].lower() in FIELDS, name
    for env in main["env"]:
        if any(word in env["name"] for word in ("KEY", "URL", "PASSWORD")):
            assert "value" not in env, env["name"]
            assert env["valueFrom"]["secretKeyRef"]["name"] == "overworld-secrets", env["name"]
    for name in config_map(overlay):
        assert not any(word in name for word in ("KEY", "URL", "PASSWORD")), name


def test_embedded_overlay_is_one_node_on_a_volume() -> None:
    objects = rendered("embedded")
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # one SQLite writer at a time
    claim = one(objects, "PersistentVolumeClaim")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container(objects)["volumeMounts"]}
    data = next(name for name, v in volumes.items() if "persistentVolumeClaim" in v)
    assert volumes[data]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    dockerfile = (KUBERNETES.parent.parent / "Dockerfile").read_text()
    data_dir = re.search(r"OVERWORLD_DATA_DIR=(\S+)", dockerfile)
    assert data_dir and mounts[data] == data_dir.group(1)
    assert not [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    names = {env["name"] for env in container(objects)["env"]}
    assert "OVERWORLD_DATABASE_URL" not in names and "OVERWORLD_REDIS_URL" not in names


def test_cluster_overlay_uses_external_postgresql_and_redis() -> None:
    objects = rendered("cluster")
    env = {e["name"]: e for e in container(objects)["env"]}
    assert env["OVERWORLD_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["key"] == "database-url"
    assert env["OVERWORLD_REDIS_URL"]["valueFrom"]["secretKeyRef"]["key"] == "redis-url"
    assert one(objects, "Deployment")["spec"]["replicas"] >= 2
    assert not [o for o in objects if o["kind"] == "PersistentVolumeClaim"]


def test_autoscaler_targets_cpu_and_p99_latency_of_200ms() -> None:
    objects = rendered("cluster")
    hpa = one(objects, "HorizontalPodAutoscaler")
    deployment = one(objects, "Deployment")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert hpa["spec"]["minReplicas"] >= 2
    metrics = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert metrics["Resource"]["resource"]["name"] == "cpu"
    assert metrics["Resource"]["resource"]["target"]["type"] == "Utilization"
    pods = metrics["Pods"]["pods"]
    assert pods["target"] == {"type": "AverageValue", "averageValue": "200m"}  # 0.2 s
    rule = adapter_rule(pods["metric"]["name"])
    assert "histogram_quantile(0.99," in rule["metricsQuery"]
    assert container(objects)["resources"]["requests"]["cpu"]  # Utilization needs a request


def adapter_rule(name: str) -> dict[str, Any]:
    rules = load_yaml(ADAPTER)["rules"]["custom"]
    matching = [r for r in rules if r["name"]["as"] == name]
    assert len(matching) == 1, f"the adapter serves no {name}"
    rule: dict[str, Any] = matching[0]
    return rule


def expand(rule: dict[str, Any]) -> str:
    """The adapter's query as it sends it to Prometheus for the pods of one namespace."""
    series = re.fullmatch(r"\^(\w+)\$", rule["name"]["matches"])
    assert series
    return (
        rule["metricsQuery"]
        .replace("<<.Series>>", series.group(1))
        .replace("<<.LabelMatchers>>", 'namespace="overworld",pod=~"overworld-.*"')
        .replace("<<.GroupBy>>", "pod")
    )


def test_adapter_rule_reads_the_servers_histogram(served: Served) -> None:
    for rule in load_yaml(ADAPTER)["rules"]["custom"]:
        series = metric_names(rule["seriesQuery"])
        assert series and not unknown_metrics(rule["seriesQuery"], served.metrics), rule["seriesQuery"]
        assert rule["resources"]["overrides"] == {
            "namespace": {"resource": "namespace"},
            "pod": {"resource": "pod"},
        }
        query = expand(rule)
        assert not unknown_metrics(query, served.metrics), query
        # the route label and the paths it leaves out are the server's
        for path in re.findall(r"/\w+", re.search(r'path!~"([^"]*)"', query).group(1)):  # type: ignore[union-attr]
            assert served.status[path] == 200, path
    text = served.metrics
    assert "overworld_request_duration_seconds_bucket" in text


def test_adapter_query_gives_each_pods_p99(tmp_path) -> None:
    """The adapter's query, as a recording rule run by `promtool test rules` over made-up series:
    a slow pod reads its p99, a pod serving only probes or idle for the window reads 0, never
    nothing (a missing pod metric stops the HPA from scaling down)."""
    promtool = tool("promtool", "runs the adapter's query")
    (rule,) = load_yaml(ADAPTER)["rules"]["custom"]
    (tmp_path / "adapter.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "adapter", "rules": [{"record": "p99", "expr": expand(rule)}]}]})
    )

    def bucket(pod: str, path: str, le: str, values: str) -> dict[str, str]:
        labels = f'namespace="overworld",pod="{pod}",method="GET",path="{path}",le="{le}"'
        return {"series": f"overworld_request_duration_seconds_bucket{{{labels}}}", "values": values}

    series = [
        # overworld-a: API requests all between 0.25 and 0.5 s, and fast probes
        bucket("overworld-a", "/v2/account", "0.25", "0+0x10"),
        bucket("overworld-a", "/v2/account", "0.5", "0+60x10"),
        bucket("overworld-a", "/v2/account", "+Inf", "0+60x10"),
        bucket("overworld-a", "/healthz", "0.005", "0+600x10"),
        bucket("overworld-a", "/healthz", "+Inf", "0+600x10"),
        # overworld-b: probes only
        bucket("overworld-b", "/healthz", "0.005", "0+6x10"),
        bucket("overworld-b", "/healthz", "+Inf", "0+6x10"),
        # overworld-c: API requests long ago, none in the window
        bucket("overworld-c", "/v2/account", "0.5", "100x10"),
        bucket("overworld-c", "/v2/account", "+Inf", "100x10"),
        bucket("overworld-c", "/readyz", "0.005", "0+6x10"),
        bucket("overworld-c", "/readyz", "+Inf", "0+6x10"),
    ]
    expected = [
        {"labels": 'p99{pod="overworld-a"}', "value": 0.4975},
        {"labels": 'p99{pod="overworld-b"}', "value": 0},
        {"labels": 'p99{pod="overworld-c"}', "value": 0},
    ]
    test = {
        "rule_files": ["adapter.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [{"expr": "p99", "eval_time": "5m", "exp_samples": expected}],
            }
        ],
    }
    (tmp_path / "adapter.test.yml").write_text(yaml.safe_dump(test))
    result = subprocess.run(
        [promtool, "test", "rules", "adapter.test.yml"], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_service_monitor_scrapes_the_metrics_port(overlay, served: Served) -> None:
    monitor = one(overlay, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    service = one(overlay, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    port_names = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout"}
        assert endpoint["port"] in port_names
        assert served.status[endpoint["path"]] == 200


def test_disruption_budget_and_network_policy_select_the_pods(overlay) -> None:
    pod_labels = one(overlay, "Deployment")["spec"]["template"]["metadata"]["labels"]
    budget = one(overlay, "PodDisruptionBudget")
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert budget["spec"]["maxUnavailable"] == 1
    policy = one(overlay, "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = policy["spec"]["ingress"]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]
    egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert {53, 5432, 6379} <= egress_ports


def test_deployment_docs_state_the_manifests_drain_timing() -> None:
    objects = rendered("cluster")
    docs = (KUBERNETES.parent.parent / "docs" / "deployment.md").read_text()
    grace = re.search(r"`terminationGracePeriodSeconds: (\d+)` = (\d+) \+ (\d+) \+ (\d+) \+ (\d+)", docs)
    assert grace, "docs/deployment.md explains the grace period"
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    total, pre_stop, sockets, shutdown, spare = (int(g) for g in grace.groups())
    assert total == pod["terminationGracePeriodSeconds"] == pre_stop + sockets + shutdown + spare
    assert container(objects)["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", str(pre_stop)]
    assert sockets == SOCKET_DRAIN_SEC
    assert config_map(objects)["OVERWORLD_SHUTDOWN_GRACE_SEC"] == str(shutdown)
    assert f"`shutdown_grace_sec` ({shutdown} s in the ConfigMap)" in docs


def test_socket_drain_is_the_servers() -> None:
    import inspect

    from overworld.node import Node

    assert f"min({SOCKET_DRAIN_SEC}.0, float(self.settings.shutdown_grace_sec))" in inspect.getsource(
        Node.drain
    )

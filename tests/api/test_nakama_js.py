"""The official JavaScript client, @heroiclabs/nakama-js, against a live `overworld serve`.

The tests themselves are in tests/node/client.test.mjs (Node's built-in test runner); this module
installs the pinned client with `npm ci` when needed and runs them against each deployment of
tests/deployments.py: a server on SQLite, one on PostgreSQL, and two nodes behind a round-robin
balancer (so the tests' clients and sockets land on different nodes).
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.deployments import DEPLOYMENT_PARAMS, deploy
from tests.support import ROOT, have_node

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(not have_node(), reason="the nakama-js tests need Node.js (`node`) and `npm` on PATH"),
]

NODE_DIR = ROOT / "tests" / "node"
TEST_FILE = NODE_DIR / "client.test.mjs"
SOCIAL_TEST_FILE = NODE_DIR / "social.test.mjs"  # friends and groups
REALTIME_TEST_FILE = NODE_DIR / "realtime.test.mjs"  # the socket: chat, status, notifications, parties
LIVE_TEST_FILE = NODE_DIR / "live.test.mjs"  # live events and remote config (REST extension)
MATCHMAKER_TEST_FILE = NODE_DIR / "matchmaker.test.mjs"  # addMatchmaker, party matchmaking
MATCHES_TEST_FILE = NODE_DIR / "matches.test.mjs"  # relayed and authoritative matches
PROTOBUF_TEST_FILE = NODE_DIR / "protobuf.test.mjs"  # the socket in protobuf (nakama-js-protobuf)
TEST_FILES = (
    TEST_FILE, SOCIAL_TEST_FILE, REALTIME_TEST_FILE, LIVE_TEST_FILE, MATCHMAKER_TEST_FILE, MATCHES_TEST_FILE,
    PROTOBUF_TEST_FILE,
)  # fmt: skip
NODE_TIMEOUT = 120
NPM_TIMEOUT = 300


def _needs_install() -> bool:
    modules = NODE_DIR / "node_modules"
    marker = modules / ".package-lock.json"  # npm's hidden lockfile, rewritten on every install
    for package in ("nakama-js", "nakama-js-protobuf"):
        if not (modules / "@heroiclabs" / package / "package.json").exists():
            return True
    installed = marker.stat().st_mtime if marker.exists() else modules.stat().st_mtime
    return installed < (NODE_DIR / "package-lock.json").stat().st_mtime


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


@pytest.fixture(scope="module")
def node_modules() -> Path:
    # Test processes running side by side (pytest-xdist) install one at a time: the first installs,
    # the others find it done.
    with open(Path(tempfile.gettempdir()) / "overworld-tests-npm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _needs_install():
            npm = shutil.which("npm")
            assert npm is not None
            result = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=NODE_DIR,
                env={**os.environ, "SCARF_ANALYTICS": "false"},
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT,
            )
            assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
    return NODE_DIR / "node_modules"


@pytest.mark.parametrize("kind", DEPLOYMENT_PARAMS)
def test_nakama_js_client(node_modules: Path, kind: str, tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node is not None
    server_key = "key-" + secrets.token_hex(8)
    http_key = "http-" + secrets.token_hex(8)
    env = {
        "OVERWORLD_DEFAULT_SERVER_KEY": server_key,
        "OVERWORLD_DEFAULT_HTTP_KEY": http_key,
        "OVERWORLD_RUNTIME_PATH": str(ROOT / "examples" / "runtime"),
        "OVERWORLD_LOG_LEVEL": "warning",
    }
    with deploy(kind, tmp_path, env) as server:
        try:
            result = subprocess.run(
                # --test-force-exit: nakama-js leaves a timeout timer pending after every request.
                # --experimental-websocket: Node 20's global WebSocket, which nakama-js's socket uses.
                [node, "--experimental-websocket", "--test", "--test-force-exit", *map(str, TEST_FILES)],
                cwd=NODE_DIR,
                env={
                    **os.environ,
                    "OVERWORLD_URL_HOST": "127.0.0.1",
                    "OVERWORLD_URL_PORT": str(server.port),  # on a cluster, the balancer
                    "OVERWORLD_SERVER_KEY": server_key,
                    "OVERWORLD_HTTP_KEY": http_key,
                },
                capture_output=True,
                text=True,
                timeout=NODE_TIMEOUT,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(
                f"node --test did not finish in {NODE_TIMEOUT} s:\n{_text(exc.stdout)}\n{_text(exc.stderr)}\n"
                f"--- server logs ---\n{server.logs()}"
            )
    if result.returncode != 0:
        pytest.fail(
            f"node --test exited with {result.returncode}:\n{result.stdout}\n{result.stderr}\n"
            f"--- server logs ---\n{server.logs()}",
            pytrace=False,
        )

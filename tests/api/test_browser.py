"""A game in a web page: @heroiclabs/nakama-js (its browser ESM build) in headless Chromium.

The page is served by a small static server of the test's own, on another port than Overworld's,
so every call is cross-origin, as for a web game: the browser sends preflights and reads answers
only with CORS headers. The page authenticates two users, uses REST (account, storage, RPC), opens
two sockets and exchanges chat and match data (tests/browser/scenario.mjs), on each deployment
(SQLite, PostgreSQL, two nodes behind a balancer: tests/deployments.py).

The browser is Debian's Chromium (`apt-get install chromium`; .ci/run installs it), driven by
Playwright for Python with `executable_path` set: Playwright's own browser downloads are never
used. Skipped, saying why, without Chromium, Playwright or Node.js (for nakama-js).

`format` is the socket's wire format: json now; "protobuf" is added to FORMATS once the server
speaks it and @heroiclabs/nakama-js-protobuf is installed (scenario.mjs loads its adapter).
"""

from __future__ import annotations

import http.server
import shutil
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.api.test_nakama_js import node_modules  # noqa: F401 - the fixture: `npm ci` once
from tests.deployments import Deployment, deployment  # noqa: F401 - the fixture
from tests.support import ROOT, have_node

CHROMIUM = next(
    (p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and Path(p).exists()), ""
)
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - a dev install has it
    sync_playwright = None  # type: ignore[assignment]

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(not CHROMIUM, reason="needs Chromium at /usr/bin/chromium (apt-get install chromium)"),
    pytest.mark.skipif(
        sync_playwright is None, reason="needs Playwright for Python (pip install playwright)"
    ),
    pytest.mark.skipif(not have_node(), reason="needs Node.js and npm to install @heroiclabs/nakama-js"),
]

FORMATS = ["json", "protobuf"]
BROWSER_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps", "--no-first-run",
    "--no-default-browser-check", "--mute-audio",
]  # fmt: skip
PAGE = b"""<!doctype html><html><head><meta charset="utf-8"><title>a web game</title></head>
<body><script type="module">import { run } from "./scenario.mjs"; window.scenario = run;</script></body></html>"""


class _Files(http.server.SimpleHTTPRequestHandler):
    """The page, the scenario and nakama-js's ESM build, with a JavaScript MIME type for .mjs."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript"}

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def web_origin(node_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # noqa: F811
    root = tmp_path_factory.mktemp("web")
    (root / "index.html").write_bytes(PAGE)
    shutil.copy(ROOT / "tests" / "browser" / "scenario.mjs", root / "scenario.mjs")
    shutil.copy(node_modules / "@heroiclabs" / "nakama-js" / "dist" / "nakama-js.esm.mjs", root)
    adapter = node_modules / "@heroiclabs" / "nakama-js-protobuf" / "dist" / "nakama-js-protobuf.esm.mjs"
    shutil.copy(adapter, root)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Files, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, name="web-origin", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def browser(deployment: Deployment, tmp_path: Path) -> Iterator[Any]:  # noqa: F811
    """Chromium, started after the deployment and stopped before it: Playwright's sync API keeps
    an event loop running in this thread meanwhile, and the deployment's set-up and tear-down run
    their own (asyncio.run)."""
    assert sync_playwright is not None
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh user-data dir
            executable_path=CHROMIUM,
            headless=True,
            args=BROWSER_ARGS,
        )
        try:
            yield context
        finally:
            context.close()


@pytest.mark.parametrize("format", FORMATS)
def test_a_web_page_plays(deployment: Deployment, web_origin: str, browser: Any, format: str) -> None:  # noqa: F811
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(web_origin + "/index.html")
        page.wait_for_function("typeof window.scenario === 'function'", timeout=10_000)
        config = {"host": deployment.host, "port": deployment.port, "serverKey": deployment.server_key}
        seen = page.evaluate("(config) => window.scenario(config)", {**config, "format": format})
    finally:
        page.close()
    assert errors == []
    assert seen["origin"] == web_origin and not deployment.url.startswith(web_origin)  # cross-origin
    assert seen["created"] is True
    assert seen["account"]["display_name"] == "Alice in a browser"
    assert seen["storageVersion"] and seen["storageRead"] == [{"level": 3}]
    assert seen["rpc"] == {"hello": "browser"}
    assert seen["rpcError"] == 404
    assert seen["chat"] == {"text": "hello from bob"}
    assert seen["matchData"] == {"op_code": 7, "data": '{"move":"e4"}'}
    assert seen["matchReply"] == '{"move":"e5"}'

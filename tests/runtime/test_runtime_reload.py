"""Hot reload (setting `runtime_reload`): a changed file replaces what its title's modules
registered; a broken change keeps the running code."""

from __future__ import annotations

import asyncio
import shutil
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from structlog.testing import capture_logs

from overworld.config import Settings, load_settings
from tests.support import basic, title_jobs, unique

pytestmark = pytest.mark.anyio
WAIT_SEC = 15

HELPERS = 'GREETING = "hello"\n'

GAME = """
from overworld.runtime import PermissionDenied

from ._helpers import GREETING


def init(ctx, nk, initializer):
    @initializer.rpc("version")
    def version(ctx, payload):
        return "{version} " + GREETING

    @initializer.rpc("{version}_only")
    def only(ctx, payload):
        return "{version}"

    @initializer.before("AuthenticateDevice")
    def ban(ctx, request):
        if request.account.id.startswith("{version}-banned-"):
            raise PermissionDenied("banned by {version}")
        return request

    @initializer.cron("{version}_job", "@hourly")
    def job(ctx, nk):
        pass
"""


def game(version: str) -> str:
    return GAME.replace("{version}", version)


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """Reloading does not depend on the database: SQLite only."""
    path = tmp_path / "overworld.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def code(tmp_path: Path) -> Path:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "_helpers.py").write_text(HELPERS)
    (folder / "game.py").write_text(game("v1"))
    return folder


@pytest.fixture
def settings(settings: Settings, code: Path) -> Settings:
    return msgspec.structs.replace(settings, runtime_path=str(code), runtime_reload=True)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


async def rpc(client, node, rpc_id: str) -> tuple[int, str]:
    response = await client.post(
        f"/v2/rpc/{rpc_id}", params={"http_key": node.default_title.http_key}, content=b'""'
    )
    return response.status_code, response.json().get("payload", "")


async def until_rpc(client, node, rpc_id: str, wanted: str) -> None:
    deadline = time.monotonic() + WAIT_SEC
    while (answer := await rpc(client, node, rpc_id)) != (200, wanted):
        assert time.monotonic() < deadline, f"{rpc_id} still answers {answer}, not {wanted!r}"
        await asyncio.sleep(0.05)


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SEC
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        await asyncio.sleep(0.05)


async def login(client, node, device: str) -> int:
    response = await client.post(
        "/v2/account/authenticate/device", json={"id": device}, headers=basic(node.default_title.server_key)
    )
    return response.status_code


async def test_a_changed_module_replaces_its_rpcs_hooks_and_cron_jobs(client, node, code):
    title = node.default_title
    assert await rpc(client, node, "version") == (200, "v1 hello")
    assert await login(client, node, unique("v1-banned-")) == 403
    (code / "game.py").write_text(game("v2"))  # same size as before: caught all the same
    await until_rpc(client, node, "version", "v2 hello")
    assert await rpc(client, node, "v2_only") == (200, "v2")
    assert (await rpc(client, node, "v1_only"))[0] == 404
    # The old before hook is gone, the new one is in place, once.
    assert await login(client, node, unique("v1-banned-")) == 200
    assert await login(client, node, unique("v2-banned-")) == 403
    assert len(node.hooks._before[(title.id, "AuthenticateDevice")]) == 1
    assert title_jobs(node, title.id) == [f"{title.id}:v2_job"]
    # A helper module and a new file in the title's folder are picked up too.
    write(code / "_helpers.py", 'GREETING = "bonjour"\n')
    await until_rpc(client, node, "version", "v2 bonjour")
    write(
        code / title.name / "extra.py",
        """
        def init(ctx, nk, initializer):
            initializer.register_rpc("extra", lambda ctx, payload: "for " + ctx.title_name)
        """,
    )
    await until_rpc(client, node, "extra", f"for {title.name}")
    # A title created after the reload gets the new code (and not the other title's folder).
    other = await node.titles.create(unique("other"))
    response = await client.post("/v2/rpc/version", params={"http_key": other.http_key}, content=b'""')
    assert response.json()["payload"] == "v2 bonjour"
    response = await client.post("/v2/rpc/extra", params={"http_key": other.http_key}, content=b'""')
    assert response.status_code == 404


async def test_a_broken_change_keeps_the_old_code_and_logs_file_and_line(client, node, code):
    assert await rpc(client, node, "version") == (200, "v1 hello")
    failed = "server code reload failed, the previous code keeps running"
    with capture_logs() as logs:
        write(code / "game.py", "def init(ctx, nk, initializer):\n    return (\n")
        await until(lambda: any(e["event"] == failed for e in logs), "the failed reload")
    [failure] = [e for e in logs if e["event"] == failed]
    assert failure["path"] == str(code / "game.py") and failure["line"] == 2
    assert "game.py, line 2: SyntaxError" in failure["error"] and failure["log_level"] == "error"
    assert await rpc(client, node, "version") == (200, "v1 hello")
    # An init that fails keeps the old code as well: nothing of the new code is put in place.
    with capture_logs() as logs:
        write(
            code / "game.py",
            """
            def init(ctx, nk, initializer):
                initializer.register_rpc("version", lambda ctx, payload: "half")
                initializer.register_cron("job", "every day", lambda ctx, nk: None)
            """,
        )
        await until(lambda: any(e["event"] == failed for e in logs), "the failed reload")
    [failure] = [e for e in logs if e["event"] == failed]
    assert "game.py, line 4, in init" in failure["error"]
    assert "cron job 'job': invalid cron expression 'every day'" in failure["error"]
    assert await rpc(client, node, "version") == (200, "v1 hello")
    assert title_jobs(node, node.default_title.id) == [f"{node.default_title.id}:v1_job"]
    # Once fixed, the new code is served.
    write(code / "game.py", game("v3"))
    await until_rpc(client, node, "version", "v3 hello")


async def test_reload_returns_whether_the_new_code_is_in_place(node, code):
    assert await node.runtime.reload() is True
    first = node.runtime.code.package
    write(code / "game.py", "import no_such_module\n")
    assert await node.runtime.reload() is False
    assert node.runtime.code.package == first
    # The modules of code replaced are forgotten, so reloading does not pile them up.
    write(code / "game.py", game("v4"))
    assert await node.runtime.reload() is True
    import sys

    packages = {name.split(".")[0] for name in sys.modules if name.startswith("overworld_modules")}
    assert packages == {node.runtime.code.package}
    assert title_jobs(node, node.default_title.id) == [f"{node.default_title.id}:v4_job"]


def test_reload_is_off_unless_set():
    assert load_settings(environ={}).runtime_reload is False
    assert load_settings(environ={"OVERWORLD_RUNTIME_RELOAD": "true"}).runtime_reload is True

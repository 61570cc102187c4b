"""Server code: loading modules, RPCs over HTTP, hooks and events from modules, the ServerApi,
and title isolation. The node runs examples/runtime (its `default/` folder renamed to the test's
title) plus tests/runtime_code."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from pathlib import Path

import msgspec
import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from overworld.config import Settings, load_settings
from overworld.errors import InvalidArgument, NotFound
from overworld.node import Node
from overworld.runtime import SYSTEM_USER, HttpRequestError, ObjectWrite, RuntimeLoadError, ServerApi
from overworld.runtime.runtime import DISABLED
from tests.support import ROOT, basic, bearer, running_server, unique

pytestmark = pytest.mark.anyio
EXAMPLES = ROOT / "examples" / "runtime"
TEST_CODE = ROOT / "tests" / "runtime_code"
TIMEOUT_MS = 500


def runtime_folder(tmp_path: Path, title: str) -> Path:
    folder = tmp_path / "runtime"
    shutil.copytree(EXAMPLES, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "default").rename(folder / title)
    shutil.copy(TEST_CODE / "testing.py", folder / "testing.py")
    shutil.copy(TEST_CODE / "title_only.py", folder / title / "title_only.py")
    return folder


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    folder = runtime_folder(tmp_path, settings.default_title)
    return msgspec.structs.replace(settings, runtime_path=str(folder), runtime_timeout_ms=TIMEOUT_MS)


@pytest.fixture
def http_key(node: Node) -> str:
    return node.default_title.http_key


def rpc_body(payload: str) -> bytes:
    """A POST body as Nakama's clients send it: the payload as a JSON string."""
    return json.dumps(payload).encode()


async def session(api, device: str | None = None) -> dict:
    return await api.device(device)


def user_id_of(token: str) -> str:
    import jwt

    return str(jwt.decode(token, options={"verify_signature": False})["uid"])


# -- loading ------------------------------------------------------------------------------------


async def test_modules_load_for_every_title_and_title_folders_for_their_title(node):
    title = node.default_title
    assert [m.name for m in node.runtime.code.shared] == [
        "arena",
        "audit",
        "echo",
        "moderation",
        "season",
        "testing",
        "welcome",
    ]
    assert sorted(m.name for m in node.runtime.code.titles[title.name]) == [
        f"{title.name}/rewards",
        f"{title.name}/title_only",
    ]
    assert node.runtime.rpc(title.id, "echo") is not None
    assert node.runtime.rpc(title.id, "DAILY_REWARD") is not None  # ids are case-insensitive


def broken_settings(settings: Settings, tmp_path: Path, files: dict[str, str]) -> Settings:
    folder = tmp_path / "broken"
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return msgspec.structs.replace(settings, runtime_path=str(folder))


async def test_a_module_that_fails_to_import_stops_the_start_naming_file_and_line(settings, tmp_path):
    bad = broken_settings(
        settings,
        tmp_path,
        {
            "fine.py": "def init(ctx, nk, initializer):\n    pass\n",
            "bad.py": "import json\n\nx = json.loads('{}')['missing']\n",
        },
    )
    with pytest.raises(RuntimeLoadError) as failure:
        await Node.start(bad)
    error = failure.value
    assert error.path.endswith("bad.py") and error.line == 3
    assert "bad.py, line 3" in str(error) and "KeyError: 'missing'" in str(error)


async def test_syntax_errors_and_failing_init_name_file_and_line(settings, tmp_path):
    title = settings.default_title
    bad = broken_settings(
        settings, tmp_path, {f"{title}/oops.py": "def init(ctx, nk, initializer):\n    return (\n"}
    )
    with pytest.raises(RuntimeLoadError, match=r"oops\.py, line 2: SyntaxError"):
        await Node.start(bad)
    shutil.rmtree(tmp_path / "broken")
    bad = broken_settings(
        settings,
        tmp_path,
        {
            "dup.py": "def init(ctx, nk, initializer):\n    initializer.register_rpc('a', len)\n    initializer.register_rpc('A', len)\n"
        },
    )
    with pytest.raises(
        RuntimeLoadError, match=r"dup\.py, line 3, in init: ValueError: RPC 'a' is already registered"
    ):
        await Node.start(bad)
    shutil.rmtree(tmp_path / "broken")
    bad = broken_settings(
        settings,
        tmp_path,
        {"typo.py": "def init(ctx, nk, initializer):\n    initializer.register_after('GetAcount', print)\n"},
    )
    with pytest.raises(
        RuntimeLoadError, match=r"typo\.py, line 2, in init: ValueError: no API call named 'GetAcount'"
    ):
        await Node.start(bad)


def test_the_server_refuses_to_start_with_a_one_line_message(tmp_path):
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "broken.py").write_text("def init(ctx, nk, initializer):\n    pass\n\nundefined_name\n")
    env = {
        "OVERWORLD_DATA_DIR": str(tmp_path),
        "OVERWORLD_RUNTIME_PATH": str(folder),
        "OVERWORLD_LOG_FORMAT": "console",
    }
    with pytest.raises(RuntimeError) as failure, running_server(env, tmp_path):
        pass
    output = str(failure.value)
    assert "server code failed to load" in output and "broken.py, line 4" in output
    assert "NameError: name 'undefined_name' is not defined" in output
    assert "Traceback" not in output


async def test_no_runtime_path_means_no_rpcs(tmp_path, database_url):
    plain = load_settings(
        environ={},
        overrides={
            "database_url": database_url,
            "data_dir": str(tmp_path),
            "auto_migrate": False,
            "default_title": unique("t"),
            "metrics": False,
        },
    )
    node = await Node.start(plain)
    try:
        assert node.runtime.rpc(node.default_title.id, "echo") is None
        assert not node.hooks._any
    finally:
        await node.close()


# -- RPC over HTTP ------------------------------------------------------------------------------


async def test_rpc_with_a_session_post_and_get(client, api):
    token = bearer((await session(api))["token"])
    response = await client.post("/v2/rpc/echo", content=rpc_body('{"a": 1}'), headers=token)
    assert response.status_code == 200 and response.json() == {"id": "echo", "payload": '{"a": 1}'}
    response = await client.get("/v2/rpc/echo", params={"payload": "hi there"}, headers=token)
    assert response.json() == {"id": "echo", "payload": "hi there"}
    response = await client.post("/v2/rpc/Echo", headers=token)  # empty body: empty payload
    assert response.json() == {"id": "Echo", "payload": ""}
    response = await client.post("/v2/rpc/echo", content=b"null", headers=token)
    assert response.json()["payload"] == ""
    nothing = await client.post("/v2/rpc/nothing", content=rpc_body("x"), headers=token)
    assert nothing.json() == {"id": "nothing", "payload": ""}


async def test_rpc_context_describes_the_caller(client, node, api):
    device = unique("device-")
    created = await client.post(
        "/v2/account/authenticate/device",
        json={"id": device, "vars": {"tier": "gold"}},
        params={"username": unique("who")},
        headers=basic(node.default_title.server_key),
    )
    token = created.json()["token"]
    response = await client.post(
        "/v2/rpc/whoami",
        params={"extra": "1"},
        content=rpc_body("p"),
        headers={**bearer(token), "x-game": "yes"},
    )
    seen = json.loads(response.json()["payload"])
    assert seen["user_id"] == user_id_of(token) and seen["username"].startswith("who")
    assert seen["vars"] == {"tier": "gold"} and seen["client_ip"] == "203.0.113.7"
    assert seen["title"] == seen["init_title"] == node.default_title.name and seen["rpc_id"] == "whoami"
    assert seen["query_params"] == {"extra": ["1"]} and seen["payload"] == "p"
    assert "x-game" in seen["headers"] and "authorization" not in seen["headers"]


async def test_rpc_with_the_http_key(client, http_key):
    response = await client.post(
        "/v2/rpc/whoami", params={"http_key": http_key, "q": "v"}, content=rpc_body("x")
    )
    seen = json.loads(response.json()["payload"])
    assert seen["user_id"] == "" and seen["username"] == "" and seen["query_params"] == {"q": ["v"]}
    response = await client.get("/v2/rpc/echo", params={"http_key": http_key, "payload": "via get"})
    assert response.json() == {"id": "echo", "payload": "via get"}
    response = await client.post("/v2/rpc/echo", content=rpc_body("basic"), headers=basic(http_key))
    assert response.json() == {"id": "echo", "payload": "basic"}


async def test_rpc_refuses_wrong_or_missing_credentials(client, node, server_key):
    wrong = await client.post("/v2/rpc/echo", params={"http_key": "not-the-key"}, content=rpc_body("x"))
    assert wrong.status_code == 401
    assert wrong.json() == {"error": "HTTP key invalid", "code": 16, "message": "HTTP key invalid"}
    server_key_is_not_http_key = await client.post(
        "/v2/rpc/echo", content=rpc_body("x"), headers=basic(server_key)
    )
    assert server_key_is_not_http_key.status_code == 401
    missing = await client.post("/v2/rpc/echo", content=rpc_body("x"))
    assert missing.status_code == 401 and missing.json()["message"] == "Auth token or HTTP key required"
    bad_token = await client.post("/v2/rpc/echo", content=rpc_body("x"), headers=bearer("a.b.c"))
    assert bad_token.status_code == 401 and bad_token.json()["code"] == 16


async def test_rpc_unwrap_passes_payloads_as_they_are(client, http_key):
    raw = b'{"score": 10, "name": "\xc3\xa9"}'
    response = await client.post(
        "/v2/rpc/echo",
        params={"http_key": http_key, "unwrap": ""},
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200 and response.content == raw
    assert response.headers["content-type"].startswith("application/json")
    plain = await client.post("/v2/rpc/echo?unwrap&http_key=" + http_key, content=b"not json at all")
    assert plain.content == b"not json at all" and plain.headers["content-type"].startswith("text/plain")


async def test_rpc_body_must_be_a_json_string(client, http_key):
    response = await client.post("/v2/rpc/echo", params={"http_key": http_key}, content=b'{"a": 1}')
    assert response.status_code == 400 and response.json()["code"] == 3
    response = await client.post("/v2/rpc/echo", params={"http_key": http_key}, content=b"{broken")
    assert response.status_code == 400 and response.json()["code"] == 3


async def test_unknown_rpc_is_not_found(client, http_key):
    response = await client.post("/v2/rpc/no_such_rpc", params={"http_key": http_key}, content=rpc_body(""))
    assert response.status_code == 404
    assert response.json() == {
        "error": "RPC function not found",
        "code": 5,
        "message": "RPC function not found",
    }


async def test_rpc_errors_carry_their_code(client, http_key):
    for code, status in [(7, 403), (5, 404), (9, 400), (3, 400), (8, 429)]:
        payload = json.dumps({"code": code, "message": f"refused {code}"})
        response = await client.post("/v2/rpc/fail", params={"http_key": http_key}, content=rpc_body(payload))
        assert response.status_code == status
        assert response.json() == {"error": f"refused {code}", "code": code, "message": f"refused {code}"}


async def test_a_crashing_rpc_is_an_internal_error_with_its_message_as_in_nakama(client, http_key):
    with capture_logs() as logs:
        response = await client.post("/v2/rpc/crash", params={"http_key": http_key}, content=rpc_body("x"))
    # Nakama answers a Go or Lua RPC's error with code 13 (HTTP 500) and the error's text.
    assert response.status_code == 500
    assert response.json() == {"error": "secret detail 42", "code": 13, "message": "secret detail 42"}
    assert "Traceback" not in response.text and "ValueError" not in response.text
    failure = next(entry for entry in logs if entry["event"] == "rpc failed")
    assert failure["name"] == "crash" and failure["module"] == "testing" and failure["log_level"] == "error"
    response = await client.post("/v2/rpc/not_a_string", params={"http_key": http_key}, content=rpc_body("x"))
    assert response.status_code == 500 and response.json()["code"] == 13


async def test_rpc_error_messages_can_be_kept_from_callers(client, node, http_key):
    node.runtime.rpc_error_messages = False  # setting runtime_rpc_error_messages = false
    response = await client.post("/v2/rpc/crash", params={"http_key": http_key}, content=rpc_body("x"))
    assert response.status_code == 500
    assert response.json() == {
        "error": "Internal server error",
        "code": 13,
        "message": "Internal server error",
    }
    assert "secret detail" not in response.text


async def test_a_slow_rpc_hits_the_time_limit(client, http_key):
    started = time.monotonic()
    response = await client.post("/v2/rpc/slow", params={"http_key": http_key}, content=rpc_body("x"))
    assert response.status_code == 504 and response.json()["code"] == 4
    assert time.monotonic() - started < 5


# -- hooks and events from modules --------------------------------------------------------------


async def test_module_before_hook_rejects_a_call(client, server_key, api):
    response = await client.post(
        "/v2/account/authenticate/device", json={"id": unique("banned-")}, headers=basic(server_key)
    )
    assert response.status_code == 403 and response.json()["message"] == "This device is banned."
    await api.device(unique("device-"))  # others get in


async def test_module_before_hook_changes_a_call(client, api):
    token = bearer((await session(api))["token"])
    await client.put("/v2/account", json={"display_name": "quiet name"}, headers=token)
    account = (await client.get("/v2/account", headers=token)).json()
    assert account["user"]["display_name"] == "QUIET NAME"


async def test_a_before_hook_returning_none_turns_the_call_off_as_in_nakama(client, api):
    token = bearer((await session(api))["token"])
    response = await client.request("DELETE", "/v2/friend", params={"ids": str(uuid.uuid4())}, headers=token)
    assert response.status_code == 404
    assert response.json() == {"error": DISABLED, "code": 5, "message": DISABLED}
    assert (await client.get("/v2/friend", headers=token)).status_code == 200  # other calls run


async def test_a_crashing_before_hook_is_an_internal_error_with_its_message_as_in_nakama(client, api):
    """Nakama answers a before hook's Go or Lua error as an RPC's: code 13 with the error's text
    (runtime_rpc_error_messages, on by default, covers both); never the traceback."""
    token = bearer((await session(api))["token"])
    with capture_logs() as logs:
        response = await client.post(
            "/v2/account/link/custom", json={"id": unique("explode-")}, headers=token
        )
    assert response.status_code == 500
    assert response.json() == {"error": "'hidden hook detail'", "code": 13, "message": "'hidden hook detail'"}
    assert "Traceback" not in response.text and "KeyError" not in response.text
    failure = next(entry for entry in logs if entry["event"] == "before hook failed")
    assert failure["name"] == "LinkCustom" and failure["module"] == "testing"
    fine = await client.post("/v2/account/link/custom", json={"id": unique("custom-")}, headers=token)
    assert fine.status_code == 200


async def test_before_hook_error_messages_can_be_kept_from_callers(client, node, api):
    node.runtime.rpc_error_messages = False  # setting runtime_rpc_error_messages = false
    token = bearer((await session(api))["token"])
    response = await client.post("/v2/account/link/custom", json={"id": unique("explode-")}, headers=token)
    assert response.status_code == 500
    assert response.json() == {
        "error": "Internal server error",
        "code": 13,
        "message": "Internal server error",
    }
    assert "hidden" not in response.text


async def test_module_after_hook_audits_storage_writes(client, node, api):
    token = (await session(api))["token"]
    user_id = user_id_of(token)
    response = await client.put(
        "/v2/storage",
        json={"objects": [{"collection": "saves", "key": "slot1", "value": '{"level": 3}'}]},
        headers=bearer(token),
    )
    assert response.status_code == 200
    nk = ServerApi(node.runtime, node.default_title, "tests")
    [audit] = await nk.storage_read([{"collection": "audit", "key": "last_write", "user_id": user_id}])
    assert json.loads(audit.value) == {"objects": ["saves/slot1"], "client_ip": "203.0.113.7"}
    assert audit.permission_read == 0  # so the player cannot read it:
    read = await client.post(
        "/v2/storage",
        json={"object_ids": [{"collection": "audit", "key": "last_write", "user_id": user_id}]},
        headers=bearer(token),
    )
    assert read.json() == {}


async def test_account_created_event_runs_the_handler(client, node, api):
    device = unique("device-")
    with capture_logs() as logs:
        token = (await session(api, device))["token"]
        await node.runtime.drain()
    assert [e["properties"]["method"] for e in logs if e.get("name") == "account_created"] == ["device"]
    user_id = user_id_of(token)
    listed = await client.get(
        "/v2/storage/profile", params={"user_id": user_id, "limit": 10}, headers=bearer(token)
    )
    [obj] = listed.json()["objects"]
    assert obj["key"] == "start" and json.loads(obj["value"]) == {"coins": 100, "signed_up_with": "device"}
    # Logging in to the account again creates nothing, so no event.
    with capture_logs() as logs:
        assert "created" not in await session(api, device)
        await node.runtime.drain()
    assert not [e for e in logs if e.get("name") == "account_created"]


async def test_custom_events_reach_handlers_and_failing_handlers_harm_nothing(client, node, api):
    token = (await session(api))["token"]
    with capture_logs() as logs:
        response = await client.post("/v2/rpc/emit", content=rpc_body("boom"), headers=bearer(token))
        assert response.status_code == 200
        await node.runtime.drain()
    nk = ServerApi(node.runtime, node.default_title, "tests")
    [obj] = await nk.storage_read(
        [{"collection": "events", "key": "thing_happened", "user_id": user_id_of(token)}]
    )
    assert json.loads(obj.value) == {"properties": {"payload": "boom"}, "title": node.default_title.name}
    assert any(e["event"] == "event handler failed" and e["module"] == "testing" for e in logs)
    for reserved in ("account_created", "*"):  # "*" would run the handlers of every event twice
        with pytest.raises(InvalidArgument):
            nk.event(reserved, {})


async def test_client_events_reach_the_event_handlers(client, node, api):
    # POST /v2/event (Nakama's Event call): the title's handlers for that name get it, with the
    # caller as the event's user; reserved and empty names are refused.
    token = (await session(api))["token"]
    body = {"name": "thing_happened", "properties": {"level": "3"}, "external": True}
    response = await client.post("/v2/event", json=body, headers=bearer(token))
    assert response.status_code == 200 and response.json() == {}
    await node.runtime.drain()
    nk = ServerApi(node.runtime, node.default_title, "tests")
    [obj] = await nk.storage_read(
        [{"collection": "events", "key": "thing_happened", "user_id": user_id_of(token)}]
    )
    assert json.loads(obj.value) == {"properties": {"level": "3"}, "title": node.default_title.name}
    for bad in ({"name": ""}, {"name": "session_start"}, {"name": "*"}, {"name": "x" * 129}):
        refused = await client.post("/v2/event", json=bad, headers=bearer(token))
        assert refused.status_code == 400 and refused.json()["code"] == 3
    assert (await client.post("/v2/event", json=body)).status_code == 401


# -- the ServerApi ------------------------------------------------------------------------------


async def test_server_api_storage(node, api, client):
    nk = ServerApi(node.runtime, node.default_title, "tests")
    user_id = user_id_of((await session(api))["token"])
    acks = await nk.storage_write(
        [
            {
                "collection": "items",
                "key": "sword",
                "user_id": user_id,
                "value": {"damage": 7},
                "permission_write": 0,
            },
            ObjectWrite(collection="items", key="shield", value='{"armour": 3}', user_id=user_id),
            {"collection": "config", "key": "season", "value": {"number": 4}},  # the system user's
        ]
    )
    assert [a.user_id for a in acks] == [user_id, user_id, SYSTEM_USER]
    [sword] = await nk.storage_read([{"collection": "items", "key": "sword", "user_id": user_id}])
    assert json.loads(sword.value) == {"damage": 7} and sword.version == acks[0].version
    [season] = await nk.storage_read([{"collection": "config", "key": "season"}])
    assert json.loads(season.value) == {"number": 4}
    # Server writes ignore write permissions but keep versions.
    await nk.storage_write(
        [
            {
                "collection": "items",
                "key": "sword",
                "user_id": user_id,
                "value": {"damage": 8},
                "version": sword.version,
            }
        ]
    )
    with pytest.raises(InvalidArgument):
        await nk.storage_write(
            [
                {
                    "collection": "items",
                    "key": "sword",
                    "user_id": user_id,
                    "value": {},
                    "version": sword.version,
                }
            ]
        )
    first = await nk.storage_list("items", user_id=user_id, limit=1)
    second = await nk.storage_list("items", user_id=user_id, limit=1, cursor=first.cursor)
    assert [o.key for o in first.objects + second.objects] == ["shield", "sword"] and second.cursor == ""
    everyone = await nk.storage_list("config")
    assert [o.key for o in everyone.objects] == ["season"]
    await nk.storage_delete([{"collection": "items", "key": "sword", "user_id": user_id}])
    assert await nk.storage_read([{"collection": "items", "key": "sword", "user_id": user_id}]) == []


async def test_server_api_accounts_and_sessions(node, api, client):
    nk = ServerApi(node.runtime, node.default_title, "tests")
    first, second = await session(api), await session(api)
    uid = user_id_of(first["token"])
    account = await nk.account_get(uid)
    assert account.user.id == uid and len(account.devices) == 1
    await nk.account_update(uid, display_name="Hero", metadata={"rank": "captain"})
    wire = (await client.get("/v2/account", headers=bearer(first["token"]))).json()
    assert wire["user"]["display_name"] == "Hero" and json.loads(wire["user"]["metadata"]) == {
        "rank": "captain"
    }
    users = await nk.users_get(ids=[uid], usernames=[account.user.username, "nobody-at-all"])
    assert [u.id for u in users] == [uid]
    await nk.sessions_logout(uid)
    assert (await client.get("/v2/account", headers=bearer(first["token"]))).status_code == 401
    uid2 = user_id_of(second["token"])
    await nk.account_delete(uid2)
    assert (await client.get("/v2/account", headers=bearer(second["token"]))).status_code == 401
    with pytest.raises(NotFound):
        await nk.account_get(uid2)
    with pytest.raises(InvalidArgument):
        await nk.account_get("not-a-uuid")


async def test_server_api_http_request_logger_and_metrics(node):
    nk = ServerApi(node.runtime, node.default_title, "tests")

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = b'{"ok": true}'
        writer.write(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-Thing: 1\r\n")
        writer.write(b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        response = await nk.http_request(f"http://127.0.0.1:{port}/hook", "post", {"x-a": "b"}, '{"q": 1}')
    finally:
        server.close()
        await server.wait_closed()
    assert response.status == 201 and response.json() == {"ok": True} and response.headers["x-thing"] == "1"
    with pytest.raises(HttpRequestError):
        await nk.http_request(f"http://127.0.0.1:{port}/gone", timeout=2)
    with pytest.raises(HttpRequestError):
        await nk.http_request("file:///etc/passwd")

    with capture_logs() as logs:
        nk.logger.info("hello from a module", score=3)
    assert (
        logs[0]["title"] == node.default_title.name and logs[0]["module"] == "tests" and logs[0]["score"] == 3
    )

    labels = {"title": node.default_title.name}
    before = REGISTRY.get_sample_value("overworld_runtime_test_things_total", labels) or 0
    nk.metrics_counter_add("test_things", 2)
    assert REGISTRY.get_sample_value("overworld_runtime_test_things_total", labels) == before + 2
    with pytest.raises(ValueError):
        nk.metrics_counter_add("no spaces allowed")


# -- titles -------------------------------------------------------------------------------------


async def test_title_rpcs_and_hooks_stay_in_their_title(client, node, api):
    other = await node.titles.create(unique("other"))
    # Shared modules serve the new title at once; the first title's own folder does not.
    echo = await client.post("/v2/rpc/echo", params={"http_key": other.http_key}, content=rpc_body("hi"))
    assert echo.json() == {"id": "echo", "payload": "hi"}
    whoami = await client.post("/v2/rpc/whoami", params={"http_key": other.http_key}, content=rpc_body(""))
    assert json.loads(whoami.json()["payload"])["init_title"] == other.name
    token = (await session(api))["token"]
    mine = await client.post("/v2/rpc/daily_reward", content=rpc_body(""), headers=bearer(token))
    assert mine.status_code == 200 and json.loads(mine.json()["payload"]) == {"coins": 50}
    theirs = await client.post(
        "/v2/rpc/daily_reward", params={"http_key": other.http_key}, content=rpc_body("")
    )
    assert theirs.status_code == 404 and theirs.json()["code"] == 5
    # The first title's own before hook does not run for the other title.
    outsider = {"id": unique("outsider-")}
    refused = await client.post(
        "/v2/account/authenticate/custom", json=outsider, headers=basic(node.default_title.server_key)
    )
    assert refused.status_code == 403 and refused.json()["message"] == f"Not on {node.default_title.name}."
    allowed = await client.post(
        "/v2/account/authenticate/custom", json=outsider, headers=basic(other.server_key)
    )
    assert allowed.status_code == 200


async def test_a_titles_server_code_cannot_reach_another_title(client, node, api):
    other = await node.titles.create(unique("other"))
    theirs = await client.post(
        "/v2/account/authenticate/device", json={"id": unique("device-")}, headers=basic(other.server_key)
    )
    their_token = theirs.json()["token"]
    their_user = user_id_of(their_token)
    await client.put(
        "/v2/storage",
        json={
            "objects": [
                {"collection": "secrets", "key": "k", "value": '{"gold": 1000}', "permission_read": 2}
            ]
        },
        headers=bearer(their_token),
    )
    await node.runtime.drain()
    wanted = json.dumps({"collection": "secrets", "key": "k", "user_id": their_user})
    # The other title's own code sees the object; the first title's code does not.
    seen_there = await client.post(
        "/v2/rpc/read_object", params={"http_key": other.http_key}, content=rpc_body(wanted)
    )
    assert json.loads(seen_there.json()["payload"]) == ['{"gold": 1000}']
    http_key = node.default_title.http_key
    seen_here = await client.post(
        "/v2/rpc/read_object", params={"http_key": http_key}, content=rpc_body(wanted)
    )
    assert json.loads(seen_here.json()["payload"]) == []
    nk = ServerApi(node.runtime, node.default_title, "tests")
    with pytest.raises(NotFound):
        await nk.account_get(their_user)
    assert await nk.users_get(ids=[their_user]) == []
    assert (await nk.storage_list("secrets")).objects == []
    # The account_created handler ran for the other title, in the other title.
    other_nk = ServerApi(node.runtime, other, "tests")
    [start] = await other_nk.storage_read([{"collection": "profile", "key": "start", "user_id": their_user}])
    assert json.loads(start.value)["coins"] == 100


async def test_rpc_answers_the_same_with_and_without_the_fast_path(node, settings, api, http_key):
    """Guards the edge's fast path for /v2/rpc/{id} (when it serves RPCs) against the route."""
    import httpx

    from overworld.api.http.app import create_app

    token = bearer((await session(api))["token"])
    requests = [
        ("POST", "/v2/rpc/echo", {}, rpc_body("x"), token),
        ("GET", "/v2/rpc/echo", {"payload": "y"}, b"", token),
        ("POST", "/v2/rpc/echo", {"http_key": http_key, "unwrap": ""}, b"raw", {"content-type": "text/csv"}),
        ("POST", "/v2/rpc/echo", {"http_key": "wrong"}, rpc_body("x"), {}),
        ("POST", "/v2/rpc/echo", {}, rpc_body("x"), {}),
        ("POST", "/v2/rpc/echo", {"http_key": http_key}, b"{}", {}),
        ("POST", "/v2/rpc/missing", {"http_key": http_key}, rpc_body("x"), {}),
        ("POST", "/v2/rpc/crash", {"http_key": http_key}, rpc_body("x"), {}),
        ("PUT", "/v2/rpc/echo", {"http_key": http_key}, rpc_body("x"), {}),
    ]
    answers = []
    for fast_path in (True, False):
        app = create_app(settings, node=node, fast_path=fast_path)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as c:
            seen = []
            for method, path, params, body, headers in requests:
                response = await c.request(method, path, params=params, content=body, headers=headers)
                # The media type must match; Litestar may add a charset parameter to text types.
                media_type = response.headers["content-type"].split(";")[0]
                seen.append((response.status_code, response.content, media_type))
            answers.append(seen)
    assert answers[0] == answers[1]

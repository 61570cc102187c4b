"""The API call registry (overworld/api/calls.py) and what is built from it must agree: the hook
names, the Litestar routes, the HTTP fast path, the socket's dispatch table, the operations' types
and the ServerApi functions the calls name. Each test here fails when one of them drifts."""

from __future__ import annotations

import ast
import inspect
import re
import typing
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar

from overworld.api import calls
from overworld.api.http import fastpath
from overworld.api.http.app import create_app
from overworld.api.http.routes import ROUTES
from overworld.api.socket.dispatch import HANDLERS
from overworld.errors import PermissionDenied
from overworld.protocol import realtime as rt
from overworld.runtime import ServerApi
from overworld.runtime.hooks import Hooks
from tests.realtime_support import authenticate, live_server, open_socket
from tests.support import basic, bearer

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2] / "overworld"
NOT_CALLS = {"/v2/rpc/{id:str}"}  # RPCs run server code by id, without hooks
SOCKET_NOT_CALLS = {"ping", "pong", "rpc"}


def _served_routes() -> dict[tuple[str, str], Any]:
    """(method, path) -> route handler, for the API's routes (not the docs, health or RPC)."""
    served = {}
    for route in Litestar(route_handlers=ROUTES).routes:  # the routes create_app serves
        if not route.path.startswith("/v2/") or route.path in NOT_CALLS:
            continue
        for handler in getattr(route, "route_handlers", []):
            for method in handler.http_methods:
                if method not in ("OPTIONS", "HEAD"):
                    served[(method, route.path)] = handler
    return served


def _bindings() -> dict[tuple[str, str], calls.Call[Any, Any]]:
    return {(r.method, r.path): call for call in calls.REST_CALLS for r in call.rest}


# -- the registry's own shape ------------------------------------------------------------------------


def test_every_call_is_declared_once_with_an_operation_and_a_transport():
    assert len(calls.NAMES) == len(calls.CALLS) == len(calls.REST_CALLS) + len(calls.SOCKET_CALLS)
    for call in calls.CALLS:
        assert re.fullmatch(r"[A-Z][A-Za-z]+", call.name), call
        assert inspect.iscoroutinefunction(call.operation), call
        if isinstance(call, calls.Call):
            assert call.rest, call
        else:
            assert call.kind in rt.KINDS, call
    assert len(_bindings()) == sum(len(c.rest) for c in calls.REST_CALLS)
    with pytest.raises(ValueError, match="at least one REST binding"):
        calls.Call("Nowhere", msgspec.Struct, msgspec.Struct, calls.GET_ACCOUNT.operation, rest=())


def test_operations_take_and_return_the_declared_messages():
    for call in calls.CALLS:
        fn = call.operation
        annotations = inspect.get_annotations(fn)  # strings (postponed evaluation)
        request = list(inspect.signature(fn).parameters)[2]
        assert eval(annotations[request], fn.__globals__) is call.request, call  # noqa: S307
        returned = eval(annotations["return"], fn.__globals__)  # noqa: S307
        assert returned is call.response, call


# -- hooks -------------------------------------------------------------------------------------------


async def test_hooks_take_their_names_from_the_registry(node):
    assert node.hooks.calls == calls.NAMES

    async def hook(ctx: Any, request: Any) -> Any:
        return request

    for name in calls.NAMES:
        node.hooks.before(name, hook)
        node.hooks.remove(name, hook)
    with pytest.raises(ValueError, match="no API call named 'GetAcount'"):
        node.hooks.before("GetAcount", hook)
    with pytest.raises(ValueError, match="no API call named 'GetAcount'"):
        Hooks(["GetAccount"]).after("GetAcount", hook)  # type: ignore[arg-type]


def test_only_the_registry_runs_calls_through_the_hooks():
    """Every `hooks.call(...)` is the registry's (`Call.run`, `SocketCall.serve`): a call run
    under a name of its own would bypass the registry."""
    found = set()
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "call"
                and isinstance(node.func.value, ast.Attribute)
                and node.func.value.attr == "hooks"
            ):
                found.add(str(path.relative_to(ROOT.parent)))
    assert found == {"overworld/api/calls.py"}


# -- transports --------------------------------------------------------------------------------------


def test_the_rest_routes_are_the_registry_bindings():
    served = _served_routes()
    bindings = _bindings()
    assert sorted(served.keys() - bindings.keys()) == [], "routes without a call in the registry"
    assert sorted(bindings.keys() - served.keys()) == [], "REST bindings without a route"
    for key, handler in served.items():
        assert handler.parsed_fn_signature.return_type.annotation is bindings[key].response, key


def test_the_fast_path_serves_the_fast_calls_at_their_bindings():
    fast = {(r.method, r.path): c for c in calls.REST_CALLS if c.fast for r in c.rest}
    adapters = {}
    for (method, path), call in fast.items():
        if "{" not in path:
            handler = fastpath.FAST_ROUTES[(method, path)]
        else:
            matched = fastpath.leaderboard_route(method, re.sub(r"\{[^}]+\}", "x1", path))
            assert matched is not None and matched[1] == path, (method, path)
            handler = matched[0]
        adapters[call.name] = handler
    assert set(fastpath.FAST_ROUTES) == {k for k in fast if "{" not in k[1]}
    assert len(set(adapters.values())) == len(adapters)  # one adapter per call


def test_the_socket_dispatches_every_socket_call_by_its_kind():
    assert HANDLERS.keys() == {c.kind for c in calls.SOCKET_CALLS} | SOCKET_NOT_CALLS
    fields = typing.get_type_hints(rt.Envelope)
    for call in calls.SOCKET_CALLS:
        assert HANDLERS[call.kind] == call.serve
        assert fields[call.kind] == call.request | None, call  # what the envelope decodes


def test_the_server_api_has_the_functions_the_calls_name():
    named = {call.name: call.nk for call in calls.CALLS if call.nk}
    missing = {name: nk for name, nk in named.items() if not callable(getattr(ServerApi, nk, None))}
    assert missing == {}, "ServerApi functions named by the registry but missing"
    assert all(not nk.startswith("_") for nk in named.values())


# -- every binding runs its own call, under its own name, through the hooks ---------------------------


def _reject_every_call(node: Any) -> None:
    for name in calls.NAMES:

        async def reject(ctx: Any, request: Any, name: str = name) -> Any:
            raise PermissionDenied(f"hook {name}")

        node.hooks.before(name, reject)


BODIES = {("PUT", "/v2/overworld/admin/config/{key:str}"): {"value": 1}}  # checked before the call


@pytest.mark.parametrize("fast_path", [False, True])
async def test_every_rest_binding_runs_its_call_under_its_name(node, settings, api, fast_path):
    """With a before hook on every call that answers with the call's name, each binding answers
    with the name the registry gives it: the route (or the fast path's adapter) runs its own call."""
    session = await api.device()
    title = node.default_title
    _reject_every_call(node)
    app = create_app(settings, node=node, fast_path=fast_path)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t.local") as client:
        for (method, path), call in _bindings().items():
            params: dict[str, str] = {}
            if path.startswith(("/v2/account/authenticate/", "/v2/account/session/")):
                headers = basic(title.server_key)
            elif path.startswith("/v2/overworld/admin/"):
                headers, params = {}, {"http_key": title.http_key}
            else:
                headers = bearer(session["token"])
            body = BODIES.get((method, path), {})
            url = re.sub(r"\{[^}]+\}", "x1", path)
            response = await client.request(method, url, json=body, params=params, headers=headers)
            answer = (response.status_code, response.json().get("message"))
            assert answer == (403, f"hook {call.name}"), (method, path, response.text)


async def test_every_socket_kind_runs_its_call_under_its_name(node, settings):
    async with live_server(settings, node) as host:
        socket = await open_socket(host, await authenticate(host, node.default_title.server_key))
        _reject_every_call(node)
        try:
            for call in calls.SOCKET_CALLS:
                reply = await socket.request(call.kind, {})
                assert reply.get("error", {}).get("message") == f"hook {call.name}", (call, reply)
        finally:
            await socket.close()

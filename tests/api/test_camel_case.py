"""Request fields in lowerCamelCase, accepted as Nakama's gateway accepts them (protojson reads a
field by its proto name or its JSON name), in bodies and query parameters, on the fast path and
the framework's routes; responses keep the proto names. The drift tests check every request type
of every REST call and every query parameter of every route."""

from __future__ import annotations

import enum
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import msgspec
import pytest
from litestar import Litestar
from litestar.params import KwargDefinition
from msgspec import inspect

from overworld.api import calls
from overworld.api.http.app import create_app
from overworld.api.http.names import QueryNames
from overworld.api.http.routes import ROUTES
from overworld.protocol.camel import Renamer, json_name
from tests.support import basic, bearer, unique

anyio = pytest.mark.anyio


@pytest.fixture(params=["fast", "routes"])
async def http(request, node, settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, node=node, fast_path=request.param == "fast")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t.local") as client:
        yield client


async def _session(http: httpx.AsyncClient, server_key: str, **body: Any) -> dict[str, str]:
    response = await http.post(
        "/v2/account/authenticate/device", json={"id": unique("device-"), **body}, headers=basic(server_key)
    )
    assert response.status_code == 200, response.text
    session: dict[str, str] = response.json()
    return session


@anyio
async def test_account_and_session_calls(http, server_key):
    session = await _session(http, server_key, vars={"userId": "kept", "lang_tag": "kept too"})
    # Free-form maps keep their keys: session vars are not field names.
    assert jwt.decode(session["token"], options={"verify_signature": False})["vrs"] == {
        "userId": "kept",
        "lang_tag": "kept too",
    }
    token = bearer(session["token"])
    update = await http.put(
        "/v2/account", json={"displayName": "Dana", "avatarUrl": "https://a.example/d.png", "langTag": "fr"},
        headers=token,
    )  # fmt: skip
    assert update.status_code == 200, update.text
    user = (await http.get("/v2/account", headers=token)).json()["user"]
    # Responses keep the proto names, as Nakama's gateway (UseProtoNames) writes them.
    assert user["display_name"] == "Dana" and user["avatar_url"] == "https://a.example/d.png"
    assert user["lang_tag"] == "fr" and "displayName" not in user
    # Both names of one field: refused, as protojson refuses a duplicate field.
    both = await http.put("/v2/account", json={"displayName": "A", "display_name": "B"}, headers=token)
    assert both.status_code == 400 and both.json()["code"] == 3
    # Logout by refreshToken: the refresh token stops working.
    other = await _session(http, server_key)
    out = await http.post(
        "/v2/session/logout",
        json={"token": other["token"], "refreshToken": other["refresh_token"]},
        headers=bearer(other["token"]),
    )
    assert out.status_code == 200, out.text
    refresh = await http.post(
        "/v2/account/session/refresh", json={"token": other["refresh_token"]}, headers=basic(server_key)
    )
    assert refresh.status_code == 401


@anyio
async def test_storage_bodies_and_query(http, server_key):
    session = await _session(http, server_key)
    token = bearer(session["token"])
    user_id = (await http.get("/v2/account", headers=token)).json()["user"]["id"]
    value = '{"userId": "a value, not a field", "permission_read": 0}'
    write = await http.put(
        "/v2/storage",
        json={
            "objects": [
                {"collection": "c", "key": "k", "value": value, "permissionRead": 2, "permissionWrite": 0}
            ]
        },
        headers=token,
    )
    assert write.status_code == 200, write.text
    read = await http.post(
        "/v2/storage", json={"objectIds": [{"collection": "c", "key": "k", "userId": user_id}]}, headers=token
    )
    assert read.status_code == 200, read.text
    [found] = read.json()["objects"]
    assert found["permission_read"] == 2 and "permission_write" not in found  # 0, left out
    assert found["value"] == value  # a string, never renamed
    assert found["user_id"] == user_id
    listed = await http.get("/v2/storage/c", params={"userId": user_id, "limit": 10}, headers=token)
    assert listed.status_code == 200
    assert [o["key"] for o in listed.json()["objects"]] == ["k"]
    # Without the user id, the public objects of all users: the same one here, so the name counted.
    other = await http.get("/v2/storage/c", params={"userId": unique("nobody")}, headers=token)
    assert other.status_code in (200, 400) and other.json().get("objects", []) == []


@anyio
async def test_group_body_and_query(http, server_key):
    owner = bearer((await _session(http, server_key))["token"])
    member = await _session(http, server_key)
    member_id = (await http.get("/v2/account", headers=bearer(member["token"]))).json()["user"]["id"]
    lang = unique("l")[:10]
    created = await http.post(
        "/v2/group",
        json={"name": unique("g"), "langTag": lang, "avatarUrl": "https://a.example/g.png", "maxCount": 7,
              "open": True},
        headers=owner,
    )  # fmt: skip
    assert created.status_code == 200, created.text
    group = created.json()
    assert group["lang_tag"] == lang and group["max_count"] == 7 and group["avatar_url"].endswith("g.png")
    found = await http.get("/v2/group", params={"langTag": lang, "limit": 10}, headers=owner)
    assert [g["id"] for g in found.json()["groups"]] == [group["id"]]
    added = await http.post(f"/v2/group/{group['id']}/add", params={"userIds": member_id}, headers=owner)
    assert added.status_code == 200, added.text
    users = (await http.get(f"/v2/group/{group['id']}/user", headers=owner)).json()["group_users"]
    assert member_id in [u["user"]["id"] for u in users]


@anyio
async def test_rpc_query_is_handed_over_as_sent(client, server_key, node):
    """RPCs are not renamed: `httpKey` is not `http_key` (Nakama's RPC handler reads the latter)."""
    response = await client.post(
        "/v2/rpc/echo", params={"httpKey": node.default_title.http_key}, content=b'"x"'
    )
    assert response.status_code == 401


# -- drift: every request type, every query parameter ----------------------------------------------


def _sample(info: inspect.Type) -> Any:
    """A valid value of a type, with every field of every Struct in it set."""
    if isinstance(info, inspect.Metadata):
        return _sample(info.type)
    if isinstance(info, inspect.StructType):
        return info.cls(**{f.name: _sample(f.type) for f in info.fields})
    if isinstance(info, inspect.UnionType):
        return _sample(next(t for t in info.types if not isinstance(t, inspect.NoneType)))
    if isinstance(info, inspect.ListType | inspect.VarTupleType | inspect.SetType | inspect.FrozenSetType):
        return [_sample(info.item_type)]
    if isinstance(info, inspect.DictType):
        return {"k": _sample(info.value_type)}
    if isinstance(info, inspect.LiteralType):
        return info.values[0]
    if isinstance(info, inspect.EnumType):
        first: enum.Enum = next(iter(info.cls))
        return first
    simple = {inspect.StrType: "x", inspect.IntType: 1, inspect.FloatType: 1.5, inspect.BoolType: True}
    for kind, value in simple.items():
        if isinstance(info, kind):
            return value
    if isinstance(info, inspect.AnyType):
        return "x"
    raise AssertionError(f"no sample for {info}")


def _camel_keys(value: Any, names: set[str]) -> Any:
    if isinstance(value, dict):
        return {(json_name(k) if k in names else k): _camel_keys(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel_keys(v, names) for v in value]
    return value


def _field_names(info: inspect.Type, found: set[str]) -> set[str]:
    if isinstance(info, inspect.StructType):
        if info.cls.__name__ in found:
            return found
        found.add(info.cls.__name__)
        for field in info.fields:
            found.add(field.encode_name)
            _field_names(field.type, found)
    for attr in ("type", "item_type", "value_type"):
        if hasattr(info, attr):
            _field_names(getattr(info, attr), found)
    for inner in getattr(info, "types", ()):
        _field_names(inner, found)
    return found


def _handlers() -> list[Any]:
    app = Litestar(route_handlers=ROUTES)  # the routes as registered, signatures resolved
    return [handler for route in app.routes for handler in getattr(route, "route_handlers", [])]


def _body_types() -> dict[str, Any]:
    """Every type a REST body is decoded into: each route's `data`, each call's request."""
    kinds: dict[str, Any] = {f"call {call.name}": call.request for call in calls.REST_CALLS}
    for handler in _handlers():
        field = handler.parsed_data_field
        if field is not None:
            kinds[f"route {handler}"] = field.annotation
    return kinds


@pytest.mark.parametrize(("where", "kind"), sorted(_body_types().items(), key=lambda item: item[0]))
def test_every_request_type_accepts_its_camel_case_names(where, kind):
    info = inspect.type_info(kind)
    sample = _sample(info)
    snake = msgspec.to_builtins(sample)
    names = {n for n in _field_names(info, set()) if json_name(n) != n}
    camel = _camel_keys(snake, names)
    decoded = Renamer.of(kind).decode(msgspec.json.encode(camel), kind)
    assert msgspec.to_builtins(decoded) == snake, where
    assert Renamer.of(kind).names == {json_name(n) for n in names}, where


def test_every_query_parameter_accepts_its_camel_case_name():
    queries = QueryNames(call.request for call in calls.REST_CALLS)
    missing = []
    for handler in _handlers():
        if "/v2/rpc/" in str(handler.paths):
            continue
        path_params = {p for path in handler.paths for p in re.findall(r"{(\w+):", path)}
        skipped = {"request", "data", *handler.resolve_dependencies(), *path_params}
        for name, field in handler.parsed_fn_signature.parameters.items():
            if name in skipped:
                continue
            definition = field.kwarg_definition
            query = (definition.query if isinstance(definition, KwargDefinition) else None) or name
            if json_name(query) != query and queries.names.get(json_name(query)) != query:
                missing.append(f"{handler}: {query}")
    assert missing == []


def test_query_names_are_renamed_only_as_whole_names():
    queries = QueryNames(call.request for call in calls.REST_CALLS)
    assert queries.rename(b"userId=1&limit=2") == b"user_id=1&limit=2"
    assert (
        queries.rename(b"ownerIds=a&ownerIds=b&cursor=xUserId") == b"owner_ids=a&owner_ids=b&cursor=xUserId"
    )
    assert queries.rename(b"myuserId=1&userIdx=2") == b"myuserId=1&userIdx=2"
    query = b"create=true"
    assert queries.rename(query) is query

"""Issue 15, defect 5: input that made the server answer 500 is a 400 naming the field (401 for
a token), on REST and the socket, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx
import orjson
import pytest

from overworld.protocol.jsondepth import MAX_JSON_DEPTH, too_deep
from overworld.runtime import ServerApi
from tests.support import bearer, unique

pytestmark = pytest.mark.anyio

DEEP_OBJECT = '{"a":' * 2000 + "1" + "}" * 2000  # under 12 KB
DEEP_ARRAY = "[" * 2000 + "]" * 2000  # 4 KB


def assert_400(response: httpx.Response, *names: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == 3
    assert any(name in body["message"] for name in names), body["message"]


@pytest.fixture
async def session(api):
    return await api.device()


async def test_operator_digits_that_are_not_ascii(client, node, session):
    nk = ServerApi(node.runtime, node.default_title, "tests")
    board = unique("board")
    await nk.leaderboard_create(board)
    for operator in ("²", "٣", "-²", "9" * 5000):
        response = await client.post(
            f"/v2/leaderboard/{board}",
            json={"score": 1, "operator": operator},
            headers=bearer(session["token"]),
        )
        assert_400(response, "operator")
    ok = await client.post(
        f"/v2/leaderboard/{board}", json={"score": 1, "operator": "2"}, headers=bearer(session["token"])
    )
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("members", ["2147483648", "99999999999", "9223372036854775808", "-1"])
async def test_group_members_out_of_range(client, session, members):
    response = await client.get("/v2/group", params={"members": members}, headers=bearer(session["token"]))
    assert_400(response, "members")


async def test_integer_query_parameters_out_of_range(client, node, session):
    nk = ServerApi(node.runtime, node.default_title, "tests")
    board = unique("board")
    await nk.leaderboard_create(board)
    huge = "99999999999999999999999"
    h = bearer(session["token"])
    cases = [
        (f"/v2/leaderboard/{board}", {"expiry": huge}, "expiry"),
        (f"/v2/leaderboard/{board}", {"limit": huge}, "limit"),
        ("/v2/tournament", {"start_time": huge}, "start_time"),
        ("/v2/tournament", {"end_time": huge}, "end_time"),
        ("/v2/tournament", {"category_end": huge}, "category"),
        ("/v2/match", {"min_size": huge}, "min_size"),
        ("/v2/match", {"max_size": huge}, "max_size"),
        ("/v2/friend", {"state": huge}, "state"),
        ("/v2/group", {"limit": "2147483648"}, "limit"),
        ("/v2/notification", {"limit": huge}, "limit"),
    ]
    for path, params, name in cases:
        assert_400(await client.get(path, params=params, headers=h), name)


async def test_scores_beyond_int64(client, node, session):
    nk = ServerApi(node.runtime, node.default_title, "tests")
    board = unique("board")
    await nk.leaderboard_create(board)
    for record in ({"score": 2**63}, {"score": "99999999999999999999999"}, {"subscore": -(2**64)}):
        response = await client.post(
            f"/v2/leaderboard/{board}", json=record, headers=bearer(session["token"])
        )
        assert_400(response, "score")


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("PUT", "/v2/account", DEEP_ARRAY),
        ("PUT", "/v2/account", f'{{"display_name": {DEEP_OBJECT}}}'),
        ("POST", "/v2/group", DEEP_ARRAY),
        ("POST", "/v2/group", f'{{"name": "g", "metadata": {DEEP_OBJECT}}}'),
        ("POST", "/v2/event", f'{{"name": "x", "properties": {DEEP_OBJECT}}}'),
        (
            "PUT",
            "/v2/storage",
            '{{"objects": [{{"collection": "c", "key": "k", "value": {}}}]}}'.format(
                json.dumps('{"a":' * 300 + "1" + "}" * 300)
            ),
        ),
        ("POST", "/v2/rpc/echo", json.dumps(DEEP_ARRAY)),
        ("POST", "/v2/rpc/echo", DEEP_ARRAY),
    ],
)
async def test_deeply_nested_json_bodies(client, session, method, path, body):
    response = await client.request(method, path, content=body, headers=bearer(session["token"]))
    if path == "/v2/rpc/echo" and body.startswith('"'):  # a payload string is server code's to parse
        assert response.status_code != 500
        return
    assert_400(response, "request body", "metadata", "value", "payload", "nested")


async def test_deeply_nested_leaderboard_writes(client, node, session):
    nk = ServerApi(node.runtime, node.default_title, "tests")
    board = unique("board")
    await nk.leaderboard_create(board)
    for body in (
        DEEP_ARRAY,
        f'{{"score": 1, "metadata": {DEEP_OBJECT}}}',
        '{{"score": 1, "metadata": {}}}'.format(json.dumps('{"a":' * 100 + "1" + "}" * 100)),
    ):
        response = await client.post(
            f"/v2/leaderboard/{board}", content=body, headers=bearer(session["token"])
        )
        assert_400(response, "request body", "metadata", "nested")


async def test_server_code_payloads_meet_the_same_limit(node):
    nk = ServerApi(node.runtime, node.default_title, "tests")
    from overworld.errors import InvalidArgument

    user = (await node.accounts.authenticate_device(node.default_title, unique("device-"), True)).user_id
    deep = '{"a":' * 100 + "1" + "}" * 100
    with pytest.raises(InvalidArgument, match="value"):
        await nk.storage_write([{"collection": "c", "key": "k", "user_id": user, "value": deep}])
    with pytest.raises(InvalidArgument, match="metadata"):
        await nk.account_update(user, metadata=deep)
    with pytest.raises(InvalidArgument, match="metadata"):
        await nk.group_create(user, unique("g"), metadata=deep)


def test_the_depth_limit_is_exact():
    at_limit = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert not too_deep(at_limit) and too_deep("[" + at_limit + "]")
    assert not too_deep(json.dumps(["[" * 500]))  # brackets inside strings do not count
    assert too_deep(b'["\\"", ' + b"{" * 70 + b"}" * 70 + b"]")


def forged(node, **claims) -> str:
    """A token signed with the title's real secret, carrying `claims`."""
    title = node.default_title
    header = {"alg": "HS256", "kid": title.id, "typ": "JWT"}
    now = int(time.time())
    payload = {"tid": "t", "uid": "u", "usn": "n", "exp": now + 600, "iat": now, **claims}

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing = b64(orjson.dumps(header)) + b"." + b64(orjson.dumps(payload))
    signature = b64(hmac.new(title.token_secret, signing, hashlib.sha256).digest())
    return (signing + b"." + signature).decode()


@pytest.mark.parametrize(
    "claims", [{"ius": "abc"}, {"ius": [1]}, {"ius": 1.5}, {"uid": {"x": 1}}, {"tid": 7}]
)
async def test_signed_tokens_with_claims_of_the_wrong_type(client, node, claims):
    response = await client.get("/v2/account", headers=bearer(forged(node, **claims)))
    assert response.status_code == 401, response.text
    assert response.json()["code"] == 16


async def test_deeply_nested_socket_frames_get_an_error_and_the_socket_stays(node, settings):
    from tests.realtime_support import authenticate, live_server, open_socket

    async with live_server(settings, node) as host:
        session = await authenticate(host, node.default_title.server_key)
        sock = await open_socket(host, session)
        try:
            for frame in (
                "[" * 2000 + "]" * 2000,
                f'{{"cid": "1", "rpc": {{"id": "echo", "x": {DEEP_ARRAY[:3000]}}}}}',
                '{"cid": "2", "status_update": {"status": %s}}' % ("[" * 1500 + "]" * 1500),
            ):
                await sock.send_raw(frame)
                error = await sock.push("error")
                assert error["code"] == 3 and "nested" in error["message"], error
            assert not sock.closed.done()
            reply = await sock.request("rpc", {"id": "nothing-here", "payload": ""})
            assert "error" in reply  # still served
        finally:
            await sock.close()

"""Refresh with rotation, logout, expiry."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overworld.errors import Unauthenticated
from overworld.sessions import tokens
from overworld.sessions.revocations import SESSION
from overworld.titles.models import Title
from tests.conftest import Api
from tests.support import basic, bearer

pytestmark = pytest.mark.anyio


async def test_refresh_issues_a_working_session_and_rotates(client, api: Api, server_key):
    session = await api.device()
    refreshed = await client.post(
        "/v2/account/session/refresh", json={"token": session["refresh_token"]}, headers=basic(server_key)
    )
    assert refreshed.status_code == 200
    body = refreshed.json()
    assert body["token"] != session["token"] and body["refresh_token"] != session["refresh_token"]
    assert (await client.get("/v2/account", headers=bearer(body["token"]))).status_code == 200
    # The old refresh token was used once: a second use is refused.
    reused = await client.post(
        "/v2/account/session/refresh", json={"token": session["refresh_token"]}, headers=basic(server_key)
    )
    assert reused.status_code == 401 and reused.json()["code"] == 16


async def test_refresh_rejects_garbage_and_session_tokens(client, api: Api, server_key):
    session = await api.device()
    for token in ("garbage", session["token"]):
        response = await client.post(
            "/v2/account/session/refresh", json={"token": token}, headers=basic(server_key)
        )
        assert response.status_code == 401
    missing = await client.post("/v2/account/session/refresh", json={}, headers=basic(server_key))
    assert missing.status_code == 400


async def test_logout_stops_token_and_refresh_token(client, api: Api, server_key):
    session = await api.device()
    headers = bearer(session["token"])
    response = await client.post(
        "/v2/session/logout",
        json={"token": session["token"], "refresh_token": session["refresh_token"]},
        headers=headers,
    )
    assert response.status_code == 200 and response.json() == {}
    assert (await client.get("/v2/account", headers=headers)).status_code == 401
    refresh = await client.post(
        "/v2/account/session/refresh", json={"token": session["refresh_token"]}, headers=basic(server_key)
    )
    assert refresh.status_code == 401


async def test_logout_of_one_session_leaves_others(client, api: Api):
    device = "device-" + "x" * 10
    first = await api.device(device)
    second = await api.device(device)
    await client.post("/v2/session/logout", json={}, headers=bearer(first["token"]))
    # An empty body means every session of the user ends.
    assert (await client.get("/v2/account", headers=bearer(second["token"]))).status_code == 401
    third = await api.device(device)
    fourth = await api.device(device)
    await client.post("/v2/session/logout", json={"token": third["token"]}, headers=bearer(third["token"]))
    assert (await client.get("/v2/account", headers=bearer(third["token"]))).status_code == 401
    assert (await client.get("/v2/account", headers=bearer(fourth["token"]))).status_code == 200


async def test_revocations_survive_a_restart(client, api: Api, node):
    session = await api.device()
    await client.post(
        "/v2/session/logout", json={"token": session["token"]}, headers=bearer(session["token"])
    )
    fresh = type(node.revocations)(node.db, node.pubsub)
    await fresh.reload()
    claims = tokens.verify(node.default_title, session["token"], refresh=False)
    assert fresh.is_revoked(node.default_title.id, claims.token_id, claims.user_id, claims.issued_at_us)


async def test_expired_token_is_refused(client, api: Api, node):
    session = await api.device()
    claims = tokens.verify(node.default_title, session["token"], refresh=False)
    expired = tokens.issue(
        node.default_title, claims.user_id, claims.username, {}, ttl_sec=-10, refresh=False
    )
    response = await client.get("/v2/account", headers=bearer(expired))
    assert response.status_code == 401 and response.json()["message"] == "Auth token invalid"


async def test_logout_with_someone_elses_or_garbage_tokens_is_invalid_argument(client, api: Api):
    me = await api.device()
    other = await api.device()
    for body in ({"token": other["token"]}, {"refresh_token": "garbage"}, {"token": "garbage"}):
        response = await client.post("/v2/session/logout", json=body, headers=bearer(me["token"]))
        assert response.status_code == 400 and response.json()["code"] == 3
    assert (await client.get("/v2/account", headers=bearer(other["token"]))).status_code == 200


@settings(max_examples=200, deadline=None)
@given(
    username=st.text(max_size=40),
    vars_=st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=4),
    ttl=st.integers(60, 10**8),
)
def test_the_claims_a_token_is_signed_with_are_the_ones_verify_reads(username, vars_, ttl):
    title = Title(
        id="t1", name="one", server_key="s", http_key="h", token_secret=b"k" * 32, refresh_secret=b"r" * 32
    )
    token, claims = tokens.sign(title, "user-1", username, vars_, ttl, refresh=False)
    assert tokens.verify(title, token, refresh=False) == claims


async def test_a_new_session_is_known_to_its_node_at_once_and_still_revocable(api: Api, node, monkeypatch):
    """The node that signs a session keeps its claims: the first call with it (a socket's upgrade,
    as a rule) verifies no signature, and a revocation still applies to it."""
    title = node.default_title
    pair = node.sessions.issue(title, "user-7", "seven", {"k": "v"})

    def no_verification(*args: object, **kwargs: object) -> None:
        raise AssertionError("the signature was verified again")

    monkeypatch.setattr(tokens, "verify", no_verification)
    _, claims = node.sessions.authenticate(pair.token)
    assert (claims.user_id, claims.username, claims.vars, claims.title_id) == (
        "user-7",
        "seven",
        {"k": "v"},
        title.id,
    )
    await node.revocations.revoke_token(
        title.id, claims.token_id, claims.user_id, claims.expires_at * 1000, SESSION
    )
    with pytest.raises(Unauthenticated):
        node.sessions.authenticate(pair.token)

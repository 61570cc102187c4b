"""Authentication over REST, with Nakama's shapes, codes and messages."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from typing import Any

import msgspec
import pytest

from overworld.config import Settings
from tests.conftest import Api
from tests.support import basic, bearer, unique

pytestmark = pytest.mark.anyio
# The count limits on their own, without the growing delays between failures (tested below).
NO_DELAYS = pytest.mark.parametrize("changes", [{"lockout_delay_sec": 0}], indirect=True, ids=["no-delays"])


@pytest.fixture
def changes(request: pytest.FixtureRequest) -> dict[str, Any]:
    return dict(getattr(request, "param", {}))


@pytest.fixture
def settings(settings: Settings, changes: dict[str, Any]) -> Settings:
    return msgspec.structs.replace(settings, **changes)


def claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))  # type: ignore[no-any-return]


async def test_device_creates_then_logs_in(client, server_key):
    device = unique("device-")
    first = await client.post(
        "/v2/account/authenticate/device",
        json={"id": device},
        params={"create": "true"},
        headers=basic(server_key),
    )
    assert first.status_code == 200
    body = first.json()
    assert body["created"] is True
    assert set(body) == {"created", "token", "refresh_token"}
    second = await client.post(
        "/v2/account/authenticate/device", json={"id": device}, headers=basic(server_key)
    )
    assert second.status_code == 200
    assert "created" not in second.json()  # false is a zero value: omitted, as protojson does
    assert claims(second.json()["token"])["uid"] == claims(body["token"])["uid"]


async def test_token_claims_are_the_ones_clients_read(api: Api):
    session = await api.device(username="claimant", vars="ignored")
    token = claims(session["token"])
    assert token["usn"] == "claimant"
    assert isinstance(token["exp"], int) and isinstance(token["uid"], str) and token["tid"]
    refresh = claims(session["refresh_token"])
    assert refresh["uid"] == token["uid"] and refresh["exp"] > token["exp"]


async def test_vars_are_carried_in_the_token(client, server_key):
    response = await client.post(
        "/v2/account/authenticate/custom",
        json={"id": unique("custom-"), "vars": {"region": "eu", "build": "42"}},
        headers=basic(server_key),
    )
    assert claims(response.json()["token"])["vrs"] == {"region": "eu", "build": "42"}


async def test_create_false_for_unknown_account_is_not_found(client, server_key):
    response = await client.post(
        "/v2/account/authenticate/device",
        json={"id": unique("device-")},
        params={"create": "false"},
        headers=basic(server_key),
    )
    assert response.status_code == 404
    assert response.json() == {
        "error": "User account not found.",
        "code": 5,
        "message": "User account not found.",
    }


async def test_username_taken_is_already_exists(api: Api, client, server_key):
    await api.device(username="sameuser")
    response = await client.post(
        "/v2/account/authenticate/device",
        json={"id": unique("device-")},
        params={"username": "sameuser"},
        headers=basic(server_key),
    )
    assert response.status_code == 409
    assert response.json()["code"] == 6


async def test_generated_usernames_are_unique(api: Api):
    names = {claims((await api.device())["token"])["usn"] for _ in range(20)}
    assert len(names) == 20


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("device", {"id": "short"}, "Device ID invalid, must be 10-128 bytes."),
        ("device", {}, "Device ID is required."),
        ("device", {"id": "x" * 129}, "Device ID invalid, must be 10-128 bytes."),
        ("custom", {"id": "abc"}, "Custom ID invalid, must be 6-128 bytes."),
        ("email", {"email": "not-an-email", "password": "password1"}, "Invalid email address format."),
        (
            "email",
            {"email": "someone@example.com", "password": "short"},
            "Password must be at least 8 characters long.",
        ),
    ],
)
async def test_invalid_identifiers_are_rejected(client, server_key, path, body, message):
    response = await client.post(f"/v2/account/authenticate/{path}", json=body, headers=basic(server_key))
    assert response.status_code == 400
    assert response.json() == {"error": message, "code": 3, "message": message}


async def test_wrong_types_and_malformed_json_are_invalid_argument(client, server_key):
    wrong = await client.post("/v2/account/authenticate/device", json={"id": 5}, headers=basic(server_key))
    assert wrong.status_code == 400 and wrong.json()["code"] == 3 and "id" in wrong.json()["message"]
    broken = await client.post(
        "/v2/account/authenticate/device",
        content=b'{"id":',
        headers={**basic(server_key), "content-type": "application/json"},
    )
    assert broken.status_code == 400 and broken.json()["code"] == 3


async def test_server_key_is_required_and_checked(client):
    missing = await client.post("/v2/account/authenticate/device", json={"id": unique("device-")})
    assert missing.status_code == 401
    assert missing.json() == {"error": "Server key required", "code": 16, "message": "Server key required"}
    wrong = await client.post(
        "/v2/account/authenticate/device", json={"id": unique("device-")}, headers=basic("not-the-key")
    )
    assert wrong.status_code == 401 and wrong.json()["message"] == "Server key invalid"


async def test_email_signup_login_and_wrong_password(client, server_key):
    email = f"{unique('p')}@example.com"
    signup = await client.post(
        "/v2/account/authenticate/email",
        json={"email": email, "password": "correct horse"},
        headers=basic(server_key),
    )
    assert signup.status_code == 200 and signup.json()["created"] is True
    upper = await client.post(
        "/v2/account/authenticate/email",
        json={"email": email.upper(), "password": "correct horse"},
        headers=basic(server_key),
    )
    assert (
        upper.status_code == 200
        and claims(upper.json()["token"])["uid"] == claims(signup.json()["token"])["uid"]
    )
    wrong = await client.post(
        "/v2/account/authenticate/email",
        json={"email": email, "password": "wrong horse"},
        headers=basic(server_key),
    )
    assert wrong.status_code == 401
    assert wrong.json()["message"] == "Invalid credentials."


async def test_email_authentication_without_an_email_logs_in_by_username(client, server_key):
    # As in Nakama: no email, a username and the password log in; never a sign-up.
    name = unique("player")
    email = f"{unique('u')}@example.com"
    signup = await client.post(
        "/v2/account/authenticate/email",
        params={"username": name},
        json={"email": email, "password": "correct horse"},
        headers=basic(server_key),
    )
    assert signup.status_code == 200

    async def login(username: str | None, password: str, **params: str) -> tuple[int, dict[str, object]]:
        query = {**params, **({"username": username} if username is not None else {})}
        response = await client.post(
            "/v2/account/authenticate/email",
            params=query,
            json={"email": "", "password": password},
            headers=basic(server_key),
        )
        return response.status_code, response.json()

    status, body = await login(name, "correct horse", create="true")
    assert status == 200 and "created" not in body
    assert claims(str(body["token"]))["uid"] == claims(signup.json()["token"])["uid"]
    assert await login(None, "correct horse") == (
        400,
        {"error": "Username is required when email address is not supplied.", "code": 3,
         "message": "Username is required when email address is not supplied."},
    )  # fmt: skip
    status, body = await login(name, "wrong horse")
    assert status == 401 and body["message"] == "Invalid credentials."
    status, body = await login(unique("nobody"), "correct horse", create="true")
    assert status == 404 and body["message"] == "User account not found."
    status, body = await login(name, "short")
    assert status == 400 and body["message"] == "Password must be at least 8 characters long."


@NO_DELAYS
async def test_repeated_failures_lock_the_account_out(client, server_key, node):
    email = f"{unique('lock')}@example.com"
    good = {"email": email, "password": "the right one"}
    await client.post("/v2/account/authenticate/email", json=good, headers=basic(server_key))
    bad = {"email": email, "password": "the wrong one"}
    for _ in range(node.settings.lockout_account_failures):
        response = await client.post("/v2/account/authenticate/email", json=bad, headers=basic(server_key))
        assert response.status_code == 401
    locked = await client.post("/v2/account/authenticate/email", json=good, headers=basic(server_key))
    assert locked.status_code == 429
    assert locked.json()["code"] == 8


async def test_each_failure_makes_the_next_guess_wait_longer(client, server_key, node):
    """Growing delays (lockout_delay_sec = 1, doubling): a guess that comes before the wait is
    over is refused with 429, Retry-After and code 8, and is not counted; each wait is longer
    than the one before (1 s, 2 s, 4 s: measured from below, which a slow machine cannot break)."""
    email = f"{unique('slow')}@example.com"
    url, key = "/v2/account/authenticate/email", basic(server_key)
    await client.post(url, json={"email": email, "password": "the right one"}, headers=key)
    bad = {"email": email, "password": "the wrong one"}
    assert (await client.post(url, json=bad, headers=key)).status_code == 401
    failures = [time.monotonic()]
    for _ in range(3):
        while (answer := await client.post(url, json=bad, headers=key)).status_code == 429:
            assert time.monotonic() - failures[-1] < 30, "the wait did not end"
            await asyncio.sleep(0.05)
        assert answer.status_code == 401, answer.text
        failures.append(time.monotonic())
    gaps = [later - earlier for earlier, later in itertools.pairwise(failures)]
    assert gaps[0] >= 0.9 and gaps[1] >= 1.9 and gaps[2] >= 3.9, gaps
    # Now an 8 s wait: even the right password is refused until it is over.
    early = await client.post(url, json={"email": email, "password": "the right one"}, headers=key)
    assert early.status_code == 429 and early.json()["code"] == 8, early.text
    assert "Too many failed login attempts: retry in" in early.json()["message"]
    assert 1 <= int(early.headers["retry-after"]) <= 8


async def test_custom_id_round_trip(client, server_key):
    custom = unique("custom-")
    first = await client.post(
        "/v2/account/authenticate/custom", json={"id": custom}, headers=basic(server_key)
    )
    again = await client.post(
        "/v2/account/authenticate/custom", json={"id": custom}, headers=basic(server_key)
    )
    assert first.json()["created"] is True
    assert claims(first.json()["token"])["uid"] == claims(again.json()["token"])["uid"]


async def test_same_device_races_to_one_account(client, server_key):
    import asyncio

    device = unique("device-")
    responses = await asyncio.gather(
        *[
            client.post("/v2/account/authenticate/device", json={"id": device}, headers=basic(server_key))
            for _ in range(8)
        ]
    )
    assert all(r.status_code == 200 for r in responses)
    assert len({claims(r.json()["token"])["uid"] for r in responses}) == 1
    assert sum(1 for r in responses if r.json().get("created")) == 1


async def test_bearer_token_is_required_and_verified(client, api: Api):
    missing = await client.get("/v2/account")
    assert missing.status_code == 401 and missing.json()["message"] == "Auth token required"
    session = await api.device()
    forged = session["token"][:-4] + ("AAAA" if not session["token"].endswith("AAAA") else "BBBB")
    bad = await client.get("/v2/account", headers=bearer(forged))
    assert bad.status_code == 401 and bad.json() == {
        "error": "Auth token invalid",
        "code": 16,
        "message": "Auth token invalid",
    }
    refresh_as_session = await client.get("/v2/account", headers=bearer(session["refresh_token"]))
    assert refresh_as_session.status_code == 401


async def test_concurrent_signups_with_one_username_give_one_account(client, server_key):
    import asyncio

    name = unique("race")
    responses = await asyncio.gather(
        *[
            client.post(
                "/v2/account/authenticate/device",
                json={"id": unique("device-")},
                params={"username": name},
                headers=basic(server_key),
            )
            for _ in range(6)
        ]
    )
    assert sorted(r.status_code for r in responses) == [200] + [409] * 5
    assert all(r.json()["code"] == 6 for r in responses if r.status_code == 409)


async def test_concurrent_custom_id_signups_and_plain_signups_in_one_burst(client, server_key):
    import asyncio

    custom = unique("custom-")
    same = [
        client.post("/v2/account/authenticate/custom", json={"id": custom}, headers=basic(server_key))
        for _ in range(5)
    ]
    others = [
        client.post(
            "/v2/account/authenticate/device", json={"id": unique("device-")}, headers=basic(server_key)
        )
        for _ in range(10)
    ]
    responses = await asyncio.gather(*same, *others)
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assert len({claims(r.json()["token"])["uid"] for r in responses[:5]}) == 1
    assert len({claims(r.json()["token"])["uid"] for r in responses}) == 11
    assert sum(1 for r in responses if r.json().get("created")) == 11


async def test_parallel_guesses_check_no_more_passwords_than_allowed(client, server_key, node):
    """Issue 15, 1: 100 wrong passwords at once, then the right one as the 100th: only the
    allowed number are checked (401), the rest and the right one are refused unchecked (429)."""
    import asyncio

    email = f"{unique('race')}@example.com"
    url = "/v2/account/authenticate/email"
    signed_up = await client.post(
        url, json={"email": email, "password": "the right one"}, headers=basic(server_key)
    )
    assert signed_up.status_code == 200
    checked = 0
    verify = node.accounts._passwords.verify

    async def counting_verify(hashed: bytes, password: str) -> bool:
        nonlocal checked
        checked += 1
        return await verify(hashed, password)

    node.accounts._passwords.verify = counting_verify  # type: ignore[method-assign]
    bodies = [{"email": email, "password": f"wrong guess {i}"} for i in range(99)]
    bodies.append({"email": email, "password": "the right one"})
    responses = await asyncio.gather(*(client.post(url, json=b, headers=basic(server_key)) for b in bodies))
    statuses = [r.status_code for r in responses]
    allowed = node.settings.lockout_account_failures
    assert checked <= allowed
    assert statuses.count(401) + statuses.count(200) == checked
    assert statuses.count(429) == 100 - checked
    assert statuses[-1] == 429 or checked < allowed  # the right password came too late to be checked


@NO_DELAYS
async def test_a_stranger_cannot_lock_the_player_out(node):
    """Issue 15, 2: failures from one address lock that address out of the account, not the
    player signing in from elsewhere."""
    from overworld.errors import ResourceExhausted, Unauthenticated

    title, email = node.default_title, f"{unique('victim')}@example.com"
    await node.accounts.authenticate_email(title, email, "the right one", True, address="198.51.100.20")
    for _ in range(node.settings.lockout_account_failures):
        with pytest.raises(Unauthenticated):
            await node.accounts.authenticate_email(title, email, "wrong guess", False, address="192.0.2.66")
    with pytest.raises(ResourceExhausted):
        await node.accounts.authenticate_email(title, email, "the right one", False, address="192.0.2.66")
    result = await node.accounts.authenticate_email(
        title, email, "the right one", False, address="198.51.100.20"
    )
    assert not result.created

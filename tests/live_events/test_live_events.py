"""Remote config and live events on SQLite and PostgreSQL: occurrence windows (one-time and cron),
audiences, validation, effective config precedence, the REST extension (clients and operators),
socket notifications at start and end, and title isolation."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from overworld.clock import now_ms, rfc3339
from overworld.errors import FailedPrecondition, InvalidArgument, NotFound
from overworld.live_events.audience import Player, parse_audience
from overworld.live_events.schedule import Timing
from overworld.live_events.service import ENDED, MAX_VALUE_BYTES, STARTED
from overworld.node import Node
from overworld.runtime import ServerApi
from overworld.subsystems.scheduler import parse_cron
from tests.conftest import Api
from tests.realtime_support import authenticate, live_server, open_socket
from tests.support import basic, bearer, unique

pytestmark = pytest.mark.anyio
HOUR = 3600


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def sec(text: str) -> int:
    return ms(text) // 1000


@pytest.fixture
def nk(node: Node) -> ServerApi:
    return ServerApi(node.runtime, node.default_title, "tests")


async def player(api: Api, nk: ServerApi, **profile: Any) -> dict[str, Any]:
    session = await api.device()
    session["id"] = json.loads(base64.urlsafe_b64decode(session["token"].split(".")[1] + "=="))["uid"]
    if profile:
        await nk.account_update(session["id"], **profile)
    return session


# -- occurrence windows (no database) -----------------------------------------------------------


def test_a_one_time_event_is_live_from_start_to_end():
    t = Timing(ms("2026-05-01T10:00:00"), ms("2026-05-01T12:00:00"))
    assert t.live_at(ms("2026-05-01T09:59:59.999")) is None
    assert t.live_at(ms("2026-05-01T10:00:00")) == (ms("2026-05-01T10:00:00"), ms("2026-05-01T12:00:00"))
    assert t.live_at(ms("2026-05-01T12:00:00")) is None  # the end is excluded
    assert t.next_start(ms("2026-05-01T09:00:00")) == (ms("2026-05-01T10:00:00"), ms("2026-05-01T12:00:00"))
    assert t.next_start(ms("2026-05-01T10:00:00")) is None
    assert t.next_boundary(ms("2026-05-01T09:00:00")) == ms("2026-05-01T10:00:00")
    assert t.next_boundary(ms("2026-05-01T10:00:00")) == ms("2026-05-01T12:00:00")
    assert t.next_boundary(ms("2026-05-01T12:00:00")) is None
    assert t.at(ms("2026-05-01T10:00:00")) == (None, (ms("2026-05-01T10:00:00"), ms("2026-05-01T12:00:00")))
    assert t.at(ms("2026-05-01T12:00:00")) == ((ms("2026-05-01T10:00:00"), ms("2026-05-01T12:00:00")), None)


def test_a_recurring_event_is_live_for_its_duration_at_each_cron_time():
    # Fridays 20:00 UTC for two hours, from 2026-05-06 (a Wednesday) to 2026-05-23.
    t = Timing(
        ms("2026-05-06T00:00:00"), ms("2026-05-23T00:00:00"), parse_cron("0 20 * * FRI"), 2 * HOUR * 1000
    )
    first = (ms("2026-05-08T20:00:00"), ms("2026-05-08T22:00:00"))
    second = (ms("2026-05-15T20:00:00"), ms("2026-05-15T22:00:00"))
    third = (ms("2026-05-22T20:00:00"), ms("2026-05-22T22:00:00"))
    assert t.live_at(ms("2026-05-01T21:00:00")) is None  # a Friday before start_time
    assert t.live_at(ms("2026-05-08T21:59:59")) == first
    assert t.live_at(ms("2026-05-08T22:00:00")) is None
    assert t.next_start(ms("2026-05-01T00:00:00")) == first
    assert t.next_start(ms("2026-05-08T20:00:00")) == second
    assert t.current_or_next(ms("2026-05-09T00:00:00")) == (second, False)
    assert t.current_or_next(ms("2026-05-15T21:00:00")) == (second, True)
    assert t.occurrences(ms("2026-05-08T21:00:00"), ms("2026-06-30T00:00:00")) == [first, second, third]
    assert t.next_start(ms("2026-05-22T20:00:00")) is None  # the 29th is after end_time
    boundaries = []
    b = t.next_boundary(ms("2026-05-01T00:00:00"))
    while b is not None:
        boundaries.append(b)
        b = t.next_boundary(b)
    assert boundaries == [*first, *second, *third]


def test_occurrences_never_overlap_nor_pass_the_end():
    # Every hour for 90 minutes: each occurrence stops at the next start; the series at end_time.
    t = Timing(ms("2026-01-01T00:00:00"), ms("2026-01-01T02:30:00"), parse_cron("0 * * * *"), 90 * 60 * 1000)
    assert t.occurrences(ms("2026-01-01T00:00:00"), ms("2026-01-02T00:00:00")) == [
        (ms("2026-01-01T00:00:00"), ms("2026-01-01T01:00:00")),
        (ms("2026-01-01T01:00:00"), ms("2026-01-01T02:00:00")),
        (ms("2026-01-01T02:00:00"), ms("2026-01-01T02:30:00")),
    ]
    ended, started = t.at(ms("2026-01-01T01:00:00"))  # back to back: one ends as the next starts
    assert ended == (ms("2026-01-01T00:00:00"), ms("2026-01-01T01:00:00"))
    assert started == (ms("2026-01-01T01:00:00"), ms("2026-01-01T02:00:00"))
    # A start_time between cron times: the first occurrence is the next cron time.
    late = Timing(ms("2026-01-01T00:10:00"), 0, parse_cron("0 * * * *"), 60_000)
    assert late.live_at(ms("2026-01-01T00:10:30")) is None
    assert late.next_start(ms("2026-01-01T00:00:00")) == (
        ms("2026-01-01T01:00:00"),
        ms("2026-01-01T01:01:00"),
    )


# -- audiences ----------------------------------------------------------------------------------


def test_audience_conditions():
    created = ms("2026-03-01T00:00:00")
    alice = Player("6f1f9f5e-0000-4000-8000-000000000001", "en-GB", "FR", created,
                   {"tier": "gold", "stats": {"level": 12}, "vip": True})  # fmt: skip
    bob = Player("6f1f9f5e-0000-4000-8000-000000000002", "fr", "", created + 1000, {"tier": "silver"})
    assert parse_audience(None).includes(alice) and parse_audience({}).everybody
    assert parse_audience({"lang": "en"}).includes(alice)  # a regional form of "en"
    assert not parse_audience({"lang": ["EN"]}).includes(bob)
    assert parse_audience({"lang": ["en", "fr"]}).includes(bob)
    assert parse_audience({"location": "fr"}).includes(alice) and not parse_audience(
        {"location": "fr"}
    ).includes(bob)
    assert parse_audience({"user_ids": [bob.user_id]}).includes(bob)
    assert not parse_audience({"user_ids": [bob.user_id]}).includes(alice)
    assert parse_audience({"created_before": "2026-03-01T00:00:01Z"}).includes(alice)
    assert not parse_audience({"created_before": "2026-03-01T00:00:01Z"}).includes(bob)
    assert parse_audience({"created_after": created // 1000 + 1}).includes(bob)
    assert not parse_audience({"created_after": created // 1000 + 1}).includes(alice)
    assert parse_audience({"metadata.tier": ["gold", "platinum"]}).includes(alice)
    assert not parse_audience({"metadata.tier": "gold"}).includes(bob)
    assert parse_audience({"metadata.stats.level": 12}).includes(alice)
    assert not parse_audience({"metadata.stats.level": 12}).includes(bob)  # missing path
    assert parse_audience({"metadata.vip": True}).includes(alice)
    assert not parse_audience({"metadata.vip": 1}).includes(alice)  # JSON: true is not 1
    both = parse_audience({"lang": "en", "metadata.tier": "silver"})  # every condition must hold
    assert not both.includes(alice) and not both.includes(bob)
    assert parse_audience('{"lang": "fr"}').includes(bob)


@pytest.mark.parametrize(
    ("audience", "message"),
    [
        ({"country": "FR"}, "audience: unknown field 'country'"),
        ({"lang": []}, "audience.lang must be"),
        ({"lang": 5}, "audience.lang must be"),
        ({"user_ids": ["nope"]}, "audience.user_ids must hold user ids"),
        ({"created_after": "yesterday"}, "audience.created_after must be an RFC 3339 time"),
        ({"created_after": 200, "created_before": 100}, "created_before must be later"),
        ({"metadata.": 1}, "audience.metadata.: a metadata path"),
        ({"metadata.tier": {"a": 1}}, "audience.metadata.tier: values must be"),
        ([1, 2], "audience must be a JSON object"),
        ("{not json", "audience must be a JSON object"),
    ],
)
def test_bad_audiences_are_rejected_naming_the_field(audience, message):
    with pytest.raises(InvalidArgument) as failure:
        parse_audience(audience)
    assert message in failure.value.message


# -- remote config and validation (server API) --------------------------------------------------


async def test_remote_config_values_are_versioned(nk):
    first = await nk.remote_config_set("shop.discount", 0.1)
    assert (first.key, first.value, first.version) == ("shop.discount", 0.1, 1)
    second = await nk.remote_config_set("shop.discount", {"pct": 20}, version=1)
    assert second.version == 2
    with pytest.raises(FailedPrecondition, match="at version 2, not 1"):
        await nk.remote_config_set("shop.discount", 5, version=1)
    with pytest.raises(FailedPrecondition, match="at version 0, not 3"):
        await nk.remote_config_set("new.key", 5, version=3)
    assert (await nk.remote_config_set("new.key", [1, 2], version=0)).version == 1
    values = await nk.remote_config_get()
    assert {k: (v.value, v.version) for k, v in values.items()} == {
        "new.key": ([1, 2], 1), "shop.discount": ({"pct": 20}, 2),
    }  # fmt: skip
    assert list(await nk.remote_config_get(["new.key"])) == ["new.key"]
    assert await nk.remote_config_delete("new.key") is True
    assert await nk.remote_config_delete("new.key") is False
    with pytest.raises(InvalidArgument, match="too large"):
        await nk.remote_config_set("big", "x" * MAX_VALUE_BYTES)
    with pytest.raises(InvalidArgument, match="key: a remote config key"):
        await nk.remote_config_set("bad key!", 1)
    assert list(await nk.remote_config_get()) == ["shop.discount"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"end_time": 1_000}, "end_time must be later than start_time"),
        ({"end_time": 2_000}, "end_time must be later than start_time"),
        ({"end_time": 0}, "end_time is required for a one-time event"),
        ({"cron": "61 * * * *", "duration": 60}, "cron: invalid cron expression '61 * * * *'"),
        ({"cron": "every day", "duration": 60}, "cron: invalid cron expression"),
        ({"cron": "0 * * * *", "duration": 0}, "duration must be a whole number of at least 1"),
        ({"duration": 60}, "duration is only for recurring events"),
        ({"leaderboard_id": "no-such-board"}, "leaderboard_id: there is no leaderboard 'no-such-board'"),
        ({"config": {"k": "x" * 70_000}}, "config is too large"),
        ({"config": {"bad key": 1}}, "config: key: a remote config key"),
        ({"audience": {"planet": "mars"}}, "audience: unknown field 'planet'"),
        ({"metadata": "[1]"}, "metadata must be a JSON object"),
        ({"name": ""}, "name must be 1-128 characters"),
    ],
)
async def test_bad_events_are_rejected_naming_the_field_and_nothing_is_stored(nk, fields, message):
    args: dict[str, Any] = {"name": "Spring sale", "start_time": 2_000, "end_time": 3_000, **fields}
    name, start, end = args.pop("name"), args.pop("start_time"), args.pop("end_time")
    with pytest.raises(InvalidArgument) as failure:
        await nk.live_event_create(name, start, end, **args)
    assert message in failure.value.message
    assert await nk.live_event_list() == []


async def test_concurrent_updates_of_different_fields_both_take_effect(nk):
    event = await nk.live_event_create("Sale", sec("2030-01-01T00:00:00"), sec("2030-01-02T00:00:00"))
    await asyncio.gather(
        nk.live_event_update(event.id, name="Big sale"),
        nk.live_event_update(event.id, description="Half price"),
        nk.live_event_update(event.id, config={"discount": 50}),
    )
    stored = await nk.live_event_get(event.id)
    assert stored is not None
    assert (stored.name, stored.description, stored.config) == ("Big sale", "Half price", {"discount": 50})


async def test_events_are_created_updated_and_deleted(nk, node):
    await nk.leaderboard_create("weekly")
    event = await nk.live_event_create(
        "Double XP", sec("2030-01-01T00:00:00"), sec("2030-01-02T00:00:00"), config={"xp": 2},
        leaderboard_id="weekly", metadata={"banner": "xp.png"},
    )  # fmt: skip
    assert (event.start_time, event.end_time) == (ms("2030-01-01T00:00:00"), ms("2030-01-02T00:00:00"))
    assert await nk.live_event_get(event.id) == event
    assert f"live_event:{node.default_title.id}:{event.id}" in node.scheduler.names()  # armed at once
    changed = await nk.live_event_update(event.id, cron="0 18 * * *", duration=3600, end_time=0)
    assert (changed.cron, changed.duration, changed.end_time, changed.config) == (
        "0 18 * * *",
        3600,
        0,
        {"xp": 2},
    )
    with pytest.raises(InvalidArgument, match="end_time must be later"):
        await nk.live_event_update(event.id, end_time=sec("2029-01-01T00:00:00"))
    assert (await nk.live_event_get(event.id)).end_time == 0  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        await nk.live_event_update("6f1f9f5e-0000-4000-8000-000000000009", name="x")
    disabled = await nk.live_event_update(event.id, enabled=False)
    assert (
        not disabled.enabled
        and f"live_event:{node.default_title.id}:{event.id}" not in node.scheduler.names()
    )
    assert await nk.live_event_delete(event.id) is True
    assert await nk.live_event_delete(event.id) is False
    assert await nk.live_event_get(event.id) is None


# -- what players get -----------------------------------------------------------------------------


async def test_effective_config_applies_live_events_for_the_audience_latest_start_winning(client, api, nk):
    alice = await player(api, nk, lang_tag="en")
    bob = await player(api, nk, lang_tag="fr")
    await nk.remote_config_set("xp", 1)
    await nk.remote_config_set("theme", "default")
    now = now_ms() // 1000
    older = await nk.live_event_create(
        "Week", now - 3 * HOUR, now + HOUR, config={"xp": 2, "theme": "spring"}
    )
    newer = await nk.live_event_create(
        "Hour", now - HOUR, now + HOUR, config={"xp": 3}, audience={"lang": "en"}
    )
    await nk.live_event_create("Later", now + HOUR, now + 2 * HOUR, config={"xp": 9})
    await nk.live_event_create("Off", now - HOUR, now + HOUR, config={"xp": 10}, enabled=False)
    await nk.live_event_create("Over", now - 2 * HOUR, now - HOUR, config={"xp": 11})

    response = await client.get("/v2/overworld/config", headers=bearer(alice["token"]))
    assert response.status_code == 200, response.text
    assert response.json() == {"config": {"xp": 3, "theme": "spring"}, "live_event_ids": [older.id, newer.id]}
    response = await client.get("/v2/overworld/config", headers=bearer(bob["token"]))
    assert response.json() == {"config": {"xp": 2, "theme": "spring"}, "live_event_ids": [older.id]}
    assert (await nk.remote_config_effective(bob["id"])).config == {"xp": 2, "theme": "spring"}
    # Precedence follows start times, not creation order.
    await nk.live_event_update(older.id, start_time=now - 10)
    assert (await client.get("/v2/overworld/config", headers=bearer(alice["token"]))).json()["config"][
        "xp"
    ] == 2
    assert (await client.get("/v2/overworld/config")).status_code == 401


async def test_a_recurring_event_applies_only_during_its_occurrences(api, nk, node):
    alice = await player(api, nk)
    await nk.remote_config_set("mode", "normal")
    event = await nk.live_event_create(
        "Happy hour", sec("2026-01-01T00:00:00"), sec("2027-01-01T00:00:00"), cron="0 * * * *", duration=600,
        config={"mode": "happy"},
    )  # fmt: skip
    service, title_id = node.live_events, node.default_title.id

    async def mode(at: str) -> tuple[str, list[str]]:
        effective = await service.effective_config(title_id, alice["id"], now=ms(at))
        return effective.config["mode"], effective.events

    # Asked in any order (the service remembers each event's current window between calls).
    assert await mode("2026-03-01T10:05:00") == ("happy", [event.id])
    assert await mode("2026-03-01T10:10:00") == ("normal", [])
    assert await mode("2026-03-01T10:59:59") == ("normal", [])
    assert await mode("2026-03-01T11:00:00") == ("happy", [event.id])
    assert await mode("2026-03-01T10:09:59.999") == ("happy", [event.id])
    assert await mode("2025-12-31T23:05:00") == ("normal", [])  # before start_time
    assert await mode("2027-01-01T00:05:00") == ("normal", [])  # after end_time
    upcoming = await service.events_for(title_id, alice["id"], now=ms("2026-03-01T10:30:00"))
    assert [(o.start_time, o.end_time, o.live) for o in upcoming] == [
        (ms("2026-03-01T11:00:00"), ms("2026-03-01T11:10:00"), False)
    ]


async def test_players_list_their_live_and_upcoming_events(client, api, nk):
    alice = await player(api, nk, lang_tag="en")
    bob = await player(api, nk, lang_tag="fr")
    now = now_ms() // 1000
    live = await nk.live_event_create("Live", now - HOUR, now + HOUR, description="on now",
                                      config={"a": 1}, metadata={"m": 1})  # fmt: skip
    soon = await nk.live_event_create("Soon", now + HOUR, now + 2 * HOUR, audience={"lang": ["en"]})
    weekly = await nk.live_event_create("Daily", now - 10, 0, cron="0 12 * * *", duration=600)
    await nk.live_event_create("Far", now + 30 * 24 * HOUR, now + 31 * 24 * HOUR)

    response = await client.get("/v2/overworld/events", headers=bearer(alice["token"]))
    assert response.status_code == 200, response.text
    events = response.json()["events"]
    assert events[0] == {
        "id": live.id, "name": "Live", "description": "on now", "start_time": rfc3339((now - HOUR) * 1000),
        "end_time": rfc3339((now + HOUR) * 1000), "live": True, "cron": "", "duration": 0,
        "config": {"a": 1}, "leaderboard_id": "", "metadata": {"m": 1},
    }  # fmt: skip
    assert [e["id"] for e in events[1:]] == sorted([soon.id, weekly.id], key=lambda i: next(
        e["start_time"] for e in events if e["id"] == i))  # fmt: skip
    assert all(not e["live"] for e in events[1:])
    daily = next(e for e in events if e["id"] == weekly.id)
    start = parse_cron("0 12 * * *").next_after(now * 1000)
    assert (daily["start_time"], daily["end_time"]) == (rfc3339(start), rfc3339(start + 600_000))

    bobs = (await client.get("/v2/overworld/events", headers=bearer(bob["token"]))).json()["events"]
    assert {e["id"] for e in bobs} == {live.id, weekly.id}  # "Soon" is for English speakers
    wide = await client.get("/v2/overworld/events", params={"window_sec": 40 * 24 * HOUR, "limit": 2},
                            headers=bearer(alice["token"]))  # fmt: skip
    wide_ids = [e["id"] for e in wide.json()["events"]]
    assert len(wide_ids) == 2 and wide_ids[0] == live.id
    narrow = await client.get(
        "/v2/overworld/events", params={"window_sec": 0}, headers=bearer(alice["token"])
    )
    assert [e["id"] for e in narrow.json()["events"]] == [live.id]
    bad = await client.get("/v2/overworld/events", params={"limit": 0}, headers=bearer(alice["token"]))
    assert bad.status_code == 400 and "limit must be 1-100" in bad.json()["message"]


async def test_operators_manage_config_and_events_with_the_http_key(client, node):
    key = {"http_key": node.default_title.http_key}
    response = await client.put("/v2/overworld/admin/config/motd", params=key, json={"value": "hello"})
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 1 and response.json()["value"] == "hello"
    stale = await client.put("/v2/overworld/admin/config/motd", params=key, json={"value": "x", "version": 5})
    assert stale.status_code == 400 and "at version 1, not 5" in stale.json()["message"]
    listed = (await client.get("/v2/overworld/admin/config", params=key)).json()["values"]
    assert [(v["key"], v["value"]) for v in listed] == [("motd", "hello")]

    body = {"name": "Launch", "start_time": "2030-01-01T00:00:00Z", "end_time": "2030-01-02T00:00:00Z",
            "config": {"motd": "launch!"}, "audience": {"lang": "en"}}  # fmt: skip
    created = await client.post("/v2/overworld/admin/events", params=key, json=body)
    assert created.status_code == 200, created.text
    event = created.json()
    assert (event["start_time"], event["end_time"], event["enabled"]) == (
        "2030-01-01T00:00:00Z", "2030-01-02T00:00:00Z", True,
    )  # fmt: skip
    bad = await client.post(
        "/v2/overworld/admin/events", params=key, json={**body, "end_time": body["start_time"]}
    )
    assert bad.status_code == 400 and bad.json()["message"] == "end_time must be later than start_time."
    bad = await client.post(
        "/v2/overworld/admin/events", params=key, json={**body, "cron": "nope", "duration": 5}
    )
    assert bad.status_code == 400 and "cron: invalid cron expression 'nope'" in bad.json()["message"]
    bad = await client.post("/v2/overworld/admin/events", params=key, json={**body, "colour": "red"})
    assert bad.status_code == 400 and "unknown field `colour`" in bad.json()["message"]
    bad = await client.post("/v2/overworld/admin/events", params=key, json={**body, "start_time": "tomorrow"})
    assert bad.status_code == 400 and "start_time must be an RFC 3339 time" in bad.json()["message"]
    assert len((await client.get("/v2/overworld/admin/events", params=key)).json()["events"]) == 1
    updated = await client.put(
        f"/v2/overworld/admin/events/{event['id']}", params=key, json={"name": "Launch 2"}
    )
    assert updated.json()["name"] == "Launch 2" and updated.json()["config"] == {"motd": "launch!"}
    assert (await client.get(f"/v2/overworld/admin/events/{event['id']}", params=key)).json()[
        "name"
    ] == "Launch 2"
    assert [
        e["id"] for e in (await client.get("/v2/overworld/admin/events", params=key)).json()["events"]
    ] == [event["id"]]
    assert (await client.delete(f"/v2/overworld/admin/events/{event['id']}", params=key)).status_code == 200
    assert (await client.get(f"/v2/overworld/admin/events/{event['id']}", params=key)).status_code == 404
    assert (await client.delete("/v2/overworld/admin/config/motd", params=key)).status_code == 200
    assert (await client.delete("/v2/overworld/admin/config/motd", params=key)).status_code == 404
    # The server key, a wrong key or no key at all are refused.
    assert (await client.get("/v2/overworld/admin/events", params={"http_key": "wrong"})).status_code == 401
    assert (await client.get("/v2/overworld/admin/events")).status_code == 401
    basic_server = basic(node.default_title.server_key)
    assert (await client.get("/v2/overworld/admin/events", headers=basic_server)).status_code == 401


async def test_hooks_wrap_the_calls(client, api, nk, node):
    alice = await player(api, nk)
    await nk.remote_config_set("xp", 1)
    now = now_ms() // 1000
    for name in ("One", "Two"):
        await nk.live_event_create(name, now - HOUR, now + HOUR)
    seen: list[tuple[str, dict[str, Any]]] = []

    async def after(ctx, request, response):
        seen.append((ctx.user_id, response.config))

    async def before(ctx, request):
        request.limit = 1
        return request

    node.hooks.after("GetRemoteConfig", after, node.default_title.id)
    node.hooks.before("ListLiveEvents", before, node.default_title.id)
    await client.get("/v2/overworld/config", headers=bearer(alice["token"]))
    assert seen == [(alice["id"], {"xp": 1})]
    response = await client.get("/v2/overworld/events", headers=bearer(alice["token"]))
    assert len(response.json()["events"]) == 1


async def test_a_title_never_sees_another_titles_config_or_events(client, api, nk, node):
    other = await node.titles.create(unique("other"))
    nk_other = ServerApi(node.runtime, other, "tests")
    await nk.remote_config_set("xp", 1)
    now = now_ms() // 1000
    event = await nk.live_event_create("A only", now - HOUR, now + HOUR, config={"xp": 5})
    other_player = await Api(client, other.server_key).device()

    response = await client.get("/v2/overworld/config", headers=bearer(other_player["token"]))
    assert response.json() == {"config": {}, "live_event_ids": []}
    response = await client.get("/v2/overworld/events", headers=bearer(other_player["token"]))
    assert response.json() == {"events": []}
    assert await nk_other.remote_config_get() == {} and await nk_other.live_event_list() == []
    assert await nk_other.live_event_get(event.id) is None
    assert await nk_other.live_event_delete(event.id) is False
    with pytest.raises(NotFound):
        await nk_other.live_event_update(event.id, name="stolen")
    key = {"http_key": other.http_key}
    assert (await client.get(f"/v2/overworld/admin/events/{event.id}", params=key)).status_code == 404
    assert (await client.get("/v2/overworld/admin/config", params=key)).json() == {"values": []}
    assert (await nk.live_event_get(event.id)) is not None and (await nk.remote_config_get())["xp"].value == 1


# -- socket notifications ---------------------------------------------------------------------------


async def notification(sock, timeout: float = 8) -> dict[str, Any]:  # noqa: ASYNC109
    body = await sock.push("notifications", timeout=timeout)
    assert len(body["notifications"]) == 1
    note: dict[str, Any] = body["notifications"][0]
    note["content"] = json.loads(note["content"])
    return note


async def test_connected_players_in_the_audience_are_told_when_an_event_starts_and_ends(
    settings, node, api, nk
):
    async with live_server(settings, node) as host:
        alice = await player(api, nk, lang_tag="en")
        bob = await player(api, nk, lang_tag="fr")
        alice_sock = await open_socket(host, alice)
        bob_sock = await open_socket(host, bob)
        other = await node.titles.create(unique("other"))  # a player of another title, same language
        carol = await authenticate(host, other.server_key)
        await ServerApi(node.runtime, other, "tests").account_update(carol["user_id"], lang_tag="en")
        carol_sock = await open_socket(host, carol)
        start = now_ms() + 1500
        event = await nk.live_event_create(
            "Flash sale", start / 1000, (start + 1000) / 1000, config={"discount": 50}, audience={"lang": "en"},
        )  # fmt: skip
        started = await notification(alice_sock)
        assert (started["code"], started.get("persistent", False), started["subject"]) == (
            STARTED, False, "Live event started: Flash sale",
        )  # fmt: skip
        assert started["content"] == {
            "event_id": event.id, "name": "Flash sale", "description": "", "start_time": rfc3339(start),
            "end_time": rfc3339(start + 1000), "config": {"discount": 50}, "leaderboard_id": "", "metadata": {},
        }  # fmt: skip
        assert now_ms() >= start
        ended = await notification(alice_sock)
        assert ended["code"] == ENDED and ended["content"]["event_id"] == event.id
        assert now_ms() >= start + 1000
        await bob_sock.no_push("notifications", wait=0.5)  # not in the audience
        await carol_sock.no_push("notifications", wait=0.1)  # not in the title
        await alice_sock.no_push("notifications", wait=0.5)  # once each
        # Not stored: nothing to list.
        listed = await api.client.get("/v2/notification", headers=bearer(alice["token"]))
        assert listed.json().get("notifications", []) == []
        assert (
            f"live_event:{node.default_title.id}:{event.id}" not in node.scheduler.names()
        )  # over: disarmed
        for sock in (alice_sock, bob_sock, carol_sock):
            await sock.close()


async def test_a_recurring_event_is_announced_at_each_occurrence(settings, node, api, nk):
    async with live_server(settings, node) as host:
        alice = await player(api, nk)
        sock = await open_socket(host, alice)
        # Every two seconds, live for one.
        event = await nk.live_event_create("Pulse", now_ms() / 1000, 0, cron="*/2 * * * * *", duration=1)
        codes = []
        for _ in range(4):
            note = await notification(sock)
            assert note["content"]["event_id"] == event.id
            codes.append((note["code"], note["content"]["start_time"]))
        # Created during an occurrence or not, it is announced as started first.
        assert [c for c, _ in codes] == [STARTED, ENDED, STARTED, ENDED]
        starts = [datetime.fromisoformat(s.replace("Z", "+00:00")).second for c, s in codes if c == STARTED]
        assert all(s % 2 == 0 for s in starts) and starts[0] != starts[1]
        await nk.live_event_delete(event.id)
        after: list[int] = []  # deleted while live: announced as ended now
        with contextlib.suppress(TimeoutError):
            while True:
                after.append((await notification(sock, timeout=0.5))["code"])
        assert after in ([], [ENDED], [STARTED, ENDED])
        await sock.no_push("notifications", wait=2.5)  # deleted: no more announcements
        await sock.close()


async def test_changes_that_start_or_stop_an_event_are_announced(settings, node, api, nk):
    async with live_server(settings, node) as host:
        alice = await player(api, nk)
        sock = await open_socket(host, alice)
        now = now_ms() // 1000
        event = await nk.live_event_create("Now", now - 60, now + HOUR, config={"xp": 2})
        started = await notification(sock, timeout=2)  # created live: started at once
        assert (started["code"], started["content"]["start_time"]) == (STARTED, rfc3339((now - 60) * 1000))
        await nk.live_event_update(event.id, description="changed")  # still live: nothing to say
        await sock.no_push("notifications", wait=0.3)
        await nk.live_event_update(event.id, enabled=False)
        assert (await notification(sock, timeout=2))["code"] == ENDED
        await nk.live_event_update(event.id, enabled=True)
        assert (await notification(sock, timeout=2))["code"] == STARTED
        await nk.live_event_update(event.id, start_time=now + HOUR, end_time=now + 2 * HOUR)  # moved later
        assert (await notification(sock, timeout=2))["code"] == ENDED
        await nk.live_event_delete(event.id)  # not live: nothing to say
        await sock.no_push("notifications", wait=0.3)
        await sock.close()


async def test_an_event_created_before_a_restart_is_armed_again(settings, node, nk):
    start = now_ms() // 1000 + 3600
    event = await nk.live_event_create("Tomorrow", start, start + 60)
    restarted = await Node.start(settings)
    try:
        assert f"live_event:{node.default_title.id}:{event.id}" in restarted.scheduler.names()
    finally:
        await restarted.close()

"""Multiplayer matches over the socket: relayed and authoritative, listing, tokens, titles."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import uuid
from typing import Any

import httpx
import msgspec
import pytest

from overworld.config import Settings
from overworld.matches import tokens
from overworld.matches.index import IndexEntry
from overworld.node import Node
from overworld.query import QueryError, parse
from overworld.runtime.server_api import ServerApi
from overworld.titles.models import Title
from tests.realtime_support import Socket, authenticate, live_server, open_socket
from tests.support import bearer, unique

# Every test runs with JSON and with protobuf sockets (tests/realtime_support.py).
pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("socket_format")]

PROBE = """
import json


def match_init(ctx, params):
    if params.get("fail_init"):
        raise RuntimeError("no")
    state = {"joins": [], "leaves": [], "messages": 0}
    return state, params.get("tick_rate", 10), json.dumps(params.get("label", {}))


def match_join_attempt(ctx, dispatcher, tick, state, presence, metadata):
    if metadata.get("deny"):
        return state, False, "go away: " + metadata["deny"]
    return state, True, ""


def match_join(ctx, dispatcher, tick, state, presences):
    state["joins"] += [p.username for p in presences]
    dispatcher.broadcast_message(100, json.dumps([p.user_id for p in presences]))
    return state


def match_leave(ctx, dispatcher, tick, state, presences):
    state["leaves"] += [p.username for p in presences]
    return state


def match_loop(ctx, dispatcher, tick, state, messages):
    for m in messages:
        state["messages"] += 1
        if m.op_code == 1:
            dispatcher.broadcast_message(1, m.data, sender=m.sender)
        elif m.op_code == 2:
            dispatcher.broadcast_message(2, b"just you", presences=[m.sender])
        elif m.op_code == 5:
            dispatcher.match_kick([m.sender])
        elif m.op_code == 6:
            dispatcher.match_label_update(m.data.decode())
        elif m.op_code == 66:
            raise RuntimeError("boom")
        elif m.op_code == 67:
            return None
    return state


def match_terminate(ctx, dispatcher, tick, state, grace_seconds):
    return state


async def match_signal(ctx, dispatcher, tick, state, data):
    if data == "stop":
        return None, ""
    reply = {"tick": tick, "joins": state["joins"], "leaves": state["leaves"], "messages": state["messages"]}
    return state, json.dumps(reply)


def init(ctx, nk, initializer):
    import sys
    initializer.register_match("probe", sys.modules[__name__])
"""


@pytest.fixture
def settings(settings: Settings, tmp_path) -> Settings:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "probe.py").write_text(PROBE)
    return msgspec.structs.replace(settings, runtime_path=str(folder))


@pytest.fixture
async def host(settings: Settings, node: Node):
    async with live_server(settings, node) as h:
        yield h


async def _user(host: str, title: Title, username: str | None = None) -> Socket:
    return await open_socket(host, await authenticate(host, title.server_key, username))


def _nk(node: Node, title: Title | None = None) -> ServerApi:
    return ServerApi(node.runtime, title or node.default_title, "test")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def _send(sock: Socket, match_id: str, op_code: int, data: str = "", **extra: Any) -> None:
    body = {"match_id": match_id, "op_code": op_code, "data": _b64(data), **extra}
    await sock.send({"match_data_send": body})


async def _data(sock: Socket, op_code: str, timeout: float = 5) -> dict[str, Any]:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while True:
            message = await sock.push("match_data")
            if message.get("op_code") == op_code:
                return message


async def _presence_event(sock: Socket, kind: str, of: Socket) -> dict[str, Any]:
    """The next match_presence_event with `of` among its joins or leaves."""
    while True:
        event = await sock.push("match_presence_event")
        if any(p["user_id"] == of.user_id for p in event.get(kind, [])):
            return event


async def _signal(node: Node, match_id: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(await _nk(node).match_signal(match_id, ""))
    return result


# -- relayed ------------------------------------------------------------------------------------


async def test_relayed_create_join_data_to_all_and_some_presence_events_and_leave(host, node):
    alice, bob, carol = [await _user(host, node.default_title) for _ in range(3)]
    created = (await alice.request("match_create"))["match"]
    match_id = created["match_id"]
    assert match_id.endswith(".") and uuid.UUID(match_id[:-1])
    assert "authoritative" not in created and "label" not in created and created["size"] == 1
    assert created["self"]["user_id"] == alice.user_id

    joined = (await bob.request("match_join", {"match_id": match_id}))["match"]
    assert [p["user_id"] for p in joined["presences"]] == [alice.user_id] and joined["size"] == 1
    assert joined["self"]["session_id"] != created["self"]["session_id"]
    event = await _presence_event(alice, "joins", bob)  # (alice first heard of her own join)
    assert event["match_id"] == match_id
    carol_presence = (await carol.request("match_join", {"match_id": match_id}))["match"]["self"]

    # To everyone else: op_code is a string on the wire, data base64, and no echo to the sender.
    await _send(alice, match_id, 7, "hello", reliable=True)
    for sock in (bob, carol):
        got = await sock.push("match_data")
        assert got["op_code"] == "7" and base64.b64decode(got["data"]) == b"hello"
        assert got["presence"]["user_id"] == alice.user_id and got["match_id"] == match_id
    await alice.no_push("match_data")

    # To the listed presences only.
    await _send(alice, match_id, 8, "psst", presences=[carol_presence])
    assert (await carol.push("match_data"))["op_code"] == "8"
    await bob.no_push("match_data")

    # A socket not in the match cannot send to it; a bad op_code or base64 is an error.
    dave = await _user(host, node.default_title)
    await _send(dave, match_id, 9, "nope")
    await bob.no_push("match_data")
    if alice.format == "json":  # protobuf cannot carry these: its op_code is an int64, data bytes
        bad = await dave.request("match_data_send", {"match_id": match_id, "op_code": "x", "data": ""})
        assert bad["error"]["code"] == 3
        bad = await alice.request("match_data_send", {"match_id": match_id, "op_code": 1, "data": "%%%"})
        assert bad["error"]["code"] == 3 and "base64" in bad["error"]["message"]
        for op_code in (2**63, str(-(2**63) - 1)):  # beyond int64, as a number or as a string
            body = {"match_id": match_id, "op_code": op_code, "data": ""}
            bad = await alice.request("match_data_send", body)
            assert bad["error"] == {"code": 3, "message": "op_code is out of the int64 range."}
    else:  # the int64 limits themselves, and any bytes, pass through
        for op_code in (2**63 - 1, -(2**63)):
            await _send(alice, match_id, op_code, "\x00\xff")
            got = await bob.push("match_data")
            assert got["op_code"] == str(op_code) and base64.b64decode(got["data"]) == "\x00\xff".encode()
    await bob.no_push("match_data")

    # Leave: the others hear of it.
    await bob.request("match_leave", {"match_id": match_id})
    await _presence_event(alice, "leaves", bob)
    for sock in (alice, bob, carol, dave):
        await sock.close()


async def test_relayed_errors_and_named_matches(host, node):
    alice, bob = await _user(host, node.default_title), await _user(host, node.default_title)
    missing = await alice.request("match_join", {"match_id": f"{uuid.uuid4()}."})
    assert missing["error"] == {"code": 4, "message": "Match not found"}
    bad = await alice.request("match_join", {"match_id": "not-a-match"})
    assert bad["error"]["code"] == 3 and bad["error"]["message"] == "Invalid match ID"
    empty = await alice.request("match_join", {})
    assert empty["error"]["code"] == 3
    one = (await alice.request("match_create", {"name": "lobby-7"}))["match"]
    two = (await bob.request("match_create", {"name": "lobby-7"}))["match"]
    assert one["match_id"] == two["match_id"] == f"{uuid.uuid5(uuid.NAMESPACE_DNS, 'lobby-7')}."
    assert [p["user_id"] for p in two["presences"]] == [alice.user_id] and two["size"] == 2
    # Relayed matches are listed (authoritative unset or false) with their size.
    async with httpx.AsyncClient(base_url=f"http://{host}") as http:
        token = alice.session["token"]
        listed = (await http.get("/v2/match", params={"limit": 10}, headers=bearer(token))).json()
        assert {"match_id": one["match_id"], "size": 2} in listed["matches"]
        none = await http.get(
            "/v2/match", params={"authoritative": "false", "label": "x"}, headers=bearer(token)
        )
        assert none.status_code == 400 and "non-authoritative" in none.json()["message"]
    await alice.close()
    await bob.close()


async def test_token_join_and_forged_or_expired_tokens(host, node):
    alice, bob = await _user(host, node.default_title), await _user(host, node.default_title)
    match_id = (await alice.request("match_create"))["match"]["match_id"]
    token = tokens.issue(node.default_title, match_id)
    joined = (await bob.request("match_join", {"token": token}))["match"]
    assert joined["match_id"] == match_id and joined["presences"][0]["user_id"] == alice.user_id

    # A matchmaker's relayed match has nobody in it until its first player joins with a token.
    fresh = f"{uuid.uuid4()}."
    first = (await alice.request("match_join", {"token": tokens.issue(node.default_title, fresh)}))["match"]
    assert first["match_id"] == fresh and "presences" not in first
    second = (await bob.request("match_join", {"token": tokens.issue(node.default_title, fresh)}))["match"]
    assert [p["user_id"] for p in second["presences"]] == [alice.user_id]
    # Without a token, an empty relayed match is still unknown.
    reply = await bob.request("match_join", {"match_id": f"{uuid.uuid4()}."})
    assert reply["error"]["code"] == 4

    forged_title = dataclasses.replace(node.default_title, token_secret=b"x" * 40)
    for bad in (tokens.issue(forged_title, match_id), tokens.issue(node.default_title, match_id, -10), "abc"):
        reply = await bob.request("match_join", {"token": bad})
        assert reply["error"] == {"code": 3, "message": "Invalid match token"}
    await alice.close()
    await bob.close()


# -- authoritative --------------------------------------------------------------------------------


async def test_authoritative_lifecycle_join_rejection_loop_signal_kick_and_listing(host, node):
    nk = _nk(node)
    match_id = await nk.match_create("probe", {"label": {"mode": "ranked", "level": 7}})
    assert match_id.endswith(f".{node.hub.node}")
    alice, bob = await _user(host, node.default_title, "alice"), await _user(host, node.default_title)

    joined = (await alice.request("match_join", {"match_id": match_id}))["match"]
    assert joined["authoritative"] is True and json.loads(joined["label"]) == {"mode": "ranked", "level": 7}
    assert "presences" not in joined and "size" not in joined
    hello = await _data(alice, "100")  # broadcast by match_join on the next tick
    assert "presence" not in hello and json.loads(base64.b64decode(hello["data"])) == [alice.user_id]

    rejected = await bob.request("match_join", {"match_id": match_id, "metadata": {"deny": "full"}})
    assert rejected["error"] == {"code": 5, "message": "go away: full"}
    await bob.request("match_join", {"match_id": match_id})
    await _presence_event(alice, "joins", bob)

    # Client data reaches the handler; its broadcast carries the sender, and reaches the sender too.
    await _send(alice, match_id, 1, "move")
    for sock in (alice, bob):
        echo = await _data(sock, "1")
        assert echo["presence"]["user_id"] == alice.user_id and base64.b64decode(echo["data"]) == b"move"
    await _send(bob, match_id, 2)
    assert base64.b64decode((await _data(bob, "2"))["data"]) == b"just you"
    await alice.no_push("match_data")

    # The loop ticks (10/s) and the signal reaches the state.
    first = await _signal(node, match_id)
    await asyncio.sleep(0.35)
    second = await _signal(node, match_id)
    assert second["tick"] >= first["tick"] + 2 and first["joins"] == ["alice", bob.session["username"]]
    assert second["messages"] == 2

    # Listing: by kind, query and size; the label follows match_label_update.
    other = await nk.match_create("probe", {"label": {"mode": "casual", "level": 2}})
    async with httpx.AsyncClient(base_url=f"http://{host}") as http:
        h = bearer(alice.session["token"])

        async def ids(**params: Any) -> list[str]:
            response = await http.get("/v2/match", params=params, headers=h)
            assert response.status_code == 200, response.text
            return [m["match_id"] for m in response.json().get("matches", [])]

        assert set(await ids(limit=10, authoritative="true")) == {match_id, other}
        assert await ids(limit=10, query="+label.mode:ranked") == [match_id]
        # nakama-js sends an empty label with every query: the query decides.
        assert await ids(limit=10, query="+label.mode:ranked", label="") == [match_id]
        assert await ids(limit=10, query="+label.level:>=5") == [match_id]
        assert await ids(limit=10, query="-label.mode:ranked") == [other]
        assert await ids(limit=10, authoritative="true", min_size=1) == [match_id]
        assert await ids(limit=10, label=json.dumps({"mode": "casual", "level": 2})) == [other]
        listed = await http.get("/v2/match", params={"limit": 10, "query": "+label.mode:ranked"}, headers=h)
        entry = listed.json()["matches"][0]
        assert entry["size"] == 2 and entry["tick_rate"] == 10 and entry["handler_name"] == "probe"
        bad = await http.get("/v2/match", params={"query": "label.mode:"}, headers=h)
        assert bad.status_code == 400 and "Invalid query" in bad.json()["message"]
        bad = await http.get("/v2/match", params={"limit": 0}, headers=h)
        assert bad.json()["message"] == "Invalid limit - limit must be between 1 and 100."
        await _send(alice, match_id, 6, json.dumps({"mode": "ranked", "level": 1}))
        for _ in range(50):
            if await ids(limit=10, query="+label.level:>=5") == []:
                break
            await asyncio.sleep(0.05)
        assert await ids(limit=10, query="+label.level:<5 +label.mode:ranked") == [match_id]
    assert nk.match_get(match_id).size == 2  # type: ignore[union-attr]

    # Kick and leave reach match_leave; the others see the presence events.
    await _send(bob, match_id, 5)
    await _presence_event(alice, "leaves", bob)
    await alice.request("match_leave", {"match_id": match_id})
    await asyncio.sleep(0.25)
    state = await _signal(node, match_id)
    assert sorted(state["leaves"]) == sorted(["alice", bob.session["username"]])

    # A signal returning no state ends the match.
    assert await nk.match_signal(match_id, "stop") == ""
    assert nk.match_get(match_id) is None
    again = await alice.request("match_join", {"match_id": match_id})
    assert again["error"]["code"] == 4
    await alice.close()
    await bob.close()


async def test_a_handler_error_ends_only_that_match(host, node):
    nk = _nk(node)
    doomed, healthy = await nk.match_create("probe"), await nk.match_create("probe")
    alice, bob = await _user(host, node.default_title), await _user(host, node.default_title)
    await alice.request("match_join", {"match_id": doomed})
    await bob.request("match_join", {"match_id": healthy})
    await _send(alice, doomed, 66)
    await _presence_event(alice, "leaves", alice)  # the match ended: its players are taken out
    assert nk.match_get(doomed) is None
    before = (await _signal(node, healthy))["tick"]
    await asyncio.sleep(0.25)
    assert (await _signal(node, healthy))["tick"] > before
    await _send(bob, healthy, 1, "still here")
    assert base64.b64decode((await _data(bob, "1"))["data"]) == b"still here"
    # Returning None from match_loop ends the match too; init errors and unknown handlers refuse.
    await _send(bob, healthy, 67)
    for _ in range(50):
        if nk.match_get(healthy) is None:
            break
        await asyncio.sleep(0.05)
    assert nk.match_get(healthy) is None
    with pytest.raises(Exception, match="could not start"):
        await nk.match_create("probe", {"fail_init": True})
    with pytest.raises(Exception, match="No match handler"):
        await nk.match_create("nope")
    with pytest.raises(Exception, match="tick rate"):
        await nk.match_create("probe", {"tick_rate": 0})
    ping = await alice.request("ping")
    assert "pong" in ping
    await alice.close()
    await bob.close()


async def test_empty_matches_end_after_max_empty_sec(host, node):
    nk = _nk(node)
    alice = await _user(host, node.default_title)
    match_id = await nk.match_create("probe")
    assert "match" in await alice.request("match_join", {"match_id": match_id})
    # Set once the match has a player (read at every tick): a slow sign-up must not end it first.
    node.matches.max_empty_sec = 0.3
    await asyncio.sleep(0.6)
    assert nk.match_get(match_id) is not None  # not empty: it lives on
    await alice.request("match_leave", {"match_id": match_id})
    for _ in range(40):
        if nk.match_get(match_id) is None:
            break
        await asyncio.sleep(0.05)
    assert nk.match_get(match_id) is None
    await alice.close()


async def test_title_b_cannot_join_list_or_signal_title_a_matches(host, node):
    other = await node.titles.create(unique("other"))
    relayed_owner = await _user(host, node.default_title)
    relayed = (await relayed_owner.request("match_create"))["match"]["match_id"]
    authoritative = await _nk(node).match_create("probe", {"label": {"mode": "ranked"}})
    intruder = await _user(host, other)
    for match_id in (relayed, authoritative):
        reply = await intruder.request("match_join", {"match_id": match_id})
        assert reply["error"]["code"] == 4, reply
    # A token of title A is refused by title B.
    reply = await intruder.request("match_join", {"token": tokens.issue(node.default_title, relayed)})
    assert reply["error"] == {"code": 3, "message": "Invalid match token"}
    async with httpx.AsyncClient(base_url=f"http://{host}") as http:
        listed = await http.get("/v2/match", params={"limit": 100}, headers=bearer(intruder.session["token"]))
        assert listed.json().get("matches", []) == []
        mine = await http.get(
            "/v2/match", params={"limit": 100}, headers=bearer(relayed_owner.session["token"])
        )
        assert {m["match_id"] for m in mine.json()["matches"]} == {relayed, authoritative}
    other_nk = _nk(node, other)
    assert other_nk.match_get(authoritative) is None and other_nk.match_list(100) == []
    with pytest.raises(Exception, match="Match not found"):
        await other_nk.match_signal(authoritative, "")
    await intruder.close()
    await relayed_owner.close()


async def test_match_hooks_wrap_socket_messages_and_listing(host, node):
    seen: list[str] = []

    async def before(ctx: Any, request: Any) -> Any:
        seen.append(type(request).__name__)
        return request

    for call in ("MatchCreate", "MatchJoin", "MatchDataSend", "MatchLeave", "ListMatches"):
        node.hooks.before(call, before)
    alice = await _user(host, node.default_title)
    match_id = (await alice.request("match_create"))["match"]["match_id"]
    await alice.request("match_join", {"match_id": match_id})
    await alice.request("match_data_send", {"match_id": match_id, "op_code": 1, "data": ""})
    await alice.request("match_leave", {"match_id": match_id})
    async with httpx.AsyncClient(base_url=f"http://{host}") as http:
        await http.get("/v2/match", headers=bearer(alice.session["token"]))
    assert seen[:5] == ["MatchCreate", "MatchJoin", "MatchDataSend", "MatchLeave", "ListMatchesRequest"]
    await alice.close()


def test_label_queries_see_the_labels_fields_by_path():
    label = '{"mode": "ranked", "level": 7, "open": true, "stats": {"elo": 1500}, "name": "big room"}'
    strings, numbers = IndexEntry("t", "u", "n", label, 10, "arena").fields()
    assert strings == {"mode": ("ranked",), "open": ("true",), "name": ("big room",)}
    assert numbers == {"level": (7.0,), "stats.elo": (1500.0,)}

    def matches(q: str) -> bool:
        return parse(q, "label.", multi=True).match(strings, numbers)

    assert matches("+label.mode:ranked label.level:>=5")
    assert not matches("label.mode:casual")  # only optional clauses: one must match
    assert matches("label.mode:casual label.open:true")
    assert not matches('-label.name:"big room"')
    assert matches("+label.stats.elo:>=1400 +label.stats.elo:<1600")
    assert not matches("+label.level:<7")
    assert not matches("+properties.mode:ranked")  # another prefix's fields are not the label's
    assert IndexEntry("t", "u", "n", "not json", 10, "arena").fields() == ({}, {})
    for bad in ("label.mode:", "+label.level:>=x", "+", 'label.name:"open'):
        with pytest.raises(QueryError):
            parse(bad, "label.", multi=True)


def test_label_queries_search_inside_arrays():
    """As Nakama's label index (bluge): every element of an array is a value of the array's path,
    objects in an array add their fields under it, and a clause matches if any value does."""
    label = json.dumps({
        "convo_ids": ["c1", "c2"], "levels": [3, 12], "tags": [], "maybe": None,
        "players": [{"name": "ann", "elo": 1200}, {"name": "bob", "elo": 1800}],
        "nested": [["x", ["y"]], "z"], "flags": [True, False],
    })  # fmt: skip
    strings, numbers = IndexEntry("t", "u", "n", label, 10, "arena").fields()
    assert strings["convo_ids"] == ("c1", "c2")
    assert strings["players.name"] == ("ann", "bob") and numbers["players.elo"] == (1200.0, 1800.0)
    assert strings["nested"] == ("x", "y", "z") and strings["flags"] == ("true", "false")
    assert "tags" not in strings and "maybe" not in strings

    def matches(q: str) -> bool:
        return parse(q, "label.", multi=True).match(strings, numbers)

    assert matches("+label.convo_ids:c2") and matches("+label.convo_ids:c1")
    assert not matches("+label.convo_ids:c3")
    assert not matches("-label.convo_ids:c1")  # excluded when any element is c1
    assert matches("+label.convo_ids:c* +label.players.name:/b.b/")
    assert matches("+label.levels:>=10") and matches("+label.levels:<=5") and not matches("+label.levels:>20")
    assert matches("+label.levels:12") and matches("+label.players.elo:>1500")
    assert (
        not matches("+label.levels:>12") and not matches("+label.levels:<3") and matches("+label.levels:<=3")
    )
    assert not matches("-label.levels:>=10") and matches("-label.levels:>=13")  # any value excludes
    assert not matches("+label.missing:>=0") and not matches("+label.missing:<=0")
    assert matches('+label.convo_ids:>="c2"') and not matches('+label.convo_ids:>"c2"')
    assert matches("+label.nested:y") and matches("+label.flags:false")
    assert matches("+bob") and not matches("+eve")  # a bare term: any string value of any field
    assert not matches("+label.tags:*")  # an empty array has no value
    score = parse(
        "+label.convo_ids:c1 label.players.name:bob label.players.name:eve", "label.", multi=True
    ).score
    assert score is not None and score(strings, numbers) == 1.0


async def test_a_join_and_leave_within_one_tick_leaves_no_ghost(host, node):
    match_id = await _nk(node).match_create("probe", {"tick_rate": 1})
    alice = await _user(host, node.default_title)
    assert "match" in await alice.request("match_join", {"match_id": match_id})
    await alice.request("match_leave", {"match_id": match_id})
    match = node.matches.local_match(node.default_title.id, match_id.split(".")[0])
    await asyncio.sleep(2.5)  # two ticks at 1 tick/s: the join and the leave reach the handler
    assert match is not None and not match.presences
    await alice.close()


async def test_a_join_approved_for_a_client_that_never_arrives_lapses(node, monkeypatch):
    from overworld.matches import handler

    monkeypatch.setattr(handler, "APPROVAL_TTL_SEC", 0.05)
    match_id = await _nk(node).match_create("probe")
    match = node.matches.local_match(node.default_title.id, match_id.split(".")[0])
    assert match is not None
    ghost = handler.MatchPresence(str(uuid.uuid4()), str(uuid.uuid4()), "ghost", node.matches.node)
    assert (await match.join_attempt(ghost, {}))[0]  # approved, but its socket never tracks
    assert ghost.session_id in match.approved
    await asyncio.sleep(0.1)
    other = handler.MatchPresence(str(uuid.uuid4()), str(uuid.uuid4()), "other", node.matches.node)
    assert (await match.join_attempt(other, {}))[0]
    assert set(match.approved) == {other.session_id}  # the lapsed approval is gone

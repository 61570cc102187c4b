"""The matchmaker over the socket, on SQLite and PostgreSQL: tickets, counts, parties, rules that
relax with time, skill and teams, ratings, backfill, server hooks, title isolation, and no
ticket matched twice."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import msgspec
import orjson
import pytest

from overworld.config import Settings
from overworld.matches import tokens
from overworld.matchmaking.models import Member
from overworld.node import Node
from tests.realtime_support import Socket, authenticate, live_server, open_socket
from tests.support import unique

# Every test runs with JSON and with protobuf sockets (tests/realtime_support.py).
pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("socket_format")]

CODE = """
import json

CALLS = []  # (hook, match id, user ids) of the matched and backfilled hooks


def init(ctx, nk, initializer):
    initializer.register_matchmaker_queue("ranked", skill_window=5.0)
    initializer.register_matchmaker_queue("teams", teams=2)
    initializer.register_matchmaker_queue("relax", relax_after_sec=0.6, relaxed_min_count=2)
    initializer.register_matchmaker_queue("grow", skill_window=2.0, skill_window_growth=40.0)
    initializer.register_matchmaker_queue("region", region_property="region", region_relax_sec=0.6,
                                          max_latency_ms=80)

    def matched(ctx, entries):
        CALLS.append(["matched", "", sorted(e.user_id for e in entries)])
        if any(e.properties.get("mode") == "auth" for e in entries):
            return "authoritative-" + str(len(entries)) + "."
        if any(e.properties.get("mode") == "broken" for e in entries):
            raise RuntimeError("hook failure")
        return None

    def override(ctx, proposed):
        return [m for m in proposed if not any(e.properties.get("veto") == "yes" for e in m)]

    initializer.register_matchmaker_matched(matched)
    initializer.register_matchmaker_override(override)

    def backfilled(ctx, match_id, entries):
        CALLS.append(["backfilled", match_id, sorted(e.user_id for e in entries)])

    initializer.register_matchmaker_backfilled(backfilled)

    @initializer.rpc("mm_calls")
    async def calls(rpc, payload):
        return json.dumps(CALLS)

    @initializer.rpc("mm_report")
    async def report(rpc, payload):
        body = json.loads(payload)
        rated = await nk.matchmaker_report(body["queue"], body["teams"], body.get("ranks"))
        return json.dumps([[{"user_id": r.user_id, "mu": r.mu} for r in team] for team in rated])

    @initializer.rpc("mm_backfill")
    async def backfill(rpc, payload):
        body = json.loads(payload)
        return await nk.matchmaker_backfill(body["match_id"], body["slots"], body.get("query", "*"),
                                            body.get("string_properties"))
"""


@pytest.fixture
def settings(settings: Settings, tmp_path) -> Settings:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "matchmaking.py").write_text(CODE)
    return msgspec.structs.replace(
        settings, runtime_path=str(folder), matchmaker_interval_ms=50, matchmaker_max_intervals=2
    )


@pytest.fixture
async def host(settings: Settings, node: Node):
    async with live_server(settings, node) as h:
        yield h


async def _user(host: str, node: Node, key: str | None = None) -> Socket:
    session = await authenticate(host, key or node.default_title.server_key)
    return await open_socket(host, session)


async def _add(sock: Socket, **body: Any) -> str:
    reply = await sock.request("matchmaker_add", {"min_count": 2, "max_count": 2, "query": "*"} | body)
    assert "matchmaker_ticket" in reply, reply
    ticket: str = reply["matchmaker_ticket"]["ticket"]
    return ticket


def _ids(matched: dict[str, Any]) -> set[str]:
    return {u["presence"]["user_id"] for u in matched["users"]}


async def test_two_players_match_with_a_token_their_properties_and_their_own_ticket(host, node):
    alice, bob = await _user(host, node), await _user(host, node)
    mode = unique("duel")
    ta = await _add(alice, query=f"+properties.mode:{mode}", string_properties={"mode": mode},
                    numeric_properties={"level": 3})  # fmt: skip
    tb = await _add(bob, query=f"+properties.mode:{mode}", string_properties={"mode": mode})
    ma, mb = await alice.push("matchmaker_matched"), await bob.push("matchmaker_matched")
    assert ma["ticket"] == ta and mb["ticket"] == tb
    assert _ids(ma) == _ids(mb) == {alice.user_id, bob.user_id}
    assert ma["self"]["presence"]["user_id"] == alice.user_id
    assert ma["self"]["presence"]["session_id"] and ma["self"]["string_properties"] == {"mode": mode}
    assert ma["self"]["numeric_properties"] == {"level": 3}
    assert "match_id" not in ma and ma["token"] == mb["token"]
    match_id = tokens.verify(node.default_title, ma["token"])
    assert match_id.endswith(".") and uuid.UUID(match_id[:-1])
    # Matched tickets are gone: removing one now is an error.
    gone = await alice.request("matchmaker_remove", {"ticket": ta})
    assert gone["error"]["code"] == 3 and gone["error"]["message"] == "Matchmaker ticket not found"


async def test_bad_requests_and_the_ticket_limit(host, node):
    alice = await _user(host, node)
    cases = [
        ({"min_count": 1, "max_count": 2}, "Invalid minimum count, must be >= 2"),
        ({"min_count": 3, "max_count": 2}, "Invalid maximum count, must be >= minimum count"),
        ({"min_count": 2, "max_count": 4, "count_multiple": 0}, "Invalid count multiple, must be >= 1"),
        ({"min_count": 2, "max_count": 5, "count_multiple": 2}, "Invalid count multiple for maximum count"),
        ({"min_count": 2, "max_count": 2, "query": "+properties.x:"}, "Invalid matchmaker query"),
        ({"min_count": 2, "max_count": 2, "query": "properties.x:>abc"}, "Invalid matchmaker query"),
    ]
    for body, message in cases:
        reply = await alice.request("matchmaker_add", body)
        assert reply["error"]["code"] == 3 and reply["error"]["message"].startswith(message), reply
    never = f"+properties.mode:{unique('none')}"
    for _ in range(node.settings.matchmaker_max_tickets):
        await _add(alice, query=never)
    refused = await alice.request("matchmaker_add", {"min_count": 2, "max_count": 2, "query": never})
    assert refused["error"]["code"] == 3 and refused["error"]["message"] == "Too many matchmaker tickets"
    missing = await alice.request("matchmaker_remove", {"ticket": ""})
    assert missing["error"]["message"] == "Invalid matchmaker ticket"


async def test_queries_that_do_not_parse_are_refused_naming_the_problem(host, node):
    """Lucene syntax that Bleve's query strings lack (grouping, bracketed ranges, fuzziness) is
    refused, for a player's ticket and a party's, rather than matched as literal text."""
    alice, bob = await _user(host, node), await _user(host, node)
    party_id = (await alice.request("party_create", {"open": True, "max_size": 4}))["party"]["party_id"]
    await bob.request("party_join", {"party_id": party_id})
    await bob.push("party")
    queries = {
        "(+properties.mode:ranked": "'('",
        "+properties.mode:ranked)": "')'",
        "+properties.skill:[10 TO 20]": "'['",
        "+properties.region:europ~1": "'~'",
    }
    for query, named in queries.items():
        body = {"min_count": 2, "max_count": 2, "query": query}
        for kind, extra in (("matchmaker_add", {}), ("party_matchmaker_add", {"party_id": party_id})):
            reply = await alice.request(kind, {**body, **extra})
            error = reply.get("error", {})
            assert error.get("code") == 3, (kind, query, reply)
            assert error["message"].startswith("Invalid matchmaker query") and named in error["message"]
    assert not list(node.matchmaker.engine.tickets())
    # Escaped, the same characters are plain text.
    assert (await alice.request("matchmaker_add", {"min_count": 2, "max_count": 2,
                                                   "query": r"+properties.mode:\(x\)"}))["matchmaker_ticket"]  # fmt: skip
    await alice.close()
    await bob.close()


async def test_both_queries_must_accept_each_other(host, node):
    mode = unique("m")
    eu, us, picky = await _user(host, node), await _user(host, node), await _user(host, node)
    # us accepts eu, but eu requires its own region: no match.
    await _add(eu, query=f"+properties.mode:{mode} +properties.region:eu",
               string_properties={"mode": mode, "region": "eu"}, numeric_properties={"level": 12})  # fmt: skip
    await _add(us, query=f"+properties.mode:{mode}", string_properties={"mode": mode, "region": "us"})
    await eu.no_push("matchmaker_matched", 0.5)
    # picky is in eu but excludes players of level 10 or more: eu (level 12) is not for picky.
    await _add(picky, query=f"+properties.mode:{mode} -properties.level:>=10",
               string_properties={"mode": mode, "region": "eu"}, numeric_properties={"level": 1})  # fmt: skip
    matched = await picky.push("matchmaker_matched")
    assert _ids(matched) == {picky.user_id, us.user_id}
    await eu.no_push("matchmaker_matched", 0.3)


async def test_max_count_count_multiple_and_min_count_after_waiting(host, node):
    mode = unique("m")
    players = [await _user(host, node) for _ in range(5)]
    for p in players:
        await _add(p, min_count=2, max_count=4, count_multiple=2, query=f"+properties.mode:{mode}",
                   string_properties={"mode": mode})  # fmt: skip
    got = []
    for p in players:
        try:
            got.append(await p.push("matchmaker_matched", timeout=1.5))
        except TimeoutError:
            got.append(None)
    sizes = sorted(len(m["users"]) for m in got if m is not None)
    assert sizes == [4, 4, 4, 4]  # four matched together, the fifth waits (a match of 1 is never formed)
    # A sixth arrives: after waiting its intervals the pair forms at min_count.
    last = next(p for p, m in zip(players, got, strict=True) if m is None)
    sixth = await _user(host, node)
    await _add(sixth, min_count=2, max_count=4, count_multiple=2, query=f"+properties.mode:{mode}",
               string_properties={"mode": mode})  # fmt: skip
    pair = await sixth.push("matchmaker_matched", timeout=3)
    assert _ids(pair) == {last.user_id, sixth.user_id}


async def test_removed_and_disconnected_tickets_never_match(host, node):
    mode = unique("m")
    alice, bob, carol = await _user(host, node), await _user(host, node), await _user(host, node)
    query = f"+properties.mode:{mode}"
    ta = await _add(alice, query=query, string_properties={"mode": mode})
    assert await alice.request("matchmaker_remove", {"ticket": ta}) == {"cid": "2"}
    await _add(bob, query=query, string_properties={"mode": mode})
    await bob.close()
    await asyncio.sleep(0.2)
    await _add(carol, query=query, string_properties={"mode": mode})
    await carol.no_push("matchmaker_matched", 0.5)
    await alice.no_push("matchmaker_matched", 0.1)
    # Someone else's ticket cannot be removed.
    dave = await _user(host, node)
    carol_tickets = [t.id for t in node.matchmaker.engine.tickets() if t.members[0].user_id == carol.user_id]
    refused = await dave.request("matchmaker_remove", {"ticket": carol_tickets[0]})
    assert refused["error"]["message"] == "Matchmaker ticket not found"


async def test_party_tickets_are_added_by_the_leader_and_match_every_member(host, node):
    mode = unique("m")
    alice, bob, carol = await _user(host, node), await _user(host, node), await _user(host, node)
    party_id = (await alice.request("party_create", {"open": True, "max_size": 4}))["party"]["party_id"]
    await bob.request("party_join", {"party_id": party_id})
    await bob.push("party")
    await asyncio.sleep(0.1)
    body = {"party_id": party_id, "min_count": 3, "max_count": 3, "query": f"+properties.mode:{mode}",
            "string_properties": {"mode": mode}}  # fmt: skip
    refused = await bob.request("party_matchmaker_add", body)
    assert refused["error"]["code"] == 3 and "leader" in refused["error"]["message"]
    reply = (await alice.request("party_matchmaker_add", body))["party_matchmaker_ticket"]
    assert reply["party_id"] == party_id and reply["ticket"]
    assert (await bob.push("party_matchmaker_ticket")) == reply
    await _add(
        carol, min_count=3, max_count=3, query=f"+properties.mode:{mode}", string_properties={"mode": mode}
    )
    matched = [await s.push("matchmaker_matched") for s in (alice, bob, carol)]
    assert all(_ids(m) == {alice.user_id, bob.user_id, carol.user_id} for m in matched)
    assert matched[0]["ticket"] == matched[1]["ticket"] == reply["ticket"]
    by_user = {u["presence"]["user_id"]: u for u in matched[2]["users"]}
    assert by_user[alice.user_id]["party_id"] == by_user[bob.user_id]["party_id"] == party_id
    assert by_user[carol.user_id].get("party_id", "") == ""
    assert matched[0]["token"] == matched[2]["token"]


async def test_a_party_change_voids_its_ticket(host, node):
    mode = unique("m")
    alice, bob, carol, dave = [await _user(host, node) for _ in range(4)]
    party_id = (await alice.request("party_create", {"open": True, "max_size": 4}))["party"]["party_id"]
    await bob.request("party_join", {"party_id": party_id})
    await bob.push("party")
    await asyncio.sleep(0.1)
    ticket = (await alice.request("party_matchmaker_add", {
        "party_id": party_id, "min_count": 3, "max_count": 3, "query": f"+properties.mode:{mode}",
        "string_properties": {"mode": mode}}))["party_matchmaker_ticket"]["ticket"]  # fmt: skip
    await carol.request("party_join", {"party_id": party_id})
    await carol.push("party")
    await asyncio.sleep(0.2)
    assert node.matchmaker.engine.get(node.default_title.id, ticket) is None
    await _add(
        dave, min_count=3, max_count=3, query=f"+properties.mode:{mode}", string_properties={"mode": mode}
    )
    await dave.no_push("matchmaker_matched", 0.4)


async def test_rules_relax_with_waiting_time(host, node):
    # Count: two tickets wanting 4 players match as 2 once they waited 0.6 s.
    mode = unique("m")
    a, b = await _user(host, node), await _user(host, node)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for s in (a, b):
        await _add(s, min_count=4, max_count=4, query=f"+properties.mode:{mode}",
                   string_properties={"mode": mode, "queue": "relax"})  # fmt: skip
    matched = await a.push("matchmaker_matched", timeout=3)
    assert _ids(matched) == {a.user_id, b.user_id} and loop.time() - started >= 0.5
    # Skill window: 2 at first, growing 40 per second: skills 10 apart match after ~0.2 s, not at once.
    c, d = await _user(host, node), await _user(host, node)
    await _add(c, query="*", string_properties={"queue": "grow"}, numeric_properties={"skill": 10})
    await _add(d, query="*", string_properties={"queue": "grow"}, numeric_properties={"skill": 20})
    matched = await c.push("matchmaker_matched", timeout=3)
    assert _ids(matched) == {c.user_id, d.user_id}
    # Region: eu and us players match only after 0.6 s, and only with a low latency to a common region.
    e, f, g = await _user(host, node), await _user(host, node), await _user(host, node)
    started = loop.time()
    await _add(
        e, string_properties={"queue": "region", "region": "eu"}, numeric_properties={"latency_eu": 20}
    )
    await _add(
        f, string_properties={"queue": "region", "region": "asia"}, numeric_properties={"latency_eu": 300}
    )
    await _add(g, string_properties={"queue": "region", "region": "us"},
               numeric_properties={"latency_eu": 60, "latency_us": 10})  # fmt: skip
    matched = await e.push("matchmaker_matched", timeout=3)
    assert _ids(matched) == {e.user_id, g.user_id} and loop.time() - started >= 0.5
    await f.no_push("matchmaker_matched", 0.2)


async def test_skill_fairness_groups_similar_players(host, node):
    players = [await _user(host, node) for _ in range(6)]
    skills = [10, 40, 11, 41, 25, 26]
    for p, skill in zip(players, skills, strict=True):
        await _add(p, string_properties={"queue": "ranked"}, numeric_properties={"skill": skill})
    groups = []
    for p in players:
        m = await p.push("matchmaker_matched")
        groups.append(sorted(u["numeric_properties"]["skill"] for u in m["users"]))
    assert sorted(map(tuple, groups)) == sorted([(10, 11), (10, 11), (40, 41), (40, 41), (25, 26), (25, 26)])


async def test_ratings_are_updated_by_server_code_and_used_for_tickets(host, node):
    a, b = await _user(host, node), await _user(host, node)
    reply = await a.request("rpc", {"id": "mm_report", "payload": orjson.dumps(
        {"queue": "ranked", "teams": [[a.user_id], [b.user_id]], "ranks": [1, 2]}).decode()})  # fmt: skip
    rated = orjson.loads(reply["rpc"]["payload"])
    mu_a, mu_b = rated[0][0]["mu"], rated[1][0]["mu"]
    assert mu_a > 25 > mu_b
    bad = await a.request("rpc", {"id": "mm_report", "payload": orjson.dumps(
        {"queue": "ranked", "teams": [[a.user_id]]}).decode()})  # fmt: skip
    assert "error" in bad
    # Tickets without a skill get their player's rating; the winner and the loser are ~5.5 apart,
    # beyond the 5.0 window of "ranked": they do not match each other.
    await _add(a, string_properties={"queue": "ranked"})
    await _add(b, string_properties={"queue": "ranked"})
    await a.no_push("matchmaker_matched", 0.4)
    c = await _user(host, node)
    await _add(c, string_properties={"queue": "ranked"}, numeric_properties={"skill": mu_a - 0.5})
    matched = await a.push("matchmaker_matched")
    skills = {u["presence"]["user_id"]: u["numeric_properties"]["skill"] for u in matched["users"]}
    assert skills == {a.user_id: pytest.approx(mu_a), c.user_id: mu_a - 0.5}
    # Ratings are per title and per queue: a report in another queue leaves "ranked" alone.
    again = await node.matchmaker.ratings.get(node.default_title.id, "other", [a.user_id])
    assert again[a.user_id].mu == 25


async def test_concurrent_reports_about_one_player_are_both_applied(node):
    ratings = node.matchmaker.ratings
    title = node.default_title.id
    winner, losers = str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(6)]
    await asyncio.gather(*(ratings.report(title, "duel", [[winner], [loser]], [1, 2]) for loser in losers))
    concurrent = (await ratings.get(title, "duel", [winner]))[winner]
    # The same six wins one after the other, for another player:
    other = str(uuid.uuid4())
    for loser in losers:
        await ratings.report(title, "duel2", [[other], [loser]], [1, 2])
    serial = (await ratings.get(title, "duel2", [other]))[other]
    assert concurrent.matches == 6
    assert concurrent.mu > 25 and serial.mu > 25
    # Each loser is new, so every report gives the winner the same kind of gain: applied one
    # after the other (no update lost), six concurrent wins end where six serial wins do.
    assert concurrent.mu == pytest.approx(serial.mu) and concurrent.sigma == pytest.approx(serial.sigma)


async def test_teams_are_balanced_by_skill(host, node):
    players = [await _user(host, node) for _ in range(4)]
    for p, skill in zip(players, [40, 10, 30, 20], strict=True):
        await _add(p, min_count=4, max_count=4, string_properties={"queue": "teams"},
                   numeric_properties={"skill": skill})  # fmt: skip
    matched = await players[0].push("matchmaker_matched")
    teams: dict[float, list[float]] = {}
    for u in matched["users"]:
        teams.setdefault(u["numeric_properties"]["team"], []).append(u["numeric_properties"]["skill"])
    assert sorted(sorted(t) for t in teams.values()) == [[10, 40], [20, 30]]


async def test_backfill_fills_a_running_match(host, node):
    mode = unique("coop")
    a, b = await _user(host, node), await _user(host, node)
    backfill_id = (await a.request("rpc", {"id": "mm_backfill", "payload": orjson.dumps(
        {"match_id": "running-match.", "slots": 1, "query": f"+properties.mode:{mode}",
         "string_properties": {"mode": mode}}).decode()}))["rpc"]["payload"]  # fmt: skip
    assert backfill_id
    await _add(a, query=f"+properties.mode:{mode}", string_properties={"mode": mode})
    await _add(b, query=f"+properties.mode:{mode}", string_properties={"mode": mode})
    first = await a.push("matchmaker_matched")
    assert first["match_id"] == "running-match." and "token" not in first and _ids(first) == {a.user_id}
    # The one slot is filled: b waits (alone, it cannot form a match).
    await b.no_push("matchmaker_matched", 0.3)
    # Server code learned which player was sent to the match (the backfilled hook, not the
    # matched hook: the match exists).
    calls = orjson.loads((await a.request("rpc", {"id": "mm_calls"}))["rpc"]["payload"])
    assert ["backfilled", "running-match.", [a.user_id]] in calls
    assert not any(c[0] == "matched" and a.user_id in c[2] for c in calls)
    assert not any(b.user_id in c[2] for c in calls)


async def test_the_ticket_limit_counts_per_session_not_per_user(host, node):
    session = await authenticate(host, node.default_title.server_key)
    first, second = await open_socket(host, session), await open_socket(host, session)
    never = f"+properties.mode:{unique('none')}"
    limit = node.settings.matchmaker_max_tickets
    for sock in (first, second):  # one user, two sessions: each may have `limit` tickets (as Nakama)
        for _ in range(limit):
            await _add(sock, query=never)
        refused = await sock.request("matchmaker_add", {"min_count": 2, "max_count": 2, "query": never})
        assert refused["error"]["message"] == "Too many matchmaker tickets"
    assert len(node.matchmaker.engine) >= 2 * limit
    await first.close()
    await asyncio.sleep(0.2)  # the closed session's tickets die with it; the other's stay
    refused = await second.request("matchmaker_add", {"min_count": 2, "max_count": 2, "query": never})
    assert refused["error"]["message"] == "Too many matchmaker tickets"


async def test_a_sweep_removes_only_tickets_of_sessions_on_dead_nodes(host, node):
    alive = await _user(host, node)
    never = f"+properties.mode:{unique('none')}"
    kept = await _add(alive, query=never)
    mm = node.matchmaker
    ghost = await mm.make_ticket(
        node.default_title.id, [Member(str(uuid.uuid4()), str(uuid.uuid4()), "ghost", "gone-node-1234")],
        query=never, min_count=2, max_count=2, count_multiple=None, string_properties={},
        numeric_properties={}, owner=str(uuid.uuid4()),
    )  # fmt: skip
    await mm.add(ghost)
    assert mm.engine.get(node.default_title.id, ghost.id) is not None
    async with mm._lock:  # as in a pass
        removed = await mm.sweep()
    assert removed == [ghost.id]
    assert mm.engine.get(node.default_title.id, ghost.id) is None
    assert mm.engine.get(node.default_title.id, kept) is not None
    assert not await mm.store.remove(node.default_title.id, ghost.id, "")  # gone from the store too
    # A player whose session lives on this node is never swept, even when not present: on one
    # node, tickets die with their session's disconnect instead.
    async with mm._lock:
        assert await mm.sweep() == []


async def test_override_hook_vetoes_and_matched_hook_chooses_the_match(host, node):
    mode = unique("m")
    a, b, c, d, e, f = [await _user(host, node) for _ in range(6)]
    await _add(a, query=f"+properties.mode:{mode}", string_properties={"mode": mode, "veto": "yes"})
    await _add(b, query=f"+properties.mode:{mode}", string_properties={"mode": mode})
    await a.no_push("matchmaker_matched", 0.4)
    await _add(c, string_properties={"mode": "auth"}, query="+properties.mode:auth")
    await _add(d, string_properties={"mode": "auth"}, query="+properties.mode:auth")
    matched = await c.push("matchmaker_matched")
    assert matched["match_id"] == "authoritative-2." and "token" not in matched
    # A failing matched hook falls back to a relayed match.
    await _add(e, string_properties={"mode": "broken"}, query="+properties.mode:broken")
    await _add(f, string_properties={"mode": "broken"}, query="+properties.mode:broken")
    matched = await e.push("matchmaker_matched")
    assert matched["token"] and "match_id" not in matched


async def test_titles_never_match_each_other(host, node):
    other = await node.titles.create(unique("other"))
    await node.runtime.add_title(other)
    mode = unique("m")
    a = await _user(host, node)
    b = await _user(host, node, other.server_key)
    await _add(a, query=f"+properties.mode:{mode}", string_properties={"mode": mode})
    await _add(b, query=f"+properties.mode:{mode}", string_properties={"mode": mode})
    await a.no_push("matchmaker_matched", 0.4)
    c = await _user(host, node, other.server_key)
    await _add(c, query=f"+properties.mode:{mode}", string_properties={"mode": mode})
    assert _ids(await b.push("matchmaker_matched")) == {b.user_id, c.user_id}
    # Title A's player cannot remove title B's ticket either.
    other_tickets = [t.id for t in node.matchmaker.engine.tickets() if t.title_id == other.id]
    assert other_tickets == []


async def test_no_ticket_is_matched_twice_under_concurrency(host, node):
    mode = unique("m")
    sockets = [await _user(host, node) for _ in range(24)]

    async def join(s: Socket) -> list[str]:
        tickets = []
        for _ in range(3):
            tickets.append(await _add(s, min_count=2, max_count=3, query=f"+properties.mode:{mode}",
                                      string_properties={"mode": mode}))  # fmt: skip
        return tickets

    all_tickets = await asyncio.gather(*(join(s) for s in sockets))
    seen: dict[str, int] = {}
    deadline = asyncio.get_running_loop().time() + 5
    received = 0
    while received < 72 and asyncio.get_running_loop().time() < deadline:
        for s in sockets:
            while not s.pushes.empty():
                message = s.pushes.get_nowait()
                if "matchmaker_matched" in message:
                    ticket = message["matchmaker_matched"]["ticket"]
                    seen[ticket] = seen.get(ticket, 0) + 1
                    received += 1
        await asyncio.sleep(0.05)
    assert all(count == 1 for count in seen.values())
    assert set(seen) <= {t for ts in all_tickets for t in ts}
    assert len(seen) >= 70  # all but at most two are matched (a group of 1 never forms)


async def test_a_store_failure_while_forming_leaves_the_tickets_waiting(host, node):
    store = node.matchmaker.store
    claim = store.claim
    failures = []

    async def failing_once(title_id: str, ids: list[str]) -> list[str]:
        if not failures:
            failures.append(ids)
            raise ConnectionError("store unreachable")  # as a Redis outage would
        return await claim(title_id, ids)

    store.claim = failing_once  # type: ignore[method-assign]
    try:
        a, b = await _user(host, node), await _user(host, node)
        await _add(a)
        await _add(b)
        matched = await a.push("matchmaker_matched")  # a later pass forms the match after all
        assert failures and _ids(matched) == {a.user_id, b.user_id}
    finally:
        store.claim = claim  # type: ignore[method-assign]


async def test_passes_failing_on_an_outage_log_one_warning_then_one_when_they_work_again(node):
    """Found by scripts/chaos: during a Redis restart every node logged a traceback at error level
    each pass (every second)."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from structlog.testing import capture_logs

    store = node.matchmaker.store
    lead = store.lead

    async def unreachable() -> bool:
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with capture_logs() as logs:
        store.lead = unreachable  # type: ignore[method-assign]
        try:
            for _ in range(3):
                await node.matchmaker.guarded_pass()
        finally:
            store.lead = lead  # type: ignore[method-assign]
        await node.matchmaker.guarded_pass()
        await node.matchmaker.guarded_pass()
    events = [entry["event"] for entry in logs if entry["event"].startswith("matchmaker pass")]
    assert events == [
        "matchmaker passes failing: redis unavailable",
        "matchmaker passes working again: redis available",
    ]
    assert all("exc_info" not in entry for entry in logs)


async def test_a_pass_failing_on_a_bug_logs_its_traceback(node):
    from structlog.testing import capture_logs

    store = node.matchmaker.store
    lead = store.lead

    async def broken() -> bool:
        raise KeyError("a bug")

    with capture_logs() as logs:
        store.lead = broken  # type: ignore[method-assign]
        try:
            await node.matchmaker.guarded_pass()
            await node.matchmaker.guarded_pass()
        finally:
            store.lead = lead  # type: ignore[method-assign]
    failed = [entry for entry in logs if entry["event"] == "matchmaker pass failed"]
    assert len(failed) == 2 and all(entry["log_level"] == "error" for entry in failed)

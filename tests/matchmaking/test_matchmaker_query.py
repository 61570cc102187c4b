"""The matchmaker's query language and the engine's pass, without a server."""

from __future__ import annotations

import math
import time

import pytest

from overworld.matchmaking.engine import Engine
from overworld.matchmaking.models import Member, QueueRules, Ticket
from overworld.query import QueryError, parse


def m(query: str, s: dict[str, str] | None = None, n: dict[str, float] | None = None) -> bool:
    return parse(query).match(s or {}, n or {})


def test_required_optional_and_excluded_terms():
    q = "+properties.region:europe -properties.mode:casual"
    assert m(q, {"region": "europe"})
    assert not m(q, {"region": "europe", "mode": "casual"})
    assert not m(q, {"region": "asia"})
    # Only optional terms: at least one must match (Bleve's rule).
    q = "properties.region:europe properties.region:asia"
    assert m(q, {"region": "asia"}) and not m(q, {"region": "africa"})
    # With a required term, optional ones only score.
    q = "+properties.mode:ranked properties.region:europe^2"
    assert m(q, {"mode": "ranked", "region": "asia"})
    score = parse(q).score
    assert score is not None
    assert score({"mode": "ranked", "region": "europe"}, {}) > score({"mode": "ranked"}, {})
    # Excluded terms only: everything else matches.
    assert m("-properties.mode:casual", {}) and not m("-properties.mode:casual", {"mode": "casual"})


def test_ranges_numbers_and_string_ranges():
    q = "+properties.rank:>=10 +properties.rank:<=20"
    assert m(q, n={"rank": 10}) and m(q, n={"rank": 20}) and not m(q, n={"rank": 21})
    assert not m(q)  # a missing property is outside every range
    assert m("+properties.rank:>10", n={"rank": 10.5}) and not m("+properties.rank:>10", n={"rank": 10})
    assert m("+properties.rank:<3", n={"rank": 2}) and not m("+properties.rank:<3", n={"rank": 3})
    # A plain number matches a numeric property equal to it, or the same text.
    assert m("+properties.level:5", n={"level": 5.0}) and m("+properties.level:5", {"level": "5"})
    assert m('+properties.name:>="m"', {"name": "zed"}) and not m('+properties.name:>="m"', {"name": "al"})
    assert parse("+properties.rank:>=10 +properties.rank:<=20").numeric_bounds("rank") == (10, 20)
    assert parse("properties.rank:>=10").numeric_bounds("rank") == (-math.inf, math.inf)


def test_wildcards_phrases_regexes_escapes_and_bare_terms():
    assert m("*") and m("", {}) and m("* -properties.x:y")
    assert m("+properties.region:eu*", {"region": "eu-west"}) and not m(
        "+properties.region:eu*", {"region": "us"}
    )
    assert m("+properties.code:a?c", {"code": "abc"}) and not m("+properties.code:a?c", {"code": "abbc"})
    assert m("+properties.region:*", {"region": "x"}) and not m("+properties.region:*", {})
    assert m('+properties.name:"north america"', {"name": "north america"})
    assert not m('+properties.name:"north america"', {"name": "north"})
    assert m(r"+properties.name:a\:b", {"name": "a:b"})
    assert m("+properties.region:/eu-(west|east)/", {"region": "eu-east"})
    assert not m("+properties.region:/eu-(west|east)/", {"region": "eu-north"})
    assert m("+europe", {"anything": "europe"}) and not m("+europe", {"x": "asia"})
    # Exact, case-sensitive (Nakama's keyword mapping); fields other than properties.* never match.
    assert not m("+properties.region:Europe", {"region": "europe"})
    assert not m("+region:europe", {"region": "europe"})


@pytest.mark.parametrize(
    "bad",
    [
        "+",
        "+properties.x:",
        "properties.x:>abc",
        'properties.x:"open',
        "properties.x:/(/",
        "a^b",
        "x" * 5000,
        "(properties.x:a)",
        "properties.x:[1 TO 5]",
        "properties.x:a~2",
        "properties.x:{a}",
    ],
)
def test_bad_queries_are_refused_with_a_reason(bad):
    with pytest.raises(QueryError) as exc:
        parse(bad)
    assert str(exc.value)


def test_patterns_a_backtracking_engine_would_choke_on_are_answered_at_once():
    """Queries come from players: wildcards and regexps run on RE2, in time linear in the text.
    (Python's backtracking `re` needs over a minute for the first of these and doubles its time
    with every extra character of the second.)"""
    started = time.perf_counter()
    assert not m("+properties.name:*a*a*a*a*a*a*a*a*b", {"name": "a" * 64})
    assert not m("+properties.name:/(a+)+$/", {"name": "a" * 64 + "!"})
    assert m("+properties.name:/(a+)+!/", {"name": "a" * 64 + "!"})
    assert time.perf_counter() - started < 2.0  # a guard against a hang, with a wide margin
    with pytest.raises(QueryError, match="invalid regular expression"):
        parse(r"+properties.name:/(a)\1/")  # backreferences: not in RE2 (nor in Bleve's Go regexps)


def test_queries_of_one_shape_share_a_compiled_function_and_values_stay_data():
    a = parse("+properties.mode:ranked +properties.skill:>=10")
    b = parse("+properties.mode:casual +properties.skill:>=99")
    assert a.match({"mode": "ranked"}, {"skill": 12}) and not b.match({"mode": "ranked"}, {"skill": 12})
    evil = parse('+properties.x:"a) or True or (x"')
    assert not evil.match({"x": "b"}, {}) and evil.match({"x": "a) or True or (x"}, {})


def _ticket(i: int, query: str = "*", s: dict[str, str] | None = None, skill: float = math.nan,
            min_count: int = 2, max_count: int = 2, members: int = 1, created: float | None = None) -> Ticket:  # fmt: skip
    n = {} if math.isnan(skill) else {"skill": skill}
    return Ticket(
        id=f"t{i}", title_id="title", seq=i, created=time.time() if created is None else created,
        query=parse(query), min_count=min_count, max_count=max_count, count_multiple=1, s=s or {}, n=n,
        members=[Member(f"s{i}-{k}", f"u{i}-{k}", "", "n") for k in range(members)], skill=skill,
    )  # fmt: skip


def test_the_pass_checks_both_sides_serves_the_oldest_first_and_prefers_close_skill():
    e = Engine()
    e.add(_ticket(1, "+properties.region:eu", {"region": "eu"}))
    e.add(_ticket(2, "*", {"region": "us"}))  # accepts eu, but eu does not accept it
    assert e.run(time.time()) == []
    e.add(_ticket(3, "*", {"region": "eu"}))
    [p] = e.run(time.time())
    assert [t.id for t in p.tickets] == ["t1", "t3"]
    e = Engine()
    for i, skill in enumerate([50, 10, 49, 11]):
        e.add(_ticket(i, skill=skill))
    groups = sorted(sorted(t.skill for t in p.tickets) for p in e.run(time.time()))
    assert groups == [[10, 11], [49, 50]]


def test_the_pass_never_puts_a_ticket_or_a_session_in_two_matches():
    e = Engine(max_intervals=0)
    for i in range(50):
        e.add(_ticket(i, min_count=2, max_count=3))
    proposals = e.run(time.time())
    ids = [t.id for p in proposals for t in p.tickets]
    assert len(ids) == len(set(ids)) == 50
    assert all(2 <= sum(t.size for t in p.tickets) <= 3 for p in proposals)


def test_skill_window_widens_and_min_count_relaxes_with_waiting():
    rules = QueueRules(skill_window=1.0, skill_window_growth=1.0, relax_after_sec=10, relaxed_min_count=2)
    e = Engine(lambda title, queue: rules, max_intervals=0)
    now = time.time()
    e.add(_ticket(1, skill=10, min_count=3, max_count=3, created=now))
    e.add(_ticket(2, skill=15, min_count=3, max_count=3, created=now))
    assert e.run(now) == []
    assert e.run(now + 5) == []  # window 6 now, but 3 players are needed
    [p] = e.run(now + 11)
    assert {t.id for t in p.tickets} == {"t1", "t2"}


def test_parties_fit_whole_and_the_index_is_used_for_required_terms():
    e = Engine(max_intervals=0)
    e.add(_ticket(1, "+properties.mode:duo", {"mode": "duo"}, members=2, min_count=4, max_count=4))
    e.add(_ticket(2, "+properties.mode:duo", {"mode": "duo"}, members=3, min_count=4, max_count=4))
    e.add(_ticket(3, "+properties.mode:duo", {"mode": "duo"}, members=2, min_count=4, max_count=4))
    pool = e.pools["title"]
    assert len(pool.bucket({"mode": "duo"}) or ()) == 3
    [p] = e.run(time.time())
    assert {t.id for t in p.tickets} == {"t1", "t3"}
    assert list(pool.tickets) == ["t2"]  # matched tickets leave the pool (the service claims them)


def test_a_smaller_match_forms_on_the_max_intervals_th_pass_as_in_nakama():
    now = time.time()
    for max_intervals, first_pass_with_min in ((0, 1), (1, 1), (2, 2), (3, 3)):
        e = Engine(max_intervals=max_intervals)
        e.add(_ticket(1, min_count=2, max_count=4, created=now))
        e.add(_ticket(2, min_count=2, max_count=4, created=now))
        for n in range(1, first_pass_with_min):
            assert e.run(now + n) == [], (max_intervals, n)  # waiting for a full match of 4
        [p] = e.run(now + first_pass_with_min)
        assert {t.id for t in p.tickets} == {"t1", "t2"}
    # A full match never waits.
    e = Engine(max_intervals=5)
    for i in range(4):
        e.add(_ticket(i, min_count=2, max_count=4, created=now))
    [p] = e.run(now)
    assert len(p.tickets) == 4


def test_a_matched_ticket_never_comes_back_from_an_index():
    # The first ticket of a set of required fields once stayed behind in the index built for it.
    e = Engine(max_intervals=0)
    query, s = "+properties.mode:duel +properties.region:eu", {"mode": "duel", "region": "eu"}
    e.add(_ticket(1, query, s, skill=10))
    e.add(_ticket(2, query, s, skill=11))
    e.add(_ticket(9, query + " +properties.map:x", s, skill=30))  # in the same bucket, matches nobody
    [p] = e.run(time.time())
    assert {t.id for t in p.tickets} == {"t1", "t2"}
    e.add(_ticket(3, query, s, skill=10))
    assert e.run(time.time()) == []
    e.add(_ticket(4, query, s, skill=12))
    [p] = e.run(time.time())
    assert {t.id for t in p.tickets} == {"t3", "t4"}


def test_every_query_of_a_group_is_checked_both_ways_inside_a_bucket():
    def pool(region_of_t2: str, query_of_t3: str) -> list[set[str]]:
        e = Engine(max_intervals=0)
        e.add(_ticket(1, "+properties.mode:a", {"mode": "a", "region": "eu"}, min_count=3, max_count=3))
        e.add(
            _ticket(2, "+properties.mode:a", {"mode": "a", "region": region_of_t2}, min_count=3, max_count=3)
        )
        e.add(_ticket(3, query_of_t3, {"mode": "a", "region": "eu"}, min_count=3, max_count=3))
        return [{t.id for t in p.tickets} for p in e.run(time.time())]

    assert pool("eu", "+properties.mode:a +properties.region:eu") == [{"t1", "t2", "t3"}]
    assert pool("us", "+properties.mode:a +properties.region:eu") == []  # t3 does not want t2
    assert pool("us", "+properties.mode:a -properties.region:us") == []
    assert pool("us", "+properties.mode:b") == []  # t3 wants none of the bucket
    assert pool("us", "+properties.mode:a") == [{"t1", "t2", "t3"}]


def test_matching_is_the_same_past_the_index_limit(monkeypatch: pytest.MonkeyPatch):
    from overworld.matchmaking import engine

    def run() -> list[set[str]]:
        e = Engine(max_intervals=0)
        s = {"mode": "a", "region": "eu", "map": "m1"}
        queries = ["+properties.mode:a", "+properties.mode:a +properties.region:eu",
                   "+properties.map:m1 +properties.region:eu", "+properties.mode:a +properties.map:m2"]  # fmt: skip
        for i, q in enumerate(queries * 2):
            e.add(_ticket(i, q, s, skill=float(i)))
        return sorted(({t.id for t in p.tickets} for p in e.run(time.time())), key=sorted)

    unlimited = run()
    monkeypatch.setattr(engine, "MAX_INDEXES", 1)
    assert run() == unlimited
    assert {"t3", "t7"} not in unlimited and len(unlimited) == 3  # m2 is wanted by nobody's map


def test_region_rule_narrows_the_bucket_until_it_relaxes():
    rules = QueueRules(region_property="region", region_relax_sec=5, max_latency_ms=100)
    now = time.time()

    def pool(query_of_t2: str, at: float) -> list[set[str]]:
        e = Engine(lambda title, queue: rules, max_intervals=0)
        e.add(_ticket(1, "+properties.mode:a", {"mode": "a", "region": "eu"}, created=now))
        e.add(_ticket(2, query_of_t2, {"mode": "a", "region": "us"}, created=now))
        e.add(_ticket(3, "+properties.mode:a", {"mode": "a", "region": "eu"}, created=now))
        return [{t.id for t in p.tickets} for p in e.run(at)]

    assert pool("+properties.mode:a", now) == [{"t1", "t3"}]  # same region first
    assert pool("+properties.mode:a +properties.region:eu", now) == [{"t1", "t3"}]  # us wants eu: not yet
    # No common latency reported: regions never mix, even after relaxing.
    assert pool("+properties.mode:a +properties.region:eu", now + 6) == [{"t1", "t3"}]
    e = Engine(lambda title, queue: rules, max_intervals=0)
    e.add(_ticket(2, "+properties.region:eu", {"mode": "a", "region": "us"}, created=now))
    t1 = _ticket(1, "+properties.mode:a", {"mode": "a", "region": "eu"}, created=now)
    t1.n["latency_eu"] = 20
    e.add(t1)
    e.pools["title"].tickets["t2"].n["latency_eu"] = 80
    assert e.run(now + 1) == []  # t2 (oldest) asks for eu but must stay in us for now
    [p] = e.run(now + 6)
    assert {t.id for t in p.tickets} == {"t1", "t2"}


def test_candidates_taken_by_score_are_checked_against_each_other():
    """A query with required and optional clauses takes its candidates by score: they must still
    come from different sessions and accept each other, both ways."""

    def three(i: int, query: str, s: dict[str, str]) -> Ticket:
        return _ticket(i, query, s, min_count=3, max_count=3)

    def run(*tickets: Ticket) -> list[set[str]]:
        engine = Engine(max_intervals=0)
        for t in tickets:
            engine.add(t)
        return [{t.id for t in p.tickets} for p in engine.run(time.time())]

    scoring = "+properties.mode:x properties.region:eu"
    plain = "+properties.mode:x"
    no_dave = "+properties.mode:x -properties.name:dave"
    b1, b2 = three(2, plain, {"mode": "x", "region": "eu"}), three(3, plain, {"mode": "x", "region": "eu"})
    b2.members = b1.members  # two tickets of one session
    assert run(three(1, scoring, {"mode": "x"}), b1, b2) == []
    carol = {"mode": "x", "name": "carol"}
    dave = {"mode": "x", "name": "dave"}
    erin = {"mode": "x", "name": "erin"}
    # Carol excludes Dave: no match of three, until Erin comes.
    assert run(three(1, scoring, {"mode": "x"}), three(4, no_dave, carol), three(5, plain, dave)) == []
    matches = run(
        three(1, scoring, {"mode": "x"}),
        three(4, no_dave, carol),
        three(5, plain, dave),
        three(6, plain, erin),
    )
    assert matches and all(not {"t4", "t5"} <= m for m in matches)


def test_candidates_taken_by_score_count_with_their_relaxed_minimum():
    """A query with optional clauses takes its candidates by score; a candidate that waited past
    `relax_after_sec` counts with its relaxed minimum there too, as in the main loop."""
    rules = QueueRules(relax_after_sec=5, relaxed_min_count=2)
    e = Engine(lambda title, queue: rules, max_intervals=2)
    now = time.time()
    scoring = "+properties.mode:x properties.region:eu"
    e.add(_ticket(1, scoring, {"mode": "x"}, min_count=3, max_count=3, created=now))
    assert e.run(now + 10) == []  # alone: it waits through a pass
    # Four players wanted, two accepted once relaxed: fits t1's maximum of three only relaxed.
    e.add(_ticket(2, "+properties.mode:x", {"mode": "x"}, min_count=4, max_count=4, created=now + 12))
    # t1 (on its last interval) searches first and takes t2 by score; t2's own search, on its
    # first pass, would accept only a full match.
    [p] = e.run(now + 20)
    assert [t.id for t in p.tickets] == ["t1", "t2"]

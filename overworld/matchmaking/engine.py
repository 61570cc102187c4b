"""The matching pass over one process's copy of the waiting tickets (no I/O).

Each title has its own pool. A pool indexes its tickets so that a ticket's candidates come from
the smallest of:

- the bucket of the tickets having all its required exact terms (`+properties.mode:ranked
  +properties.region:eu` -> the tickets whose `mode` is `ranked` and `region` is `eu`), plus its
  region under a region rule; an index per set of fields is built when a query first needs it;
- a range of a sorted numeric index (`properties.rank:>=10 +properties.rank:<=20`, or the skill
  window), walked outwards from the ticket's own skill, so the closest skill comes first;
- the whole pool, oldest first, when the query constrains nothing indexable (`*`).

A pass serves backfill requests first, then tickets oldest first. The searching ticket takes
candidates in that order while they fit: both queries accept each other (and every member
already taken), counts stay compatible, skill within the window, region rules hold; it stops at
its maximum count or after examining `scan_limit` candidates. The match formed is the longest
prefix of what it took whose size suits every ticket in it (min/max count, count multiple); as in
Nakama, a ticket forms a smaller match than its maximum count only from its `max_intervals`-th
pass on (the first pass with `max_intervals` 0 or 1), before that only a full one. So a pass
costs about (tickets x candidates looked at), never (tickets x pool).

Queries are evaluated as little as possible: candidates from the exact bucket of a query's
required terms are known to satisfy a query made only of such terms, and what a candidate's
query says of the searching ticket is worked out once per query text (`_Verdicts`).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from math import lcm
from typing import NamedTuple

from sortedcontainers import SortedList  # type: ignore[import-untyped]

from overworld.matchmaking.models import DEFAULT_RULES, Proposal, QueueRules, Ticket
from overworld.query import Query

RulesFor = Callable[[str, str], QueueRules]  # (title id, queue) -> rules
SCAN_LIMIT = 256


Entry = tuple[float, int, str, Ticket]  # (value, arrival, id, ticket): how sorted indexes hold tickets


def _entry(t: Ticket, value: float) -> Entry:
    return (value, t.seq, t.id, t)  # compared by value, then arrival; never down to the ticket


class SkillList:
    """Tickets sorted by (skill, arrival, id) in a plain list, with a parallel list of their
    skills to bisect. Arrivals wait in `pending` and are merged in before the next walk; a
    ticket that leaves is only marked (`gone`) and skipped by walks, and marked ones are swept
    out once they are half the list. A pass removes most of what it walks, and a sweep costs
    less than a sorted-list removal per ticket."""

    __slots__ = ("gone", "pending", "skills", "tickets")

    def __init__(self, tickets: Iterable[Ticket]) -> None:
        self.tickets: list[Ticket] = []
        self.skills: list[float] = []
        self.pending: list[Ticket] = list(tickets)
        self.gone: dict[str, Ticket] = {}  # id -> ticket still listed (or pending) that left

    def __len__(self) -> int:
        return len(self.tickets) + len(self.pending) - len(self.gone)

    def add(self, t: Ticket) -> None:
        stale = self.gone.pop(t.id, None)
        if stale is not None:  # back before its old entry was swept
            self._delete(stale)
        self.pending.append(t)

    def discard(self, t: Ticket) -> None:
        self.gone[t.id] = t
        if 2 * len(self.gone) > len(self.tickets) + len(self.pending):
            self._sweep()

    def outwards(self, center: float, lo: float, hi: float) -> Iterator[Ticket]:
        """The tickets with skill in [lo, hi], nearest to `center` first (ties: the higher
        skill, then the older ticket)."""
        if self.pending:
            self._merge_pending()
        return _outwards(self.tickets, self.skills, self.gone, center, lo, hi)

    def _sweep(self) -> None:
        """Drop the tickets that left."""
        gone = self.gone
        self.tickets = [t for t in self.tickets if t.id not in gone]
        self.skills = [t.skill for t in self.tickets]
        self.pending = [t for t in self.pending if t.id not in gone]
        gone.clear()

    def _delete(self, stale: Ticket) -> None:
        """Drop one ticket that left (it is listed or pending)."""
        for i, t in enumerate(self.pending):
            if t is stale:
                del self.pending[i]
                return
        i = bisect_left(self.skills, stale.skill)
        while self.tickets[i] is not stale:
            i += 1
        del self.tickets[i], self.skills[i]

    def _merge_pending(self) -> None:
        """Merge the pending tickets (sorted) into the list: one slice copy per arrival."""
        gone = self.gone
        arrivals = []
        for t in self.pending:
            if gone.pop(t.id, None) is None:  # else it left before being listed
                arrivals.append(t)
        arrivals.sort(key=_skill_order)
        self.pending = []
        old_tickets, old_skills = self.tickets, self.skills
        tickets: list[Ticket] = []
        skills: list[float] = []
        start = 0
        for t in arrivals:
            i = _position(old_tickets, old_skills, t, start)
            tickets += old_tickets[start:i]
            skills += old_skills[start:i]
            tickets.append(t)
            skills.append(t.skill)
            start = i
        tickets += old_tickets[start:]
        skills += old_skills[start:]
        self.tickets, self.skills = tickets, skills


def _position(tickets: list[Ticket], skills: list[float], t: Ticket, start: int) -> int:
    """Where `t` goes in `tickets` (sorted by `_skill_order`), at or after `start`."""
    i = bisect_left(skills, t.skill, start)
    end = len(skills)
    while i < end and skills[i] == t.skill and (tickets[i].seq, tickets[i].id) < (t.seq, t.id):
        i += 1
    return i


def _skill_order(t: Ticket) -> tuple[float, int, str]:
    return (t.skill, t.seq, t.id)


class Bucket:
    """Tickets sharing some exact string properties: oldest first (`items`), and by skill
    (`by_skill`, sorted only once some query walks it: most buckets of a pool are never walked,
    and keeping a sorted list current costs more than the dictionary)."""

    __slots__ = ("_by_skill", "_verdicts", "index", "items", "key", "terms")

    def __init__(
        self, terms: dict[str, str], index: dict[tuple[str, ...], Bucket], key: tuple[str, ...]
    ) -> None:
        self.terms = terms  # what all its tickets have
        self.index = index  # the index holding it, under `key` (its values of the index's fields)
        self.key = key
        self.items: dict[str, Ticket] = {}
        self._by_skill: SkillList | None = None
        self._verdicts: _Verdicts | None = None

    @property
    def verdicts(self) -> _Verdicts:
        """What queries say about all its tickets, worked out once per query text."""
        if self._verdicts is None:
            self._verdicts = _Verdicts(self.terms)
        return self._verdicts

    def __len__(self) -> int:
        return len(self.items)

    @property
    def by_skill(self) -> SkillList:
        """The tickets with a skill, by skill; built on first use."""
        if self._by_skill is None:
            self._by_skill = SkillList(t for t in self.items.values() if t.skill == t.skill)
        return self._by_skill

    def add(self, t: Ticket) -> None:
        if t.id in self.items:  # a new index may already hold the ticket it was built for
            return
        self.items[t.id] = t
        if self._by_skill is not None and t.skill == t.skill:  # NaN: no skill
            self._by_skill.add(t)

    def discard(self, t: Ticket) -> None:
        if self.items.pop(t.id, None) is not None and self._by_skill is not None and t.skill == t.skill:
            self._by_skill.discard(t)


MAX_INDEXES = 64  # distinct sets of required fields indexed, per title (besides every ticket)


class TitlePool:
    """The waiting tickets of one title, with their indexes: for each set of string fields that
    some query requires (`indexes`: fields -> values -> bucket; () -> () -> every ticket), in the
    bucket of its values for them; and in a sorted list per numeric property that some query
    ranges over (`numeric`). Indexes are built when a query first needs them, then kept current,
    so a ticket costs only what the pool's queries actually use."""

    def __init__(self) -> None:
        self.tickets: dict[str, Ticket] = {}  # oldest first
        self.backfills: dict[str, Ticket] = {}
        self.indexes: dict[tuple[str, ...], dict[tuple[str, ...], Bucket]] = {}
        self.numeric: dict[str, SortedList] = {}
        self.buckets_of: dict[str, list[Bucket]] = {}  # ticket id -> the buckets holding it

    def __len__(self) -> int:
        return len(self.tickets)

    def add(self, t: Ticket) -> None:
        if t.backfill:
            self.backfills[t.id] = t
            return
        if t.id in self.tickets:
            return
        self.tickets[t.id] = t
        self.buckets_of[t.id] = []
        for fields, buckets in self.indexes.items():
            self._index_ticket(buckets, fields, t)
        for name, index in self.numeric.items():
            value = t.n.get(name, math.nan)
            if math.isfinite(value):
                index.add(_entry(t, value))
        self._prepare_index_for(t)

    def _prepare_index_for(self, t: Ticket) -> None:
        """Build the index `t`'s own search will walk now, rather than during a pass."""
        fields, values = t.query.term_fields, t.query.term_values
        if fields and values is not None:
            bucket, _ = self.lookup(fields, values)
            if bucket is not None and t.skill == t.skill:
                bucket.by_skill  # noqa: B018 - sorted from now on

    def remove(self, ticket_id: str) -> Ticket | None:
        t = self.backfills.pop(ticket_id, None)
        if t is not None:
            return t
        return self.remove_waiting(ticket_id)

    def remove_waiting(self, ticket_id: str) -> Ticket | None:
        """`remove` for a ticket that is not a backfill request."""
        t = self.tickets.pop(ticket_id, None)
        if t is None:
            return None
        for bucket in self.buckets_of.pop(ticket_id):
            bucket.discard(t)
            if not bucket.items:
                del bucket.index[bucket.key]
        if self.numeric:
            for name, index in self.numeric.items():
                value = t.n.get(name, math.nan)
                if math.isfinite(value):
                    index.discard(_entry(t, value))
        return t

    def bucket(self, terms: dict[str, str]) -> Bucket | None:
        """The smallest indexed set of tickets that holds every ticket whose string properties
        include all of `terms` (None: there are none)."""
        fields = tuple(sorted(terms))
        return self.lookup(fields, tuple(terms[f] for f in fields))[0]

    def lookup(self, fields: tuple[str, ...], values: tuple[str, ...]) -> tuple[Bucket | None, bool]:
        """`bucket()` of the terms `fields` (sorted) = `values`, and whether it is exactly the
        tickets having them all: it is, unless `MAX_INDEXES` is reached (then a superset:
        callers check queries anyway)."""
        buckets = self.indexes.get(fields)
        if buckets is None:
            if fields and len(self.indexes) >= MAX_INDEXES:  # the index of every ticket is always allowed
                return self._smallest_superset(dict(zip(fields, values, strict=True))), False
            buckets = self.indexes[fields] = {}
            for t in self.tickets.values():
                self._index_ticket(buckets, fields, t)
        return buckets.get(values), True

    def _smallest_superset(self, terms: dict[str, str]) -> Bucket | None:
        best: Bucket | None = None
        for fields, buckets in self.indexes.items():
            if all(f in terms for f in fields):
                bucket = buckets.get(tuple(terms[f] for f in fields))
                if bucket is None:
                    return None  # no ticket has these values, so none has all of `terms`
                if best is None or len(bucket) < len(best):
                    best = bucket
        return best if best is not None else self.lookup((), ())[0]  # else every ticket

    def _index_ticket(
        self, buckets: dict[tuple[str, ...], Bucket], fields: tuple[str, ...], t: Ticket
    ) -> None:
        """Put `t` in its bucket of the index of `fields`, if it has them all."""
        values = _values(t.s, fields)
        if values is not None:
            bucket = buckets.get(values)
            if bucket is None:
                bucket = buckets[values] = Bucket(dict(zip(fields, values, strict=True)), buckets, values)
            if t.id not in bucket.items:
                self.buckets_of[t.id].append(bucket)
            bucket.add(t)

    def numeric_index(self, name: str) -> SortedList:
        """Entries of the tickets with a finite numeric property `name`, sorted by (value,
        arrival); built when a query first ranges over `name`, then kept current."""
        index = self.numeric.get(name)
        if index is None:
            values = ((t, t.n.get(name, math.nan)) for t in self.tickets.values())
            index = self.numeric[name] = SortedList(_entry(t, v) for t, v in values if math.isfinite(v))
        return index


def _values(s: dict[str, str], fields: tuple[str, ...]) -> tuple[str, ...] | None:
    out = []
    for f in fields:
        v = s.get(f)
        if v is None:
            return None
        out.append(v)
    return tuple(out)


class Engine:
    """Every title's pool on this process, and the matching pass."""

    def __init__(
        self, rules_for: RulesFor | None = None, max_intervals: int = 2, scan_limit: int = SCAN_LIMIT
    ):
        self.pools: dict[str, TitlePool] = {}
        self.rules_for: RulesFor = rules_for or (lambda title, queue: DEFAULT_RULES)
        self.max_intervals = max_intervals
        self.scan_limit = scan_limit

    def __len__(self) -> int:
        return sum(len(p) for p in self.pools.values())

    def add(self, t: Ticket) -> None:
        pool = self.pools.get(t.title_id)
        if pool is None:
            pool = self.pools[t.title_id] = TitlePool()
        pool.add(t)

    def remove(self, title_id: str, ticket_id: str) -> Ticket | None:
        pool = self.pools.get(title_id)
        return None if pool is None else pool.remove(ticket_id)

    def get(self, title_id: str, ticket_id: str) -> Ticket | None:
        pool = self.pools.get(title_id)
        if pool is None:
            return None
        return pool.tickets.get(ticket_id) or pool.backfills.get(ticket_id)

    def tickets(self) -> Iterator[Ticket]:
        for pool in self.pools.values():
            yield from pool.tickets.values()
            yield from pool.backfills.values()

    # -- the pass --------------------------------------------------------------------------------

    def run(self, now: float) -> list[Proposal]:
        """One matching pass over every title: the matches it proposes. Their tickets leave the
        engine; the caller claims them from the store, and puts back (`add`) those of a match
        that does not form after all."""
        out: list[Proposal] = []
        for title_id, pool in list(self.pools.items()):
            out.extend(self.run_pool(title_id, pool, now))
        return out

    def run_pool(self, title_id: str, pool: TitlePool, now: float) -> list[Proposal]:
        taken: set[str] = set()
        sessions: set[str] = set()
        out: list[Proposal] = []
        for b in list(pool.backfills.values()):
            p = self._fill(title_id, pool, b, now, taken, sessions)
            if p is not None:
                out.append(p)
                pool.remove(b.id)
                for x in p.tickets:
                    pool.remove_waiting(x.id)
        for t in list(pool.tickets.values()):
            if t.id in taken:
                continue
            p = self._grow(title_id, pool, t, now, taken, sessions)
            if p is None:
                t.intervals += 1
                continue
            out.append(p)
            for x in p.tickets:
                pool.remove_waiting(x.id)
        return out

    def _candidates(
        self, pool: TitlePool, t: Ticket, rules: QueueRules, window: float, same_region: bool
    ) -> Candidates:
        """The tickets `t` may match, in the order to try them."""
        fields, values = t.query.term_fields, t.query.term_values
        if values is not None and same_region:
            fields, values = _with_term(
                fields, values, rules.region_property, t.s.get(rules.region_property, "")
            )
        if values is None:  # contradictory: no ticket can have them all
            return NO_CANDIDATES
        bucket, exact = pool.lookup(fields, values)
        if bucket is None:
            return NO_CANDIDATES
        verdicts = bucket.verdicts if exact else None
        skill = t.skill
        if skill == skill:  # not NaN
            lo, hi = t.query.numeric_bounds(rules.skill_property)
            lo, hi = max(lo, skill - window), min(hi, skill + window)
            by_skill = bucket.by_skill
            if len(by_skill):
                return Candidates(by_skill.outwards(skill, lo, hi), verdicts)
        for name in t.query.range_fields:
            lo, hi = t.query.numeric_bounds(name)
            index = pool.numeric_index(name)
            i = index.bisect_left((lo, -1))
            j = index.bisect_right((hi, math.inf))
            if j - i < len(bucket):
                return Candidates((e[3] for e in index.islice(i, j)), None)
        return Candidates(bucket.items.values(), verdicts)

    def _grow(
        self, title_id: str, pool: TitlePool, t: Ticket, now: float, taken: set[str], sessions: set[str]
    ) -> Proposal | None:
        """The match `t` forms with the best candidates this pass, if any."""
        if t.size > t.max_count or _in_sessions(t, sessions):
            return None
        rules = self.rules_for(title_id, t.queue)
        waited = now - t.created
        window = rules.window(waited)
        same_region = _same_region_only(rules, waited)
        found = self._candidates(pool, t, rules, window, same_region)
        chosen = self._take(t, found, rules, window, same_region, now, taken)
        group = self._best_prefix(rules, chosen, now, full_only=not self._last_interval(t))
        if group is None:
            return None
        _take_out(group, taken, sessions)
        proposal = Proposal(group)
        if rules.teams >= 2:
            proposal.teams = balance_teams(group, rules.teams)
        return proposal

    def _last_interval(self, t: Ticket) -> bool:
        """Whether this pass is `t`'s `max_intervals`-th or later (it has waited through
        `intervals` passes before this one): from then on it accepts less than a full match.
        Nakama counts the same way (the interval count is raised before the ticket searches)."""
        return t.intervals + 1 >= self.max_intervals

    def _take(
        self, t: Ticket, found: Candidates, rules: QueueRules, window: float, same_region: bool,
        now: float, taken: set[str],
    ) -> list[Ticket]:  # fmt: skip
        """`t` and the candidates it takes, in order: each fits the counts, the rules and every
        query of those taken before it, both ways."""
        lo = rules.min_count(t, now - t.created)
        hi = t.max_count
        total = t.size
        chosen = [t]
        chosen_sessions: set[str] = set()
        for m in t.members:
            chosen_sessions.add(m.session_id)
        queue = t.queue
        t_s, t_n, skill = t.s, t.n, t.skill
        verdicts = found.verdicts
        check_t = verdicts is None or verdicts.of(t.query) is None  # else the bucket decides: yes
        t_match = t.query.match
        # candidate query text -> (whether it accepts t, what it says of the bucket: `_Verdicts.of`)
        judged: dict[str, tuple[bool, bool | None]] = {}
        scorer = t.query.score
        # (score, -examined, candidate, its minimum count as worked out below: relaxed if need be)
        scored: list[tuple[float, int, Ticket, int]] = []
        examined = 0
        limit = self.scan_limit
        check_window = window != math.inf  # (also at the edges of a skill walk: the same float test)
        region_prop = rules.region_property
        others: list[Ticket] = []  # chosen, but t
        undecided: list[Ticket] = []  # those of `others` whose query the bucket does not decide
        blocked = False  # one of `others` accepts no ticket of the bucket: nobody else can join
        if total >= hi:
            return chosen
        for c in found.tickets:
            if examined >= limit:
                break
            examined += 1
            size = c.size
            if c is t or total + size > hi or c.id in taken:
                continue
            c_s = c.s
            if c_s.get("queue", "") != queue:
                continue
            if check_window and not abs(c.skill - skill) <= window:
                continue
            if region_prop and not _region_ok(rules, t, c, same_region):
                continue
            c_lo = c.min_count
            if c_lo > lo:  # relaxing only lowers a minimum: at or below `lo` it changes nothing
                c_lo = rules.min_count(c, now - c.created)
            c_max = c.max_count
            if c_lo > hi or c_max < lo or c_lo > c_max:
                continue
            if check_t and not t_match(c_s, c.n):
                continue
            c_query = c.query
            judgement = judged.get(c_query.text)
            if judgement is None:
                c_says = None if verdicts is None else verdicts.of(c_query)  # of the others
                judgement = judged[c_query.text] = (c_query.match(t_s, t_n), c_says)
            accepted, c_says = judgement
            if not accepted:
                continue
            if size == 1:
                if c.members[0].session_id in chosen_sessions:
                    continue
            elif not chosen_sessions.isdisjoint([m.session_id for m in c.members]):
                continue
            if others and (
                blocked
                or c_says is False
                or (undecided and not _accepted_by(c, undecided))
                or (c_says is None and not _accepts_all(c, others))
            ):
                continue
            if scorer is not None:
                scored.append((scorer(c_s, c.n), -examined, c, c_lo))
                continue
            chosen.append(c)
            others.append(c)
            if c_says is None:
                undecided.append(c)
            elif not c_says:
                blocked = True
            for m in c.members:
                chosen_sessions.add(m.session_id)
            total += size
            if c_max < hi:
                hi = c_max
            if c_lo > lo:
                lo = min(c_lo, c_max)
            if total >= hi:
                break
        if scored:
            # Best score first; each must still fit the counts and the sessions of those taken
            # before it, and accept them and be accepted by them (their queries were not checked
            # against each other while scoring). A candidate counts with the minimum worked out
            # above, relaxed as in the loop: `lo` only rose since, so laziness changes nothing.
            scored.sort(key=lambda x: (x[0], x[1]), reverse=True)
            for _, _, c, c_lo in scored:
                if total + c.size > hi or c_lo > hi or c.max_count < lo:
                    continue
                if not chosen_sessions.isdisjoint([m.session_id for m in c.members]):
                    continue
                if others and not (_accepts_all(c, others) and _accepted_by(c, others)):
                    continue
                chosen.append(c)
                others.append(c)
                chosen_sessions.update(m.session_id for m in c.members)
                total += c.size
                hi = min(hi, c.max_count)
                lo = max(lo, min(c_lo, c.max_count))
                if total >= hi:
                    break
        return chosen

    @staticmethod
    def _best_prefix(
        rules: QueueRules, chosen: list[Ticket], now: float, full_only: bool
    ) -> list[Ticket] | None:
        """The longest prefix of `chosen` whose size suits all its tickets."""
        best = 0
        total, lo, hi, mult = 0, 2, 1 << 30, 1
        relax = rules.relax_after_sec
        for i, x in enumerate(chosen):
            total += x.size
            waited = now - x.created
            x_lo = x.min_count if relax is None or waited < relax else rules.min_count(x, waited)
            if x_lo > lo:
                lo = x_lo
            if x.max_count < hi:
                hi = x.max_count
            if x.count_multiple != 1:
                mult = lcm(mult, x.count_multiple)
            if lo <= total <= hi and total % mult == 0 and (not full_only or total == hi):
                best = i + 1
        return chosen[:best] if best >= 2 or (best == 1 and chosen[0].size >= 2) else None

    def _fill(
        self, title_id: str, pool: TitlePool, b: Ticket, now: float, taken: set[str], sessions: set[str]
    ) -> Proposal | None:
        """Backfill request `b`: up to its free slots (`max_count`) of waiting tickets."""
        rules = self.rules_for(title_id, b.queue)
        waited = now - b.created
        window = rules.window(waited)
        same_region = _same_region_only(rules, waited)
        slots = b.max_count
        chosen: list[Ticket] = []
        examined = 0
        for c in self._candidates(pool, b, rules, window, same_region).tickets:
            if slots <= 0 or examined >= self.scan_limit:
                break
            examined += 1
            if c.id in taken or c.size > slots or c.s.get("queue", "") != b.queue:
                continue
            if any(m.session_id in sessions for m in c.members):
                continue
            if window != math.inf and not abs(c.skill - b.skill) <= window:
                continue
            if rules.region_property and not _region_ok(rules, b, c, same_region):
                continue
            if not b.query.match(c.s, c.n) or not c.query.match(b.s, b.n):
                continue
            if not all(o.query.match(c.s, c.n) and c.query.match(o.s, o.n) for o in chosen):
                continue
            chosen.append(c)
            slots -= c.size
        if not chosen:
            return None
        _take_out(chosen, taken, sessions)
        return Proposal(chosen, backfill=b)


MAX_VERDICTS = 1024  # query texts remembered per bucket


class _Verdicts:
    """What queries say about the tickets of one exact bucket, which all have the string values
    `terms`: a query made only of required terms on those fields (`Query.terms_only`) accepts
    all of them or none, so that is worked out once per query text; for any other query, None
    (evaluate it on the ticket)."""

    __slots__ = ("memo", "terms")

    def __init__(self, terms: dict[str, str]) -> None:
        self.terms = terms
        self.memo: dict[str, bool | None] = {}

    def of(self, query: Query) -> bool | None:
        memo = self.memo
        if query.text in memo:
            return memo[query.text]
        if len(memo) >= MAX_VERDICTS:
            memo.clear()
        verdict: bool | None = None
        if query.terms_only and all(f in self.terms for f, _ in query.terms):
            verdict = all(self.terms[f] == v for f, v in query.terms)
        memo[query.text] = verdict
        return verdict


class Candidates(NamedTuple):
    tickets: Iterable[Ticket]
    verdicts: _Verdicts | None  # set when every candidate comes from the exact bucket of the terms


NO_CANDIDATES = Candidates((), None)


def _in_sessions(t: Ticket, sessions: set[str]) -> bool:
    """Whether a member of `t` is in one of `sessions`."""
    for m in t.members:  # noqa: SIM110 - a loop, not any(): no generator per search in the pass
        if m.session_id in sessions:
            return True
    return False


def _take_out(group: list[Ticket], taken: set[str], sessions: set[str]) -> None:
    """Mark the tickets of `group` and their sessions as matched this pass."""
    for x in group:
        taken.add(x.id)
        for m in x.members:
            sessions.add(m.session_id)


def _accepted_by(c: Ticket, queries_of: list[Ticket]) -> bool:
    """Whether the query of each of `queries_of` accepts `c`."""
    c_s, c_n = c.s, c.n
    return all(o.query.match(c_s, c_n) for o in queries_of)


def _accepts_all(c: Ticket, tickets: list[Ticket]) -> bool:
    """Whether `c`'s query accepts each of `tickets`."""
    match = c.query.match
    return all(match(o.s, o.n) for o in tickets)


def _with_term(
    fields: tuple[str, ...], values: tuple[str, ...], name: str, value: str
) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    """The terms `fields` = `values` (sorted by field) and `name` = `value`; values None if
    they contradict each other."""
    if name in fields:
        return fields, values if values[fields.index(name)] == value else None
    i = bisect_left(fields, name)
    return (*fields[:i], name, *fields[i:]), (*values[:i], value, *values[i:])


def _same_region_only(rules: QueueRules, waited: float) -> bool:
    """Whether the region rule still limits a ticket that waited `waited` s to its own region."""
    relaxed = rules.region_relax_sec is not None and waited >= rules.region_relax_sec
    return bool(rules.region_property) and not relaxed


def _outwards(
    tickets: list[Ticket], skills: list[float], gone: dict[str, Ticket], center: float, lo: float, hi: float
) -> Iterator[Ticket]:
    """`tickets` (sorted by skill, `skills` theirs) with skill in [lo, hi] and id not in
    `gone`, nearest to `center` first (ties: upwards first)."""
    up, top = bisect_left(skills, center), bisect_right(skills, hi)
    down, bottom = up - 1, bisect_left(skills, lo)
    while up < top and tickets[up].id in gone:
        up += 1
    while down >= bottom and tickets[down].id in gone:
        down -= 1
    while True:
        if up < top and (down < bottom or skills[up] - center <= center - skills[down]):
            yield tickets[up]
            up += 1
            while up < top and tickets[up].id in gone:
                up += 1
        elif down >= bottom:
            yield tickets[down]
            down -= 1
            while down >= bottom and tickets[down].id in gone:
                down -= 1
        else:
            return


def _region_ok(rules: QueueRules, t: Ticket, c: Ticket, same_region: bool) -> bool:
    prop = rules.region_property
    if t.s.get(prop) == c.s.get(prop):
        return True
    if same_region:
        return False
    limit = rules.max_latency_ms
    for name, value in t.n.items():
        if name.startswith("latency_") and value <= limit and c.n.get(name, math.inf) <= limit:
            return True
    return False


def balance_teams(group: list[Ticket], teams: int) -> dict[str, int]:
    """Split the group's players into `teams` of near-equal total skill, parties whole: the
    strongest ticket first, each to the team with the lowest total that has room."""
    total = sum(t.size for t in group)
    room = -(-total // teams)
    sums = [0.0] * teams
    counts = [0] * teams
    out: dict[str, int] = {}
    units = sorted(group, key=lambda t: (0.0 if math.isnan(t.skill) else t.skill) * t.size, reverse=True)
    for t in units:
        fits = [k for k in range(teams) if counts[k] + t.size <= room] or list(range(teams))
        k = min(fits, key=lambda k: (sums[k], counts[k]))
        sums[k] += (0.0 if math.isnan(t.skill) else t.skill) * t.size
        counts[k] += t.size
        for m in t.members:
            out[m.session_id] = k
    return out

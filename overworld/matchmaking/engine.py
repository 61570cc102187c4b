"""The matching pass over one process's copy of the waiting tickets (no I/O).

Each title has its own pool. A pool indexes its tickets so that a ticket's candidates come from
the smallest of:

- the posting list of one of its required exact terms (`+properties.mode:ranked` -> the tickets
  whose `mode` is `ranked`), or of its region under a region rule;
- a range of a sorted numeric index (`properties.rank:>=10 +properties.rank:<=20`, or the skill
  window), walked outwards from the ticket's own skill, so the closest skill comes first;
- the whole pool, oldest first, when the query constrains nothing indexable (`*`).

A pass serves backfill requests first, then tickets oldest first. The searching ticket takes
candidates in that order while they fit: both queries accept each other (and every member
already taken), counts stay compatible, skill within the window, region rules hold; it stops at
its maximum count or after examining `scan_limit` candidates. The match formed is the longest
prefix of what it took whose size suits every ticket in it (min/max count, count multiple); a
ticket still in its first `max_intervals` passes only forms a match at the full maximum count
(Nakama's rule), after that at its minimum. So a pass costs about (tickets x candidates looked
at), never (tickets x pool).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from math import lcm

from sortedcontainers import SortedKeyList  # type: ignore[import-untyped]

from overworld.matchmaking.models import DEFAULT_RULES, Proposal, QueueRules, Ticket

RulesFor = Callable[[str, str], QueueRules]  # (title id, queue) -> rules
SCAN_LIMIT = 256


def _skill_key(t: Ticket) -> tuple[float, int]:
    return (t.skill, t.seq)


class Bucket:
    """Tickets sharing some exact string properties: oldest first, and by skill."""

    __slots__ = ("by_skill", "items")

    def __init__(self) -> None:
        self.items: dict[str, Ticket] = {}
        self.by_skill: SortedKeyList = SortedKeyList(key=_skill_key)

    def __len__(self) -> int:
        return len(self.items)

    def add(self, t: Ticket) -> None:
        self.items[t.id] = t
        if not math.isnan(t.skill):
            self.by_skill.add(t)

    def discard(self, t: Ticket) -> None:
        if self.items.pop(t.id, None) is not None and not math.isnan(t.skill):
            self.by_skill.discard(t)


MAX_COMPOSITES = 64  # distinct sets of required fields indexed together, per title


class TitlePool:
    """The waiting tickets of one title, with their indexes: every ticket is in `all`, in one
    bucket per string property (`postings`), in one bucket per set of fields that some query
    requires together (`composites`, built when first needed), and in a sorted list per numeric
    property (`numeric`)."""

    def __init__(self) -> None:
        self.tickets: dict[str, Ticket] = {}  # oldest first
        self.backfills: dict[str, Ticket] = {}
        self.all = Bucket()
        self.postings: dict[tuple[str, str], Bucket] = {}
        self.composites: dict[tuple[str, ...], dict[tuple[str, ...], Bucket]] = {}
        self.numeric: dict[str, SortedKeyList] = {}

    def __len__(self) -> int:
        return len(self.tickets)

    def add(self, t: Ticket) -> None:
        if t.backfill:
            self.backfills[t.id] = t
            return
        if t.id in self.tickets:
            return
        self.tickets[t.id] = t
        self.all.add(t)
        required = {f for f, _ in t.query.required_terms}
        if len(required) > 1 and len(self.composites) < MAX_COMPOSITES:
            self.bucket(dict.fromkeys(required, ""))  # index together what its query requires together
        postings = self.postings
        s = t.s
        for key in s.items():
            bucket = postings.get(key)
            if bucket is None:
                bucket = postings[key] = Bucket()
            bucket.add(t)
        for fields, buckets in self.composites.items():
            values = _values(s, fields)
            if values is not None:
                bucket = buckets.get(values)
                if bucket is None:
                    bucket = buckets[values] = Bucket()
                bucket.add(t)
        for name, value in t.n.items():
            if not math.isfinite(value):
                continue
            index = self.numeric.get(name)
            if index is None:
                index = self.numeric[name] = SortedKeyList(key=lambda x, f=name: (x.n[f], x.seq))
            index.add(t)

    def remove(self, ticket_id: str) -> Ticket | None:
        t = self.backfills.pop(ticket_id, None)
        if t is not None:
            return t
        t = self.tickets.pop(ticket_id, None)
        if t is None:
            return None
        self.all.discard(t)
        for key in t.s.items():
            bucket = self.postings.get(key)
            if bucket is not None:
                bucket.discard(t)
                if not bucket:
                    del self.postings[key]
        for fields, buckets in self.composites.items():
            values = _values(t.s, fields)
            if values is not None:
                bucket = buckets.get(values)
                if bucket is not None:
                    bucket.discard(t)
                    if not bucket:
                        del buckets[values]
        for name, value in t.n.items():
            index = self.numeric.get(name)
            if index is not None and math.isfinite(value):
                index.discard(t)
        return t

    def bucket(self, terms: dict[str, str]) -> Bucket | None:
        """The tickets whose string properties include all of `terms` (None: there are none)."""
        if not terms:
            return self.all
        if len(terms) == 1:
            return self.postings.get(next(iter(terms.items())))
        fields = tuple(sorted(terms))
        buckets = self.composites.get(fields)
        if buckets is None:
            if len(self.composites) >= MAX_COMPOSITES:
                best = min((self.postings.get(kv) for kv in terms.items()), key=lambda b: len(b) if b else -1)
                return best
            buckets = self.composites[fields] = {}
            for t in self.tickets.values():
                values = _values(t.s, fields)
                if values is not None:
                    bucket = buckets.get(values)
                    if bucket is None:
                        bucket = buckets[values] = Bucket()
                    bucket.add(t)
        return buckets.get(tuple(terms[f] for f in fields))


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
                    pool.remove(x.id)
        for t in list(pool.tickets.values()):
            if t.id in taken:
                continue
            p = self._grow(title_id, pool, t, now, taken, sessions)
            if p is None:
                t.intervals += 1
                continue
            out.append(p)
            for x in p.tickets:
                pool.remove(x.id)
        return out

    def _candidates(
        self, pool: TitlePool, t: Ticket, rules: QueueRules, window: float, same_region: bool
    ) -> Iterable[Ticket]:
        terms: dict[str, str] = {}
        for f, v in t.query.required_terms:
            if terms.setdefault(f, v) != v:
                return ()
        if same_region:
            region = t.s.get(rules.region_property, "")
            if terms.setdefault(rules.region_property, region) != region:
                return ()
        bucket = pool.bucket(terms)
        if bucket is None:
            return ()
        sp = rules.skill_property
        lo, hi = t.query.numeric_bounds(sp)
        skill = t.skill
        if not math.isnan(skill):
            lo, hi = max(lo, skill - window), min(hi, skill + window)
            if len(bucket.by_skill):
                return _outwards(bucket.by_skill, skill, lo, hi)
        for name in {c.field for c in t.query.clauses if c.occur == "+" and c.kind == "range" and c.field}:
            lo, hi = t.query.numeric_bounds(name)
            index = pool.numeric.get(name)
            if index is None:
                return ()
            i = index.bisect_key_left((lo, -1))
            j = index.bisect_key_right((hi, math.inf))
            if j - i < len(bucket):
                found: Iterable[Ticket] = index.islice(i, j)
                return found
        return bucket.items.values()

    def _grow(
        self, title_id: str, pool: TitlePool, t: Ticket, now: float, taken: set[str], sessions: set[str]
    ) -> Proposal | None:
        if any(m.session_id in sessions for m in t.members):
            return None
        rules = self.rules_for(title_id, t.queue)
        waited = now - t.created
        window = rules.window(waited)
        region_prop = rules.region_property
        relaxed_region = rules.region_relax_sec is not None and waited >= rules.region_relax_sec
        same_region = bool(region_prop) and not relaxed_region
        lo = rules.min_count(t, waited)
        hi = t.max_count
        total = t.size
        if total > hi:
            return None
        chosen = [t]
        chosen_sessions = {m.session_id for m in t.members}
        queue = t.queue
        t_match, t_s, t_n, skill = t.query.match, t.s, t.n, t.skill
        scorer = t.query.score
        scored: list[tuple[float, int, Ticket]] = []
        examined = 0
        limit = self.scan_limit
        inf = math.inf
        others: list[Ticket] = []  # chosen, but t
        for c in self._candidates(pool, t, rules, window, same_region):
            if total >= hi or examined >= limit:
                break
            examined += 1
            size = c.size
            if c is t or total + size > hi or c.id in taken:
                continue
            c_s = c.s
            if c_s.get("queue", "") != queue:
                continue
            if window != inf and not abs(c.skill - skill) <= window:
                continue
            if region_prop and not _region_ok(rules, t, c, same_region):
                continue
            c_lo = c.min_count
            if c_lo > lo:
                c_lo = rules.min_count(c, now - c.created)
            c_max = c.max_count
            if c_lo > hi or c_max < lo or c_lo > c_max:
                continue
            c_n = c.n
            c_match = c.query.match
            if not t_match(c_s, c_n) or not c_match(t_s, t_n):
                continue
            if size == 1:
                if c.members[0].session_id in chosen_sessions:
                    continue
            elif not chosen_sessions.isdisjoint([m.session_id for m in c.members]):
                continue
            if others:
                ok = True
                for o in others:
                    if not o.query.match(c_s, c_n) or not c_match(o.s, o.n):
                        ok = False
                        break
                if not ok:
                    continue
            if scorer is not None:
                scored.append((scorer(c_s, c_n), -examined, c))
                continue
            chosen.append(c)
            others.append(c)
            for m in c.members:
                chosen_sessions.add(m.session_id)
            total += size
            if c_max < hi:
                hi = c_max
            if c_lo > lo:
                lo = min(c_lo, c_max)
        if scorer is not None and scored:
            scored.sort(key=lambda x: (x[0], x[1]), reverse=True)
            for _, _, c in scored:
                if total + c.size > hi:
                    continue
                chosen.append(c)
                total += c.size
                hi = min(hi, c.max_count)
        group = self._best_prefix(title_id, chosen, now, full_only=t.intervals < self.max_intervals)
        if group is None:
            return None
        for x in group:
            taken.add(x.id)
            sessions.update(m.session_id for m in x.members)
        proposal = Proposal(group)
        if rules.teams >= 2:
            proposal.teams = balance_teams(group, rules.teams)
        return proposal

    def _best_prefix(
        self, title_id: str, chosen: list[Ticket], now: float, full_only: bool
    ) -> list[Ticket] | None:
        """The longest prefix of `chosen` whose size suits all its tickets."""
        best = 0
        total, lo, hi, mult = 0, 2, 1 << 30, 1
        queue = chosen[0].queue
        rules = self.rules_for(title_id, queue)
        for i, x in enumerate(chosen):
            total += x.size
            lo = max(lo, rules.min_count(x, now - x.created))
            hi = min(hi, x.max_count)
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
        relaxed_region = rules.region_relax_sec is not None and waited >= rules.region_relax_sec
        same_region = bool(rules.region_property) and not relaxed_region
        slots = b.max_count
        chosen: list[Ticket] = []
        examined = 0
        for c in self._candidates(pool, b, rules, window, same_region):
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
        for x in chosen:
            taken.add(x.id)
            sessions.update(m.session_id for m in x.members)
        return Proposal(chosen, backfill=b)


def _outwards(index: SortedKeyList, center: float, lo: float, hi: float) -> Iterator[Ticket]:
    """The tickets of `index` (sorted by skill) with skill in [lo, hi], nearest to `center` first."""
    up = index.irange_key((center, -1), (hi, math.inf))
    down = index.irange_key((lo, -1), (center, -1), inclusive=(True, False), reverse=True)
    a = next(up, None)
    b = next(down, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a.skill - center <= center - b.skill):
            yield a  # type: ignore[misc]
            a = next(up, None)
        else:
            yield b
            b = next(down, None)


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

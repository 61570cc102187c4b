"""The matchmaker's values: tickets, their members, queue rules, and what hooks receive."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from overworld.query import Query, parse

MAX_COUNT = 256  # the largest match the matchmaker forms
MAX_PROPERTIES = 64
MAX_PROPERTY_BYTES = 256


@dataclass(slots=True)
class Member:
    """One player of a ticket: a session, wherever it is connected."""

    session_id: str
    user_id: str
    username: str
    node: str

    def as_list(self) -> list[str]:
        return [self.session_id, self.user_id, self.username, self.node]


@dataclass(slots=True, eq=False)
class Ticket:
    """A solo or party ticket, or (with `backfill` set) a backfill request of a running match."""

    id: str
    title_id: str
    seq: int  # arrival order: lower is older
    created: float  # Unix seconds
    query: Query
    min_count: int
    max_count: int
    count_multiple: int
    s: dict[str, str]
    n: dict[str, float]
    members: list[Member]
    party_id: str = ""
    session_key: str = ""  # whose ticket limit it counts against: a session id or a party id
    backfill: str = ""  # the match id a backfill request fills
    intervals: int = 0  # matching passes it has waited through
    skill: float = math.nan  # effective skill (the queue's skill property), NaN when it has none
    size: int = 0  # players: len(members)

    def __post_init__(self) -> None:
        self.size = len(self.members)

    @property
    def queue(self) -> str:
        return self.s.get("queue", "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "t": self.title_id, "seq": self.seq, "c": self.created, "q": self.query.text,
            "min": self.min_count, "max": self.max_count, "mul": self.count_multiple, "s": self.s,
            "n": self.n, "m": [m.as_list() for m in self.members], "p": self.party_id,
            "k": self.session_key, "b": self.backfill,
            "sk": None if math.isnan(self.skill) else self.skill,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Ticket:
        return cls(
            id=d["id"], title_id=d["t"], seq=d["seq"], created=d["c"], query=parse(d["q"]),
            min_count=d["min"], max_count=d["max"], count_multiple=d["mul"], s=d["s"], n=d["n"],
            members=[Member(*m) for m in d["m"]], party_id=d["p"], session_key=d["k"], backfill=d["b"],
            skill=math.nan if d.get("sk") is None else float(d["sk"]),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class QueueRules:
    """How the tickets of one queue (string property `queue`; "" for tickets without one) match.

    Skill: the numeric property `skill_property` (filled from the player's stored rating when a
    ticket omits it) must lie within `skill_window` of the searching ticket's, a window that
    widens by `skill_window_growth` per second of waiting up to `skill_window_max`
    (None: no skill rule, closest skill is still preferred).

    Count: after `relax_after_sec` seconds of waiting a ticket accepts matches as small as
    `relaxed_min_count` (never below 2, never above its own minimum).

    Region: with `region_property` set, tickets match only tickets of the same region; after
    `region_relax_sec` seconds (None: never), also tickets of another region when both report a
    latency (numeric property `latency_<region>`) of at most `max_latency_ms` to a common region.

    Teams: with `teams` >= 2, the players of a match are split into that many teams of
    near-equal total skill (parties kept whole), told as numeric property `team` (0-based).
    """

    skill_property: str = "skill"
    skill_window: float | None = None
    skill_window_growth: float = 0.0
    skill_window_max: float = math.inf
    relax_after_sec: float | None = None
    relaxed_min_count: int = 2
    region_property: str = ""
    region_relax_sec: float | None = None
    max_latency_ms: float = 100.0
    teams: int = 0

    def window(self, waited: float) -> float:
        if self.skill_window is None:
            return math.inf
        return min(self.skill_window + self.skill_window_growth * max(0.0, waited), self.skill_window_max)

    def min_count(self, ticket: Ticket, waited: float) -> int:
        if self.relax_after_sec is not None and waited >= self.relax_after_sec:
            return max(2, min(ticket.min_count, self.relaxed_min_count))
        return ticket.min_count


DEFAULT_RULES = QueueRules()


@dataclass(frozen=True, slots=True)
class MatchmakerEntry:
    """One matched player, as server code sees it (Nakama's runtime MatchmakerEntry)."""

    ticket: str
    user_id: str
    session_id: str
    username: str
    node: str
    properties: dict[str, Any] = field(default_factory=dict)  # string and numeric together
    party_id: str = ""


@dataclass(slots=True)
class Proposal:
    """A match the pass would form: its tickets (the first one searched), and for a backfill
    the backfill request it fills."""

    tickets: list[Ticket]
    backfill: Ticket | None = None
    teams: dict[str, int] = field(default_factory=dict)  # session id -> team, when teams are on

    def entries(self) -> list[MatchmakerEntry]:
        out: list[MatchmakerEntry] = []
        for t in self.tickets:
            props: dict[str, Any] = {**t.s, **t.n}
            for m in t.members:
                p = props
                if m.session_id in self.teams:
                    p = {**props, "team": float(self.teams[m.session_id])}
                out.append(MatchmakerEntry(t.id, m.user_id, m.session_id, m.username, m.node, p, t.party_id))
        return out


COMPLETIONS_KEPT = 10  # Nakama keeps the last 10


@dataclass(slots=True)
class MatchmakerStats:
    """A title's matchmaker as of the matcher's last pass (Nakama's MatchmakerStats): the tickets
    waiting (backfill requests not counted), the creation time of the oldest (Unix seconds, None
    when none waits) and, for the last `COMPLETIONS_KEPT` players matched, when their ticket was
    made and when it matched (oldest first)."""

    ticket_count: int = 0
    oldest: float | None = None
    completions: list[tuple[float, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.ticket_count, "o": self.oldest, "c": self.completions}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MatchmakerStats:
        completions = [(float(c), float(m)) for c, m in d.get("c", [])]
        oldest = d.get("o")
        return cls(int(d.get("n", 0)), None if oldest is None else float(oldest), completions)

"""Leaderboard and tournament messages (Nakama's api.proto). int64 fields go out as strings,
uint32/int32 as numbers, times as RFC 3339 with whole seconds, as Nakama sends them."""

from __future__ import annotations

import msgspec

from overworld.api.wire.base import Message
from overworld.clock import rfc3339
from overworld.errors import InvalidArgument
from overworld.leaderboards.models import Period, Record, RecordList
from overworld.tournaments.service import TournamentView

OPERATOR_VALUES = {"NO_OVERRIDE": 0, "BEST": 1, "SET": 2, "INCREMENT": 3, "DECREMENT": 4}


def operator_value(value: int | str) -> int:
    """The Operator enum as a number or its name (protojson accepts both)."""
    if isinstance(value, int):
        return value
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return OPERATOR_VALUES[text.upper()]
    except KeyError:
        raise InvalidArgument(f"Invalid operator {value!r}.") from None


def _int64(value: int) -> str:
    return str(value) if value else ""


def _seconds(ms: int) -> str:
    return rfc3339(ms - ms % 1000) if ms else ""


class LeaderboardRecordWrite(Message):
    score: int = 0
    subscore: int = 0
    metadata: str = ""
    operator: int | str = 0


class WriteLeaderboardRecordRequest(Message):
    leaderboard_id: str = ""
    record: LeaderboardRecordWrite | None = None


class WriteTournamentRecordRequest(Message):
    tournament_id: str = ""
    record: LeaderboardRecordWrite | None = None


class DeleteLeaderboardRecordRequest(Message):
    leaderboard_id: str = ""


class DeleteTournamentRecordRequest(Message):
    tournament_id: str = ""


class ListLeaderboardRecordsRequest(Message):
    leaderboard_id: str = ""
    owner_ids: list[str] = msgspec.field(default_factory=list)
    limit: int | None = None
    cursor: str = ""
    expiry: int | None = None


class ListTournamentRecordsRequest(Message):
    tournament_id: str = ""
    owner_ids: list[str] = msgspec.field(default_factory=list)
    limit: int | None = None
    cursor: str = ""
    expiry: int | None = None


class ListLeaderboardRecordsAroundOwnerRequest(Message):
    leaderboard_id: str = ""
    limit: int | None = None
    owner_id: str = ""
    expiry: int | None = None
    cursor: str = ""


class ListTournamentRecordsAroundOwnerRequest(Message):
    tournament_id: str = ""
    limit: int | None = None
    owner_id: str = ""
    expiry: int | None = None
    cursor: str = ""


class JoinTournamentRequest(Message):
    tournament_id: str = ""


class ListTournamentsRequest(Message):
    category_start: int | None = None
    category_end: int | None = None
    start_time: int | None = None
    end_time: int | None = None
    limit: int | None = None
    cursor: str = ""


class ListLeaderboardPeriodsRequest(Message):
    """Overworld's extension: the closed periods (seasons) of a board."""

    leaderboard_id: str = ""
    limit: int | None = None
    before: int | None = None  # Unix seconds: only periods that expired before


class LeaderboardRecord(Message):
    leaderboard_id: str = ""
    owner_id: str = ""
    username: str | None = None
    score: str = ""
    subscore: str = ""
    num_score: int = 0
    metadata: str = ""
    create_time: str = ""
    update_time: str = ""
    expiry_time: str = ""
    rank: str = ""
    max_num_score: int = 0

    @classmethod
    def of(cls, r: Record) -> LeaderboardRecord:
        return cls(
            leaderboard_id=r.leaderboard_id,
            owner_id=r.owner_id,
            username=r.username,
            score=_int64(r.score),
            subscore=_int64(r.subscore),
            num_score=r.num_score,
            metadata=r.metadata,
            create_time=_seconds(r.create_time),
            update_time=_seconds(r.update_time),
            expiry_time=_seconds(r.expiry_time),
            rank=_int64(r.rank),
            max_num_score=r.max_num_score,
        )


class LeaderboardRecordList(Message):
    records: list[LeaderboardRecord] = msgspec.field(default_factory=list)
    owner_records: list[LeaderboardRecord] = msgspec.field(default_factory=list)
    next_cursor: str = ""
    prev_cursor: str = ""
    rank_count: str = ""

    @classmethod
    def of(cls, page: RecordList) -> LeaderboardRecordList:
        return cls(
            records=[LeaderboardRecord.of(r) for r in page.records],
            owner_records=[LeaderboardRecord.of(r) for r in page.owner_records],
            next_cursor=page.next_cursor,
            prev_cursor=page.prev_cursor,
            rank_count=_int64(page.rank_count),
        )


class TournamentRecordList(LeaderboardRecordList):
    @classmethod
    def of(cls, page: RecordList) -> TournamentRecordList:
        return cls(
            records=[LeaderboardRecord.of(r) for r in page.records],
            owner_records=[LeaderboardRecord.of(r) for r in page.owner_records],
            next_cursor=page.next_cursor,
            prev_cursor=page.prev_cursor,
            rank_count=_int64(page.rank_count),
        )


class Tournament(Message):
    id: str = ""
    title: str = ""
    description: str = ""
    category: int = 0
    sort_order: int = 0
    size: int = 0
    max_size: int = 0
    max_num_score: int = 0
    can_enter: bool = False
    end_active: int = 0
    next_reset: int = 0
    metadata: str = ""
    create_time: str = ""
    start_time: str = ""
    end_time: str = ""
    duration: int = 0
    start_active: int = 0
    prev_reset: int = 0
    operator: int = 0
    authoritative: bool = False
    join_required: bool = False

    @classmethod
    def of(cls, v: TournamentView) -> Tournament:
        t = v.board
        return cls(
            id=t.id,
            title=t.title,
            description=t.description,
            category=t.category,
            sort_order=t.sort_order,
            size=v.size,
            max_size=t.max_size,
            max_num_score=t.max_num_score,
            can_enter=v.can_enter,
            end_active=v.end_active,
            next_reset=v.next_reset,
            metadata=t.metadata,
            create_time=_seconds(t.create_time),
            start_time=_seconds(t.start_time),
            end_time=_seconds(t.end_time),
            duration=t.duration,
            start_active=v.start_active,
            prev_reset=v.prev_reset,
            operator=t.operator,
            authoritative=t.authoritative,
            join_required=t.join_required,
        )


class TournamentList(Message):
    tournaments: list[Tournament] = msgspec.field(default_factory=list)
    cursor: str = ""


class LeaderboardPeriod(Message):
    leaderboard_id: str = ""
    expiry: str = ""  # Unix seconds, the value to pass as `expiry` to list the period
    expiry_time: str = ""
    reset_time: str = ""
    records: int = 0

    @classmethod
    def of(cls, p: Period) -> LeaderboardPeriod:
        return cls(
            leaderboard_id=p.leaderboard_id,
            expiry=_int64(p.expiry_time // 1000),
            expiry_time=_seconds(p.expiry_time),
            reset_time=rfc3339(p.reset_time),
            records=p.records,
        )


class LeaderboardPeriodList(Message):
    periods: list[LeaderboardPeriod] = msgspec.field(default_factory=list)

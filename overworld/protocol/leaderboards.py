"""Leaderboard and tournament messages (Nakama's api.proto). int64 fields go out as strings,
uint32/int32 as numbers, times as RFC 3339 with whole seconds, as Nakama sends them."""

from __future__ import annotations

import msgspec

from overworld.errors import InvalidArgument
from overworld.protocol.base import Message

OPERATOR_VALUES = {"NO_OVERRIDE": 0, "BEST": 1, "SET": 2, "INCREMENT": 3, "DECREMENT": 4}


def operator_value(value: int | str) -> int:
    """The Operator enum as a number or its name (protojson accepts both)."""
    if isinstance(value, int):
        return value
    text = value.strip()
    digits = text.removeprefix("-")
    if digits.isascii() and digits.isdigit() and len(digits) <= 18:  # not "²", which isdigit() accepts
        return int(text)
    try:
        return OPERATOR_VALUES[text.upper()]
    except KeyError:
        raise InvalidArgument(f"Invalid operator {value!r}.") from None


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


class LeaderboardRecordList(Message):
    records: list[LeaderboardRecord] = msgspec.field(default_factory=list)
    owner_records: list[LeaderboardRecord] = msgspec.field(default_factory=list)
    next_cursor: str = ""
    prev_cursor: str = ""
    rank_count: str = ""


class TournamentRecordList(LeaderboardRecordList):
    pass


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


class TournamentList(Message):
    tournaments: list[Tournament] = msgspec.field(default_factory=list)
    cursor: str = ""


class LeaderboardPeriod(Message):
    leaderboard_id: str = ""
    expiry: str = ""  # Unix seconds, the value to pass as `expiry` to list the period
    expiry_time: str = ""
    reset_time: str = ""
    records: int = 0


class LeaderboardPeriodList(Message):
    periods: list[LeaderboardPeriod] = msgspec.field(default_factory=list)

from __future__ import annotations

from dataclasses import dataclass, field

ASCENDING, DESCENDING = 0, 1
# Nakama's `Operator` enum (0 on a write means: use the board's operator).
NO_OVERRIDE, BEST, SET, INCREMENT, DECREMENT = 0, 1, 2, 3, 4
OPERATORS = {"best": BEST, "set": SET, "incr": INCREMENT, "increment": INCREMENT,
             "decr": DECREMENT, "decrement": DECREMENT}  # fmt: skip
OPERATOR_NAMES = {BEST: "BEST", SET: "SET", INCREMENT: "INCREMENT", DECREMENT: "DECREMENT"}
SORT_ORDERS = {"asc": ASCENDING, "ascending": ASCENDING, "desc": DESCENDING, "descending": DESCENDING}
INT64_MAX = (1 << 63) - 1
LEADERBOARD_MAX_NUM_SCORE = 1_000_000  # what a leaderboard record reports (not enforced)


@dataclass(slots=True)
class Leaderboard:
    """A leaderboard, or a tournament (`tournament` set: the fields after `create_time` apply).
    Times are Unix milliseconds, `duration` seconds."""

    title_id: str
    id: str
    authoritative: bool = False
    sort_order: int = DESCENDING
    operator: int = BEST
    reset_schedule: str = ""
    metadata: str = "{}"
    create_time: int = 0
    tournament: bool = False
    title: str = ""
    description: str = ""
    category: int = 0
    start_time: int = 0
    end_time: int = 0
    duration: int = 0
    max_size: int = 0
    max_num_score: int = LEADERBOARD_MAX_NUM_SCORE
    join_required: bool = False
    size: int = 0

    @property
    def descending(self) -> bool:
        return self.sort_order == DESCENDING


@dataclass(slots=True)
class Record:
    """One owner's record in one period of a board. Times in Unix milliseconds; `expiry_time` 0
    for a board that never resets; `rank` 0 when unknown."""

    leaderboard_id: str
    owner_id: str
    username: str | None
    score: int
    subscore: int
    num_score: int
    max_num_score: int
    metadata: str
    create_time: int
    update_time: int
    expiry_time: int
    rank: int = 0


@dataclass(slots=True)
class RecordList:
    records: list[Record] = field(default_factory=list)
    owner_records: list[Record] = field(default_factory=list)
    next_cursor: str = ""
    prev_cursor: str = ""
    rank_count: int = 0


@dataclass(slots=True)
class Period:
    """A closed period of a board (a season): its records stay listable with `expiry`."""

    leaderboard_id: str
    expiry_time: int  # Unix milliseconds; pass `expiry_time // 1000` as `expiry` to list it
    records: int  # records it had when it closed
    reset_time: int  # when the reset ran (Unix milliseconds)

"""Record list cursors: where a page starts, which way it goes, and the rank there."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import orjson

from overworld.errors import InvalidArgument

INVALID_CURSOR = "Cursor is invalid or expired."


@dataclass(frozen=True, slots=True)
class RecordCursor:
    forward: bool  # next page (True) or previous page (False)
    board_id: str
    expiry: int
    score: int
    subscore: int
    owner_id: str
    rank: int

    def encode(self) -> str:
        parts = [
            int(self.forward),
            self.board_id,
            self.expiry,
            self.score,
            self.subscore,
            self.owner_id,
            self.rank,
        ]
        return base64.urlsafe_b64encode(orjson.dumps(parts)).decode()

    @property
    def position(self) -> tuple[int, int, str]:
        return self.score, self.subscore, self.owner_id


def decode(text: str, board_id: str, expiry: int) -> RecordCursor | None:
    """The cursor, None for "", INVALID_ARGUMENT if malformed or made for another board or period."""
    if not text:
        return None
    try:
        parts = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        forward, board, at, score, subscore, owner, rank = parts
        cursor = RecordCursor(bool(forward), board, at, score, subscore, owner, rank)
        valid = all(isinstance(v, int) for v in (at, score, subscore, rank)) and isinstance(owner, str)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidArgument(INVALID_CURSOR) from None
    if not valid or cursor.board_id != board_id or cursor.expiry != expiry:
        raise InvalidArgument(INVALID_CURSOR)
    return cursor

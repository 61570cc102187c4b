"""Opaque page cursors: the sort key of the last row of a page, as base64url JSON.

`decode` checks the shape against the expected types, so a cursor from another listing (or a
tampered one) is refused instead of reaching SQL with the wrong types.
"""

from __future__ import annotations

import base64

import orjson

from overworld.errors import InvalidArgument

Key = list[int | str]


def encode(values: Key) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def decode(cursor: str, kinds: tuple[type, ...], message: str) -> Key:
    """The values of `cursor`, which must be a list of `kinds`; else INVALID_ARGUMENT `message`."""
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise InvalidArgument(message) from None
    if (
        not isinstance(values, list)
        or len(values) != len(kinds)
        # bool is an int in Python, never in a cursor
        or not all(type(v) is kind for v, kind in zip(values, kinds, strict=True))
    ):
        raise InvalidArgument(message)
    return values


def after_in_state(cursor: str, state: int | None, message: str) -> Key | None:
    """Where a listing by (state, position, id) continues: None without a cursor; a cursor from a
    listing of another state is refused (INVALID_ARGUMENT `message`), as is a malformed one."""
    if not cursor:
        return None
    after = decode(cursor, (int, int, str), message)
    if state is not None and after[0] != state:
        raise InvalidArgument(message)
    return after

"""Parsing the UUIDs that identify users, groups, messages and parties."""

from __future__ import annotations

import uuid


def parse_uuid(value: str) -> uuid.UUID | None:
    """The UUID written in `value` (any form `uuid.UUID` accepts), or None if it is not one."""
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None

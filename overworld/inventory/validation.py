"""Checks of what callers hand the inventory; every error names the field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from overworld.errors import InvalidArgument
from overworld.ids import parse_uuid

MAX_QUANTITY = 1_000_000_000  # per item per change, and the largest max_stack
MAX_ITEMS = 100  # items per change
MAX_PROPERTIES_BYTES = 16_384
ITEM_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")


def shown(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and not -(10**30) < value < 10**30:
        return f"{'-' if value < 0 else ''}an integer of {len(format(abs(value), 'x')) * 4} bits"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def user_id(value: object, field: str) -> str:
    parsed = parse_uuid(value) if isinstance(value, str) else None
    if parsed is None:
        raise InvalidArgument(f"{field}: invalid user ID {shown(value)}, must be a UUID.")
    return str(parsed)


def item_id(value: object, field: str) -> str:
    if not isinstance(value, str) or not ITEM_ID.match(value):
        raise InvalidArgument(
            f"{field}: an id is 1-128 letters, digits, '_', '.', ':' or '-', got {shown(value)}."
        )
    return value


def quantity(value: object, field: str, low: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument(f"{field}: must be an integer, got {shown(value)}.")
    if not low <= value <= MAX_QUANTITY:
        raise InvalidArgument(f"{field}: must be from {low} to {MAX_QUANTITY}, got {shown(value)}.")
    return int(value)


def quantities(value: object, field: str, allow_empty: bool = False) -> dict[str, int]:
    """Item ids to positive quantities."""
    if not isinstance(value, Mapping):
        raise InvalidArgument(f"{field}: must be an object of item ids to quantities.")
    if not value and not allow_empty:
        raise InvalidArgument(f"{field}: at least one item.")
    if len(value) > MAX_ITEMS:
        raise InvalidArgument(f"{field}: at most {MAX_ITEMS} items.")
    return {item_id(k, field): quantity(v, f"{field}.{k}") for k, v in value.items()}


def properties(value: object, field: str) -> dict[str, Any]:
    """A JSON object (a mapping or its text) of at most 16 KiB."""
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise InvalidArgument(f"{field}: must be a JSON object.") from None
    if not isinstance(value, Mapping):
        raise InvalidArgument(f"{field}: must be a JSON object.")
    try:
        text = orjson.dumps(dict(value))
    except TypeError as exc:
        raise InvalidArgument(f"{field}: cannot be encoded as JSON ({exc}).") from None
    if len(text) > MAX_PROPERTIES_BYTES:
        raise InvalidArgument(f"{field}: at most {MAX_PROPERTIES_BYTES} bytes of JSON.")
    parsed: dict[str, Any] = orjson.loads(text)
    return parsed


def item_properties(value: object, items: Mapping[str, int], field: str) -> dict[str, dict[str, Any]]:
    """Per granted item, properties to merge into its stack."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgument(f"{field}: must be an object of item ids to property objects.")
    checked: dict[str, dict[str, Any]] = {}
    for key, props in value.items():
        if key not in items:
            raise InvalidArgument(f"{field}.{shown(key)}: properties of an item not granted.")
        checked[key] = properties(props, f"{field}.{key}")
    return checked

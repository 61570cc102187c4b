"""Audiences: which players a live event is for, as a JSON object of conditions on their account.

Every condition given must hold (an empty object is everybody):

- `"user_ids": ["<uuid>", ...]`: one of these users (1000 at most);
- `"lang": "en"` or `["en", "pt-BR"]`: the account's language tag is one of these, or a
  regional form of one (`"en"` includes `"en-GB"`); case does not matter;
- `"location": "FR"` or `["FR", "BE"]`: the account's location is one of these (case does
  not matter);
- `"created_after"` / `"created_before"`: the account was created at or after / strictly
  before this time (RFC 3339 text, or Unix seconds);
- `"metadata.<path>": value`: the account's metadata at `<path>` (keys separated by dots) equals
  `value`; a list of values matches any of them.

Anything else is rejected with an `InvalidArgument` naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from overworld.errors import InvalidArgument
from overworld.ids import parse_uuid

FIELDS = ("user_ids", "lang", "location", "created_after", "created_before", "metadata.<path>")
MAX_USER_IDS = 1000
MAX_VALUES = 100
_PATH = re.compile(r"^[A-Za-z0-9_\-]{1,64}(\.[A-Za-z0-9_\-]{1,64}){0,7}$")


@dataclass(frozen=True, slots=True)
class Player:
    """What an audience can look at: a user's account properties."""

    user_id: str
    lang_tag: str = ""
    location: str = ""
    create_time: int = 0  # Unix milliseconds
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Audience:
    user_ids: frozenset[str] | None = None
    langs: tuple[str, ...] | None = None
    locations: frozenset[str] | None = None
    created_after: int | None = None
    created_before: int | None = None
    metadata: tuple[tuple[tuple[str, ...], tuple[Any, ...]], ...] = ()

    @property
    def everybody(self) -> bool:
        return self == EVERYBODY

    def includes(self, p: Player) -> bool:
        if self.user_ids is not None and p.user_id not in self.user_ids:
            return False
        if self.langs is not None:
            tag = p.lang_tag.lower()
            if not any(tag == lang or tag.startswith(lang + "-") for lang in self.langs):
                return False
        if self.locations is not None and (p.location or "").lower() not in self.locations:
            return False
        if self.created_after is not None and p.create_time < self.created_after:
            return False
        if self.created_before is not None and p.create_time >= self.created_before:
            return False
        for path, values in self.metadata:
            value: Any = p.metadata
            for key in path:
                if not isinstance(value, dict) or key not in value:
                    return False
                value = value[key]
            if not any(_same(value, wanted) for wanted in values):
                return False
        return True


EVERYBODY = Audience()


def _same(a: Any, b: Any) -> bool:
    # JSON equality: true is not 1, 1 is 1.0.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b)


def _strings(name: str, value: Any, lower: bool = True) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or len(values) > MAX_VALUES:
        raise InvalidArgument(f"audience.{name} must be a string or a list of 1-{MAX_VALUES} strings.")
    if not all(isinstance(v, str) and 0 < len(v) <= 255 for v in values):
        raise InvalidArgument(f"audience.{name} must hold non-empty strings of at most 255 characters.")
    return tuple(v.lower() if lower else v for v in values)


def _time(name: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 40:
        return value * 1000
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return int(parsed.timestamp() * 1000)
    raise InvalidArgument(
        f"audience.{name} must be an RFC 3339 time with a zone (e.g. 2026-01-01T00:00:00Z) or Unix seconds."
    )


def parse_audience(value: Any) -> Audience:
    """Check an audience (a dict, its JSON text, or None for everybody) and return it parsed."""
    if value is None or value == "":
        return EVERYBODY
    if isinstance(value, str | bytes):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise InvalidArgument("audience must be a JSON object.") from None
    if not isinstance(value, dict):
        raise InvalidArgument("audience must be a JSON object.")
    args: dict[str, Any] = {}
    metadata: list[tuple[tuple[str, ...], tuple[Any, ...]]] = []
    for name, condition in value.items():
        if name == "user_ids":
            ids = condition if isinstance(condition, list) else None
            if ids is None or not ids or len(ids) > MAX_USER_IDS:
                raise InvalidArgument(f"audience.user_ids must be a list of 1-{MAX_USER_IDS} user ids.")
            parsed = [parse_uuid(i) if isinstance(i, str) else None for i in ids]
            if any(u is None for u in parsed):
                raise InvalidArgument("audience.user_ids must hold user ids (UUIDs).")
            args["user_ids"] = frozenset(str(u) for u in parsed)
        elif name == "lang":
            args["langs"] = _strings(name, condition)
        elif name == "location":
            args["locations"] = frozenset(_strings(name, condition))
        elif name in ("created_after", "created_before"):
            args[name] = _time(name, condition)
        elif isinstance(name, str) and name.startswith("metadata."):
            path = name[len("metadata.") :]
            if not _PATH.match(path):
                raise InvalidArgument(
                    f"audience.{name}: a metadata path is 1-8 keys of letters, digits, '_' or '-'"
                    " joined by dots."
                )
            values = condition if isinstance(condition, list) else [condition]
            if not values or len(values) > MAX_VALUES:
                raise InvalidArgument(f"audience.{name} must be a value or a list of 1-{MAX_VALUES} values.")
            if any(isinstance(v, dict | list) for v in values):
                raise InvalidArgument(f"audience.{name}: values must be strings, numbers, booleans or null.")
            metadata.append((tuple(path.split(".")), tuple(values)))
        else:
            raise InvalidArgument(f"audience: unknown field {name!r} (known: {', '.join(FIELDS)}).")
    after, before = args.get("created_after"), args.get("created_before")
    if after is not None and before is not None and before <= after:
        raise InvalidArgument("audience.created_before must be later than audience.created_after.")
    return Audience(metadata=tuple(metadata), **args)

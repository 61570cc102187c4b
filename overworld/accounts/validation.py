"""Input rules for identifiers and profile fields, with the messages clients see."""

from __future__ import annotations

import re

import orjson

from overworld.errors import InvalidArgument
from overworld.protocol.jsondepth import check_depth

_CONTROL = re.compile(r"[\x00-\x1f\x7f\s]")  # identifiers: no control characters, no spaces
_USERNAME_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")  # as Nakama: control characters only
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LANG = re.compile(r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$")

DEVICE_ID = (10, 128)
CUSTOM_ID = (6, 128)
EMAIL = (10, 255)
PASSWORD_MIN = 8
PASSWORD_MAX = 4096
USERNAME_MAX = 128
METADATA_MAX = 16_384


def device_id(value: str) -> str:
    if not value:
        raise InvalidArgument("Device ID is required.")
    if _CONTROL.search(value):
        raise InvalidArgument("Device ID invalid, no spaces or control characters allowed.")
    if not DEVICE_ID[0] <= len(value) <= DEVICE_ID[1]:
        raise InvalidArgument("Device ID invalid, must be 10-128 bytes.")
    return value


def custom_id(value: str) -> str:
    if not value:
        raise InvalidArgument("Custom ID is required.")
    if _CONTROL.search(value):
        raise InvalidArgument("Custom ID invalid, no spaces or control characters allowed.")
    if not CUSTOM_ID[0] <= len(value) <= CUSTOM_ID[1]:
        raise InvalidArgument("Custom ID invalid, must be 6-128 bytes.")
    return value


def email(value: str) -> str:
    if not value:
        raise InvalidArgument("Email address is required.")
    if _CONTROL.search(value):
        raise InvalidArgument("Invalid email address, no spaces or control characters allowed.")
    if not _EMAIL.match(value):
        raise InvalidArgument("Invalid email address format.")
    if not EMAIL[0] <= len(value) <= EMAIL[1]:
        raise InvalidArgument("Invalid email address, must be 10-255 bytes.")
    return value.lower()


def password(value: str) -> str:
    if not value:
        raise InvalidArgument("Password is required.")
    if len(value) < PASSWORD_MIN:
        raise InvalidArgument("Password must be at least 8 characters long.")
    if len(value) > PASSWORD_MAX:
        raise InvalidArgument("Password must be at most 4096 characters long.")
    return value


def username(value: str) -> str:
    if not value:
        raise InvalidArgument("Username is required.")
    if len(value) > USERNAME_MAX:
        raise InvalidArgument("Username invalid, must be 1-128 bytes.")
    if _USERNAME_FORBIDDEN.search(value):
        raise InvalidArgument("Username invalid, no spaces or control characters allowed.")
    return value


def text_field(name: str, value: str, max_len: int) -> str:
    if len(value) > max_len:
        raise InvalidArgument(f"Invalid {name}, must be at most {max_len} characters.")
    if any(ord(c) < 32 and c not in "\t" for c in value):
        raise InvalidArgument(f"Invalid {name}, no control characters allowed.")
    return value


def lang_tag(value: str) -> str:
    if value and not (len(value) <= 18 and _LANG.match(value)):
        raise InvalidArgument("Invalid lang tag, must be an IETF language tag such as 'en' or 'pt-BR'.")
    return value


def avatar_url(value: str) -> str:
    """Any text up to 512 characters, as Nakama stores it (a URL, a built-in avatar's name...)."""
    text_field("avatar url", value, 512)
    return value


def metadata(value: str) -> str:
    if len(value) > METADATA_MAX:
        raise InvalidArgument(f"Metadata must be at most {METADATA_MAX} bytes.")
    check_depth(value, "metadata")
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise InvalidArgument("Metadata must be a valid JSON object.") from None
    if not isinstance(parsed, dict):
        raise InvalidArgument("Metadata must be a valid JSON object.")
    return value


def vars_map(value: dict[str, str] | None) -> dict[str, str]:
    if not value:
        return {}
    if len(value) > 32 or sum(len(k) + len(v) for k, v in value.items()) > 4096:
        raise InvalidArgument("Session vars must be at most 32 entries and 4096 bytes.")
    return value

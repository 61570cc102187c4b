"""Checks of what server code hands the wallet functions. Every error names the field (the
path of the value in the call, e.g. `updates[2].changeset.gold`), so a caller can tell which part
of a request was wrong; nothing is applied when one fails."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from overworld.errors import InvalidArgument
from overworld.ids import parse_uuid
from overworld.wallets.models import INT64_MAX, INT64_MIN, WalletUpdate

MAX_CURRENCIES = 100  # per changeset
MAX_CURRENCY_NAME = 128
MAX_METADATA_BYTES = 16_384
MAX_UPDATES = 1_000  # per call
MAX_IDEMPOTENCY_KEY = 128


def shown(value: object) -> str:
    """A value for an error message, never longer than about 40 characters (an int of a million
    digits cannot even be turned into text)."""
    if isinstance(value, int) and not isinstance(value, bool) and not -(10**30) < value < 10**30:
        return f"{'-' if value < 0 else ''}an integer of {len(format(abs(value), 'x')) * 4} bits"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def user_id(value: object, field: str) -> str:
    parsed = parse_uuid(value) if isinstance(value, str) else None
    if parsed is None:
        raise InvalidArgument(f"{field}: invalid user ID {shown(value)}, must be a UUID.")
    return str(parsed)


def changeset(value: object, field: str) -> dict[str, int]:
    """Currency names to int64 amounts."""
    if not isinstance(value, Mapping):
        raise InvalidArgument(f"{field}: must be an object of currency names to integer amounts.")
    if len(value) > MAX_CURRENCIES:
        raise InvalidArgument(f"{field}: at most {MAX_CURRENCIES} currencies per change.")
    checked: dict[str, int] = {}
    for name, amount in value.items():
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_CURRENCY_NAME or "\x00" in name:
            raise InvalidArgument(
                f"{field}: currency names must be 1-{MAX_CURRENCY_NAME} characters, got {shown(name)}."
            )
        path = f"{field}.{name}"
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise InvalidArgument(f"{path}: amount must be an integer, got {shown(amount)}.")
        if not INT64_MIN <= amount <= INT64_MAX:
            raise InvalidArgument(f"{path}: amount {shown(amount)} is beyond int64.")
        checked[name] = int(amount)
    return checked


def metadata(value: object, field: str) -> str:
    """JSON object text (from a mapping or from text), 16 KiB at most; "{}" for None."""
    if value is None:
        return "{}"
    if isinstance(value, str):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise InvalidArgument(f"{field}: must be a JSON object.") from None
        if not isinstance(parsed, dict):
            raise InvalidArgument(f"{field}: must be a JSON object.")
        text = value
    elif isinstance(value, Mapping):
        try:
            text = orjson.dumps(dict(value)).decode()
        except TypeError as exc:
            raise InvalidArgument(f"{field}: cannot be encoded as JSON ({exc}).") from None
    else:
        raise InvalidArgument(f"{field}: must be an object (a dict or JSON object text).")
    if len(text.encode()) > MAX_METADATA_BYTES:
        raise InvalidArgument(f"{field}: at most {MAX_METADATA_BYTES} bytes of JSON.")
    return text


def idempotency_key(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_IDEMPOTENCY_KEY or "\x00" in value:
        raise InvalidArgument(f"idempotency_key: must be text of at most {MAX_IDEMPOTENCY_KEY} characters.")
    return value


def request_hash(*parts: Any) -> str:
    """A digest of what a call asked for: a key used again must come with the same request."""
    import hashlib

    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()


def update(user: object, changes: object, meta: object, prefix: str = "") -> WalletUpdate:
    """One update, its fields named `user_id`, `changeset`, `metadata` after `prefix`."""
    return WalletUpdate(
        user_id=user_id(user, f"{prefix}user_id"),
        changeset=changeset(changes, f"{prefix}changeset"),
        metadata=metadata(meta, f"{prefix}metadata"),
    )


def updates(values: object, name: str) -> list[WalletUpdate]:
    """A call's updates (`WalletUpdate`s or mappings with `user_id`, `changeset` and optionally
    `metadata`), named `<name>[i]...` in errors."""
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Sequence):
        raise InvalidArgument(f"{name}: must be a list of updates.")
    if len(values) > MAX_UPDATES:
        raise InvalidArgument(f"{name}: at most {MAX_UPDATES} per call.")
    checked: list[WalletUpdate] = []
    for index, value in enumerate(values):
        prefix = f"{name}[{index}]."
        if isinstance(value, WalletUpdate):
            checked.append(update(value.user_id, value.changeset, value.metadata, prefix))
            continue
        if not isinstance(value, Mapping):
            raise InvalidArgument(f"{name}[{index}]: must be a mapping with user_id, changeset, metadata.")
        unknown = sorted(str(k) for k in value if k not in ("user_id", "changeset", "metadata"))
        if unknown:
            raise InvalidArgument(f"{name}[{index}]: unknown field(s) {', '.join(unknown)}.")
        checked.append(update(value.get("user_id"), value.get("changeset"), value.get("metadata"), prefix))
    return checked

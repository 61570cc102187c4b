"""Catalog entries: checked from what operators and server code send (JSON objects), turned back
into JSON for the database and the wire. Every error names the field (`price.gems`,
`contents.items.sword`, ...); nothing is stored when one fails.

    item:   {"name", "kind": "consumable"|"durable"|"time_limited", "duration_sec" (time_limited),
             "max_stack", "category", "properties"}
    bundle: {"name", "contents": {"currencies": {...}, "items": {...}}, "price": {currency: amount},
             "product_ids": {store: product id}, "limit": {"total", "per_period", "period_sec"},
             "category", "properties", "enabled"}
    offer:  {"name", "bundle_id" or "contents", "price", "live_event_id", "audience",
             "start_time", "end_time" (Unix seconds, 0: open), "limit", "category", "properties",
             "enabled"}
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from overworld.errors import InvalidArgument
from overworld.inventory import validation as inv
from overworld.inventory.models import KINDS as ITEM_KINDS
from overworld.store.models import Bundle, Contents, Item, Limit, Offer
from overworld.wallets import validation as wallet_check

MAX_NAME = 256
MAX_CATEGORY = 128
MAX_DEFINITION_BYTES = 64 * 1024
MAX_PERIOD_SEC = 366 * 24 * 3600
MAX_DURATION_SEC = 10 * 366 * 24 * 3600
MAX_TIME = 1 << 40  # Unix seconds
STORES = ("apple", "google", "huawei", "facebook_instant")
_CAMEL = re.compile(r"[A-Z]")
_ITEM_FIELDS = frozenset({"name", "kind", "duration_sec", "max_stack", "category", "properties"})
_BUNDLE_FIELDS = frozenset(
    {"name", "contents", "price", "product_ids", "limit", "category", "properties", "enabled"}
)
_OFFER_FIELDS = frozenset(
    {"name", "bundle_id", "contents", "price", "live_event_id", "audience", "start_time", "end_time",
     "limit", "category", "properties", "enabled"}
)  # fmt: skip


def _object(value: object, field: str) -> Mapping[str, Any]:
    if isinstance(value, str | bytes):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise InvalidArgument(f"{field}: must be a JSON object.") from None
    if not isinstance(value, Mapping):
        raise InvalidArgument(f"{field}: must be a JSON object.")
    return value


def _known(value: Mapping[str, Any], fields: frozenset[str], what: str) -> dict[str, Any]:
    """The fields, named in snake_case or lowerCamelCase (`max_stack` or `maxStack`)."""
    named: dict[str, Any] = {}
    for name, field_value in value.items():
        snake = _CAMEL.sub(lambda m: "_" + m.group(0).lower(), name) if isinstance(name, str) else name
        if snake not in fields:
            known = ", ".join(sorted(fields))
            raise InvalidArgument(
                f"{inv.shown(name).strip(chr(39))}: not a field of {what} (known: {known})."
            )
        named[snake] = field_value
    return named


def _text(value: object, field: str, limit: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        raise InvalidArgument(f"{field}: must be text of at most {limit} characters.")
    if required and not value:
        raise InvalidArgument(f"{field}: is required.")
    return value


def _int(value: object, field: str, low: int, high: int, default: int = 0) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument(f"{field}: must be an integer, got {inv.shown(value)}.")
    if not low <= value <= high:
        raise InvalidArgument(f"{field}: must be from {low} to {high}, got {inv.shown(value)}.")
    return int(value)


def _bool(value: object, field: str, default: bool = True) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidArgument(f"{field}: must be true or false.")
    return value


def amounts(value: object, field: str) -> dict[str, int]:
    """Currency names to positive int64 amounts."""
    if value is None:
        return {}
    checked = wallet_check.changeset(value, field)
    for name, amount in checked.items():
        if amount <= 0:
            raise InvalidArgument(f"{field}.{name}: amount must be positive, got {amount}.")
    return checked


def limit(value: object, field: str = "limit") -> Limit:
    if value is None:
        return Limit()
    value = _object(value, field)
    value = _known(value, frozenset({"total", "per_period", "period_sec"}), "a limit")
    result = Limit(
        total=_int(value.get("total"), f"{field}.total", 0, inv.MAX_QUANTITY),
        per_period=_int(value.get("per_period"), f"{field}.per_period", 0, inv.MAX_QUANTITY),
        period_sec=_int(value.get("period_sec"), f"{field}.period_sec", 0, MAX_PERIOD_SEC),
    )
    if result.per_period and not result.period_sec:
        raise InvalidArgument(f"{field}.period_sec: is required with per_period.")
    return result


def contents(value: object, items: Callable[[str], bool], field: str = "contents") -> Contents:
    value = _object(value, field)
    value = _known(value, frozenset({"currencies", "items"}), "contents")
    currencies = amounts(value.get("currencies"), f"{field}.currencies")
    granted = inv.quantities(value.get("items") or {}, f"{field}.items", allow_empty=True)
    for item_id in granted:
        if not items(item_id):
            raise InvalidArgument(f"{field}.items.{item_id}: no item {item_id!r} in the catalog.")
    if not currencies and not granted:
        raise InvalidArgument(f"{field}: gives nothing (no currencies, no items).")
    return Contents(currencies, granted)


def item(item_id: str, value: object) -> Item:
    item_id = inv.item_id(item_id, "id")
    value = _object(value, "item")
    value = _known(value, _ITEM_FIELDS, "an item")
    kind = value.get("kind", "consumable")
    if kind not in ITEM_KINDS:
        raise InvalidArgument(f"kind: must be one of {', '.join(ITEM_KINDS)}, got {inv.shown(kind)}.")
    duration = _int(value.get("duration_sec"), "duration_sec", 0, MAX_DURATION_SEC)
    if kind == "time_limited" and not duration:
        raise InvalidArgument("duration_sec: a time_limited item needs a duration (seconds, at least 1).")
    if kind != "time_limited" and duration:
        raise InvalidArgument("duration_sec: only a time_limited item has a duration.")
    default_stack = 1 if kind == "durable" else inv.MAX_QUANTITY
    return Item(
        id=item_id,
        name=_text(value.get("name"), "name", MAX_NAME),
        kind=str(kind),
        max_stack=_int(value.get("max_stack"), "max_stack", 1, inv.MAX_QUANTITY, default_stack),
        duration_sec=duration,
        category=_text(value.get("category"), "category", MAX_CATEGORY),
        properties=inv.properties(value.get("properties"), "properties"),
    )


def product_ids(value: object, field: str = "product_ids") -> dict[str, str]:
    if value is None:
        return {}
    value = _object(value, field)
    checked: dict[str, str] = {}
    for store, sku in value.items():
        if store not in STORES:
            raise InvalidArgument(f"{field}.{inv.shown(store)}: not a store (known: {', '.join(STORES)}).")
        checked[store] = _text(sku, f"{field}.{store}", 256, required=True)
    return checked


def bundle(bundle_id: str, value: object, items: Callable[[str], bool]) -> Bundle:
    bundle_id = inv.item_id(bundle_id, "id")
    value = _object(value, "bundle")
    value = _known(value, _BUNDLE_FIELDS, "a bundle")
    return Bundle(
        id=bundle_id,
        name=_text(value.get("name"), "name", MAX_NAME),
        contents=contents(value.get("contents"), items),
        price=amounts(value.get("price"), "price"),
        product_ids=product_ids(value.get("product_ids")),
        limit=limit(value.get("limit")),
        category=_text(value.get("category"), "category", MAX_CATEGORY),
        properties=inv.properties(value.get("properties"), "properties"),
        enabled=_bool(value.get("enabled"), "enabled"),
    )


def offer(
    offer_id: str,
    value: object,
    items: Callable[[str], bool],
    bundles: Callable[[str], bool],
    audience: Callable[[object], dict[str, Any]],
) -> Offer:
    offer_id = inv.item_id(offer_id, "id")
    value = _object(value, "offer")
    value = _known(value, _OFFER_FIELDS, "an offer")
    bundle_id = _text(value.get("bundle_id"), "bundle_id", 128)
    has_contents = value.get("contents") is not None
    if bool(bundle_id) == has_contents:
        raise InvalidArgument("bundle_id: an offer sells either a bundle (bundle_id) or contents of its own.")
    if bundle_id and not bundles(bundle_id):
        raise InvalidArgument(f"bundle_id: no bundle {bundle_id!r} in the catalog.")
    price = amounts(value.get("price"), "price")
    if not price:
        raise InvalidArgument("price: an offer needs a price (currency -> amount).")
    start = _int(value.get("start_time"), "start_time", 0, MAX_TIME)
    end = _int(value.get("end_time"), "end_time", 0, MAX_TIME)
    if end and end <= start:
        raise InvalidArgument("end_time: must be later than start_time.")
    event_id = _text(value.get("live_event_id"), "live_event_id", 36)
    return Offer(
        id=offer_id,
        name=_text(value.get("name"), "name", MAX_NAME),
        price=price,
        bundle_id=bundle_id,
        contents=contents(value["contents"], items) if has_contents else None,
        live_event_id=event_id,
        audience=audience(value.get("audience")),
        start_time=start,
        end_time=end,
        limit=limit(value.get("limit")),
        category=_text(value.get("category"), "category", MAX_CATEGORY),
        properties=inv.properties(value.get("properties"), "properties"),
        enabled=_bool(value.get("enabled"), "enabled"),
    )


# -- to JSON ----------------------------------------------------------------------------------------


def _limit_json(lim: Limit) -> dict[str, int]:
    return {"total": lim.total, "per_period": lim.per_period, "period_sec": lim.period_sec}


def contents_json(c: Contents) -> dict[str, Any]:
    return {"currencies": c.currencies, "items": c.items}


def item_json(i: Item) -> dict[str, Any]:
    return {"name": i.name, "kind": i.kind, "duration_sec": i.duration_sec, "max_stack": i.max_stack,
            "category": i.category, "properties": i.properties}  # fmt: skip


def bundle_json(b: Bundle) -> dict[str, Any]:
    return {"name": b.name, "contents": contents_json(b.contents), "price": b.price,
            "product_ids": b.product_ids, "limit": _limit_json(b.limit), "category": b.category,
            "properties": b.properties, "enabled": b.enabled}  # fmt: skip


def offer_json(o: Offer) -> dict[str, Any]:
    out: dict[str, Any] = {"name": o.name, "price": o.price, "live_event_id": o.live_event_id,
                           "audience": o.audience, "start_time": o.start_time, "end_time": o.end_time,
                           "limit": _limit_json(o.limit), "category": o.category,
                           "properties": o.properties, "enabled": o.enabled}  # fmt: skip
    if o.contents is not None:
        out["contents"] = contents_json(o.contents)
    else:
        out["bundle_id"] = o.bundle_id
    return out


def check_size(definition: dict[str, Any]) -> str:
    text = orjson.dumps(definition, option=orjson.OPT_SORT_KEYS).decode()
    if len(text.encode()) > MAX_DEFINITION_BYTES:
        raise InvalidArgument(f"definition: at most {MAX_DEFINITION_BYTES} bytes of JSON.")
    return text

"""A player's items as the inventory returns them (times in Unix milliseconds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from overworld.errors import Code, FailedPrecondition

KINDS = ("consumable", "durable", "time_limited")


@dataclass(frozen=True, slots=True)
class ItemSpec:
    """What the catalog says of an item, as far as the inventory needs it."""

    id: str
    kind: str  # one of KINDS
    max_stack: int  # the most one player holds
    duration_sec: int = 0  # time_limited: how long a grant lasts
    properties: dict[str, Any] = field(default_factory=dict)  # defaults of a new stack


@dataclass(slots=True)
class InventoryItem:
    item_id: str
    quantity: int
    properties: dict[str, Any]
    expire_time: int  # 0: never
    create_time: int
    update_time: int


class NotEnough(FailedPrecondition):
    """A consume (or a strict take) of more than the player holds: nothing was changed."""

    code = Code.FAILED_PRECONDITION

    def __init__(self, field: str, item_id: str, held: int, wanted: int) -> None:
        super().__init__(f"{field}: not enough of item {item_id!r} (held {held}, asked {wanted}).")
        self.item_id = item_id
        self.held = held
        self.wanted = wanted

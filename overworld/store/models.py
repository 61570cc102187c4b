"""The catalog's entries, purchases and grants as the store returns them (times in Unix
milliseconds in the domain, Unix seconds in definitions)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

KINDS = ("item", "bundle", "offer")


@dataclass(frozen=True, slots=True)
class Limit:
    """Purchases per player: `total` ever and `per_period` within any `period_sec`; 0: no limit."""

    total: int = 0
    per_period: int = 0
    period_sec: int = 0

    @property
    def none(self) -> bool:
        return not self.total and not self.per_period


@dataclass(frozen=True, slots=True)
class Contents:
    """What a bundle or an offer gives: currencies (to the wallet) and items (to the inventory)."""

    currencies: dict[str, int] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    name: str
    kind: str  # consumable | durable | time_limited
    max_stack: int
    duration_sec: int = 0  # time_limited only
    category: str = ""
    properties: dict[str, Any] = field(default_factory=dict)
    update_time: int = 0


@dataclass(frozen=True, slots=True)
class Bundle:
    id: str
    name: str
    contents: Contents
    price: dict[str, int] = field(default_factory=dict)  # virtual currencies; {}: not sold for them
    product_ids: dict[str, str] = field(default_factory=dict)  # store -> real-money product id
    limit: Limit = Limit()
    category: str = ""
    properties: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    update_time: int = 0


@dataclass(frozen=True, slots=True)
class Offer:
    """A bundle at a discounted price, or contents of its own, for the players of a live event
    and/or an audience, between `start_time` and `end_time` (Unix seconds; 0: open)."""

    id: str
    name: str
    price: dict[str, int]
    bundle_id: str = ""
    contents: Contents | None = None  # when not a bundle's
    live_event_id: str = ""
    audience: dict[str, Any] = field(default_factory=dict)  # {}: everybody
    start_time: int = 0
    end_time: int = 0
    limit: Limit = Limit()
    category: str = ""
    properties: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    update_time: int = 0


@dataclass(slots=True)
class Catalog:
    """A title's whole catalog."""

    items: dict[str, Item] = field(default_factory=dict)
    bundles: dict[str, Bundle] = field(default_factory=dict)
    offers: dict[str, Offer] = field(default_factory=dict)

    def contents_of(self, offer: Offer) -> Contents:
        if offer.contents is not None:
            return offer.contents
        bundle = self.bundles.get(offer.bundle_id)
        return bundle.contents if bundle is not None else Contents()


@dataclass(slots=True)
class StoreView:
    """What one player sees: the items, the bundles for sale and the offers open to them now."""

    items: list[Item]
    bundles: list[Bundle]
    offers: list[Offer]


@dataclass(slots=True)
class Purchase:
    """One purchase with virtual currency: what was paid and granted, the wallet after it."""

    id: str
    user_id: str
    bundle_id: str
    offer_id: str
    price: dict[str, int]
    currencies: dict[str, int]
    items: dict[str, int]
    wallet: dict[str, int]
    create_time: int
    replayed: bool = False  # True: a retry with the idempotency key of an earlier purchase


@dataclass(frozen=True, slots=True)
class GrantOutcome:
    """What a real-money grant or revoke did (the fields of `purchases.grants.GrantResult`)."""

    applied: bool
    currencies: dict[str, int] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)


class ProductGrantLike(Protocol):
    """A store transaction of a product (`purchases.grants.ProductGrant`, read structurally)."""

    @property
    def title_id(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def product_id(self) -> str: ...
    @property
    def store(self) -> str: ...
    @property
    def transaction_id(self) -> str: ...
    @property
    def quantity(self) -> int: ...


class Eligibility(Protocol):
    """What the store asks of the layer above (live events) about one player, without importing it:
    the node hands an implementation (`live_events.offers.OfferEligibility`) to the store."""

    async def live_events(self, title_id: str, user_id: str) -> frozenset[str]:
        """The ids of the live events live for this player now (their audiences applied)."""
        ...

    async def audiences(
        self, title_id: str, user_id: str, audiences: Sequence[Mapping[str, Any]]
    ) -> list[bool]:
        """For each audience, whether the player is in it."""
        ...

    def check_audience(self, audience: object) -> dict[str, Any]:
        """The audience checked (InvalidArgument naming `audience...` otherwise)."""
        ...


class NoLiveEvents:
    """Eligibility without live events: no event is live, only the empty audience (everybody)
    includes a player; an audience is any JSON object."""

    async def live_events(self, title_id: str, user_id: str) -> frozenset[str]:
        return frozenset()

    async def audiences(
        self, title_id: str, user_id: str, audiences: Sequence[Mapping[str, Any]]
    ) -> list[bool]:
        return [not a for a in audiences]

    def check_audience(self, audience: object) -> dict[str, Any]:
        from overworld.errors import InvalidArgument

        if audience is None:
            return {}
        if not isinstance(audience, dict):
            raise InvalidArgument("audience must be a JSON object.")
        return dict(audience)

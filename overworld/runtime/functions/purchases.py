"""In-app purchase functions of server code (`nk.purchase_*`, `nk.purchases_list`,
`nk.subscription_*`, `nk.subscriptions_list`), mixed into `ServerApi`, and the registration of
the store notification hooks. Nakama's names; see docs/economy.md."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from overworld.purchases.models import Purchase, PurchasePage, Subscription, SubscriptionPage
from overworld.purchases.service import HOOK_KINDS, NotificationHookEntry, PurchaseService

if TYPE_CHECKING:
    from overworld.runtime.runtime import Runtime
    from overworld.titles.models import Title


class PurchaseFunctions:
    """Validation of receipts for a user, as the REST calls do for the caller: the purchase is
    recorded and granted once (`persist=False`: validated only, nothing recorded or granted); the
    reads of what is recorded."""

    _runtime: Runtime
    _title: Title

    @property
    def _purchases(self) -> PurchaseService:
        return self._runtime.services.purchases

    async def purchase_validate_apple(
        self, user_id: str, receipt: str, persist: bool = True, password_override: str = ""
    ) -> list[Purchase]:
        """Validate an App Store receipt (signed transaction or legacy receipt) for `user_id`
        (`password_override`: the legacy endpoint's shared secret instead of the title's).

        purchases = await nk.purchase_validate_apple(ctx.user_id, receipt)
        """
        return await self._purchases.validate_purchase_apple(
            self._title.id, user_id, receipt, persist, password_override
        )

    async def purchase_validate_google(
        self, user_id: str, receipt: str, persist: bool = True
    ) -> list[Purchase]:
        """Validate a Google Play purchase (its JSON) for `user_id`."""
        return await self._purchases.validate_purchase_google(self._title.id, user_id, receipt, persist)

    async def purchase_validate_huawei(
        self, user_id: str, signature: str, input_data: str, persist: bool = True
    ) -> list[Purchase]:
        """Validate a Huawei purchase (`input_data`: InAppPurchaseData, `signature` its signature)."""
        return await self._purchases.validate_purchase_huawei(
            self._title.id, user_id, input_data, signature, persist
        )

    async def purchase_validate_facebook_instant(
        self, user_id: str, signed_request: str, persist: bool = True
    ) -> list[Purchase]:
        """Validate a Facebook Instant Games purchase's signed request for `user_id`."""
        return await self._purchases.validate_purchase_facebook_instant(
            self._title.id, user_id, signed_request, persist
        )

    async def purchase_get_by_transaction_id(self, transaction_id: str) -> Purchase:
        """The recorded purchase of a store transaction (its `.user_id`: who owns it); NOT_FOUND."""
        return await self._purchases.get_purchase(self._title.id, transaction_id)

    async def purchases_list(self, user_id: str = "", limit: int = 100, cursor: str = "") -> PurchasePage:
        """Recorded purchases, newest first (of one user, or of everyone with ""); `.cursor`."""
        return await self._purchases.list_purchases(self._title.id, user_id, limit, cursor)

    async def subscription_validate_apple(
        self, user_id: str, receipt: str, persist: bool = True, password_override: str = ""
    ) -> Subscription:
        """Validate an App Store subscription receipt for `user_id` (`password_override`: as for
        `purchase_validate_apple`)."""
        return await self._purchases.validate_subscription_apple(
            self._title.id, user_id, receipt, persist, password_override
        )

    async def subscription_validate_google(
        self, user_id: str, receipt: str, persist: bool = True
    ) -> Subscription:
        """Validate a Google Play subscription (its JSON) for `user_id`."""
        return await self._purchases.validate_subscription_google(self._title.id, user_id, receipt, persist)

    async def subscription_get_by_product_id(self, user_id: str, product_id: str) -> Subscription:
        """The user's subscription to `product_id` (`.active`, `.expiry_time`); NOT_FOUND."""
        return await self._purchases.get_subscription(self._title.id, user_id, product_id)

    async def subscriptions_list(
        self, user_id: str = "", limit: int = 100, cursor: str = ""
    ) -> SubscriptionPage:
        """Recorded subscriptions, newest first (of one user, or of everyone with "")."""
        return await self._purchases.list_subscriptions(self._title.id, user_id, limit, cursor)


def register_notification_hook(runtime: Runtime, title: Title, kind: str, fn: Any, module: str) -> None:
    """Called by `Initializer.register_purchase_notification_apple` and the others: one function
    per title and kind (registering again replaces it)."""
    if kind not in HOOK_KINDS:  # pragma: no cover - the Initializer names them
        raise ValueError(f"unknown notification hook {kind!r}")
    if not callable(fn):
        raise TypeError(f"{kind} hook: expected a function, got {type(fn).__name__}")
    runtime.services.purchases.notification_hooks[(title.id, kind)] = NotificationHookEntry(fn, module)

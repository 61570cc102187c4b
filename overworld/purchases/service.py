"""In-app purchases and subscriptions with Nakama's rules, and the stores' server notifications.

A purchase is confirmed with its store (`validators/`), then recorded and granted in one
transaction: the record's insert is what decides whether the store transaction is new, and only
a new one is granted (`ProductGrants.grant`, same transaction), so a retried, replayed or
concurrent validation of the same receipt grants once, on any node: concurrent inserts of one
transaction id wait for each other on the primary key. The same user validating again gets the
record with `seen_before`; another user is refused. `persist=False` validates with the store and
records nothing and so grants nothing (Nakama's semantics: only a recorded purchase is known).

A store notification (App Store Server Notifications V2, Google real-time developer
notifications) is verified (Apple: its signature; Google: by fetching the purchase from the
Play Developer API), then acted on in one transaction with its id recorded, so a redelivery acts
once: a refund or revocation marks the record refunded and takes back what it granted
(`ProductGrants.revoke`), a renewal extends the subscription. The title's notification hooks
(`purchase_notification_apple`, ...) run after the commit.

Subscriptions grant nothing through the catalog: their state (`expiry_time`, `active`) is what
a game checks (`GetSubscription`).
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson
import structlog

from overworld import cursors
from overworld.clock import now_ms
from overworld.config import ConfigError, TitleStores
from overworld.context import EventContext
from overworld.db import Database, Row, Tx
from overworld.errors import (
    ApiError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unauthenticated,
)
from overworld.ids import parse_uuid
from overworld.purchases.grants import ProductGrant, ProductGrants
from overworld.purchases.models import (
    Purchase,
    PurchasePage,
    StorePurchase,
    StoreSubscription,
    Subscription,
    SubscriptionPage,
)
from overworld.purchases.store import PurchaseStore, purchase_of, subscription_of
from overworld.purchases.validators.apple import AppleValidator
from overworld.purchases.validators.common import StoreHttp, int_field
from overworld.purchases.validators.facebook_instant import FacebookInstantValidator
from overworld.purchases.validators.google import SUBSCRIPTION_REVOKED, GoogleValidator, order_root
from overworld.purchases.validators.huawei import HuaweiValidator
from overworld.titles.models import Title

log = structlog.get_logger(__name__)
SYSTEM_USER = "00000000-0000-0000-0000-000000000000"
OTHER_USER = "This purchase was validated by another user."
OTHER_USER_SUBSCRIPTION = "This subscription was validated by another user."
BAD_CURSOR = "Invalid cursor."
HOOK_KINDS = (
    "purchase_notification_apple", "subscription_notification_apple",
    "purchase_notification_google", "subscription_notification_google",
)  # fmt: skip
# App Store notification types that extend a subscription, and those that end it.
RENEWALS = {"DID_RENEW", "SUBSCRIBED", "DID_RECOVER", "RENEWAL_EXTENDED", "OFFER_REDEEMED"}
EXPIRIES = {"EXPIRED", "GRACE_PERIOD_EXPIRED"}
REFUNDS = {"REFUND", "REVOKE"}
NotificationHook = Callable[[EventContext, Any, str], Any]


@dataclass(slots=True)
class NotificationHookEntry:
    fn: NotificationHook
    module: str


@dataclass(slots=True)
class _Stores:
    apple: AppleValidator | None = None
    google: GoogleValidator | None = None
    huawei: HuaweiValidator | None = None
    facebook_instant: FacebookInstantValidator | None = None


def build_stores(config: TitleStores, http: StoreHttp, where: str) -> _Stores:
    """A title's validators; ConfigError naming the setting for a key or certificate that does
    not load."""
    stores = _Stores()
    parts: list[tuple[str, Callable[[], Any]]] = [
        ("apple", lambda: config.apple and AppleValidator(config.apple, http)),
        ("google", lambda: config.google and GoogleValidator(config.google, http)),
        ("huawei", lambda: config.huawei and HuaweiValidator(config.huawei)),
        (
            "facebook_instant",
            lambda: config.facebook_instant and FacebookInstantValidator(config.facebook_instant),
        ),
    ]
    for name, build in parts:
        try:
            setattr(stores, name, build())
        except (ValueError, TypeError, ApiError, OSError) as exc:
            raise ConfigError(f"setting {where}.{name}: {exc}") from None
    return stores


class PurchaseService:
    def __init__(
        self,
        db: Database,
        grants: ProductGrants,
        stores: Mapping[str, TitleStores],
        *,
        title_name: Callable[[str], str],
        node_name: str = "",
        timeout_sec: float = 10.0,
        hook_timeout_sec: float = 5.0,
        http: StoreHttp | None = None,
    ) -> None:
        self._db = db
        self._store = PurchaseStore(db)
        self._grants = grants
        self._http = http or StoreHttp(timeout_sec)
        self._stores = {
            name: build_stores(c, self._http, f"purchases[{name!r}]") for name, c in stores.items()
        }
        self._title_name = title_name
        self._node = node_name
        self._hook_timeout = hook_timeout_sec
        # (title id, kind) -> the title's server code's notification hook (HOOK_KINDS)
        self.notification_hooks: dict[tuple[str, str], NotificationHookEntry] = {}

    async def close(self) -> None:
        await self._http.close()

    def _title_stores(self, title_id: str) -> _Stores:
        return self._stores.get(self._title_name(title_id)) or _Stores()

    def apple(self, title_id: str) -> AppleValidator:
        found = self._title_stores(title_id).apple
        if found is None:
            raise FailedPrecondition("Apple IAP is not configured for this title.")
        return found

    def google(self, title_id: str) -> GoogleValidator:
        found = self._title_stores(title_id).google
        if found is None:
            raise FailedPrecondition("Google IAP is not configured for this title.")
        return found

    # -- validation -------------------------------------------------------------------------------

    async def validate_purchase_apple(
        self, title_id: str, user_id: str, receipt: str, persist: bool = True, password: str = ""
    ) -> list[Purchase]:
        """`password`: the legacy endpoint's shared secret instead of the title's (Nakama's
        password override)."""
        validator = self.apple(title_id)
        _receipt(receipt, "receipt")
        found = await validator.purchases(receipt, password)
        return await self._record(title_id, user_id, found, persist, validator.config.environments)

    async def validate_purchase_google(
        self, title_id: str, user_id: str, purchase: str, persist: bool = True
    ) -> list[Purchase]:
        validator = self.google(title_id)
        _receipt(purchase, "purchase")
        found = await validator.purchase(purchase)
        return await self._record(title_id, user_id, [found], persist, validator.config.environments)

    async def validate_purchase_huawei(
        self, title_id: str, user_id: str, purchase: str, signature: str, persist: bool = True
    ) -> list[Purchase]:
        validator = self._title_stores(title_id).huawei
        if validator is None:
            raise FailedPrecondition("Huawei IAP is not configured for this title.")
        _receipt(purchase, "purchase")
        _receipt(signature, "signature")
        found = validator.purchase(purchase, signature)
        return await self._record(title_id, user_id, [found], persist, validator.config.environments)

    async def validate_purchase_facebook_instant(
        self, title_id: str, user_id: str, signed_request: str, persist: bool = True
    ) -> list[Purchase]:
        validator = self._title_stores(title_id).facebook_instant
        if validator is None:
            raise FailedPrecondition("Facebook Instant IAP is not configured for this title.")
        _receipt(signed_request, "signed_request")
        found = validator.purchase(signed_request)
        return await self._record(title_id, user_id, [found], persist, ["production"])

    async def validate_subscription_apple(
        self, title_id: str, user_id: str, receipt: str, persist: bool = True, password: str = ""
    ) -> Subscription:
        validator = self.apple(title_id)
        _receipt(receipt, "receipt")
        found = await validator.subscription(receipt, password)
        return await self._record_subscription(
            title_id, user_id, found, persist, validator.config.environments
        )

    async def validate_subscription_google(
        self, title_id: str, user_id: str, receipt: str, persist: bool = True
    ) -> Subscription:
        validator = self.google(title_id)
        _receipt(receipt, "receipt")
        found = await validator.subscription(receipt)
        return await self._record_subscription(
            title_id, user_id, found, persist, validator.config.environments
        )

    async def _lock_user(self, tx: Tx, title_id: str, user_id: str) -> None:
        """Lock the user's row (purchases of one user run one at a time; the grant writes it)."""
        found = await tx.fetchval(
            f"SELECT 1 FROM users WHERE title_id = $1 AND id = $2{self._db.sql.lock_rows}",  # nosec B608 # the dialect's lock clause; values bound as $n
            title_id,
            user_id,
        )
        if found is None:
            raise InvalidArgument(f"user_id: no user {user_id} in this title.")

    async def _record(
        self, title_id: str, user_id: str, found: list[StorePurchase], persist: bool, accepted: Sequence[str]
    ) -> list[Purchase]:
        user_id = _user_id(user_id)
        for p in found:
            _check_environment(p.environment, accepted)
        if not persist:
            return [_unrecorded(user_id, p) for p in found]
        seen = await self._seen(title_id, user_id, found)
        if seen is not None:
            return seen
        results: dict[str, Purchase] = {}
        granted = False
        async with self._db.transaction() as tx:
            await self._lock_user(tx, title_id, user_id)
            now = now_ms()
            for p in sorted(found, key=lambda p: p.transaction_id):  # row locks in one order
                if await self._store.insert_purchase(tx, title_id, user_id, p, now):
                    if not p.refund_time:
                        grant = _grant(title_id, user_id, p, p.transaction_id)
                        await self._grants.grant(tx, grant)
                        granted = True
                    results[p.transaction_id] = replace(
                        _unrecorded(user_id, p), create_time=now, update_time=now
                    )
                    continue
                row = await self._store.purchase(tx, title_id, p.store, p.transaction_id)
                if row is None:  # pragma: no cover - the insert found it
                    raise ApiError("The purchase record vanished; try again.")
                if row["user_id"] != user_id:
                    raise FailedPrecondition(OTHER_USER)
                results[p.transaction_id] = purchase_of(row, seen_before=True)
        if granted:
            await self._grants.committed(title_id, [user_id])
        return [results[p.transaction_id] for p in found]

    async def _seen(self, title_id: str, user_id: str, found: list[StorePurchase]) -> list[Purchase] | None:
        """A retry's answer without a write transaction: every transaction already recorded (a
        record is never removed, so what is read here stays true); None if one is new."""
        rows = []
        for p in found:
            row = await self._store.purchase(self._db, title_id, p.store, p.transaction_id)
            if row is None:
                return None
            rows.append(row)
        if any(row["user_id"] != user_id for row in rows):
            raise FailedPrecondition(OTHER_USER)
        return [purchase_of(row, seen_before=True) for row in rows]

    async def _record_subscription(
        self, title_id: str, user_id: str, s: StoreSubscription, persist: bool, accepted: Sequence[str]
    ) -> Subscription:
        user_id = _user_id(user_id)
        _check_environment(s.environment, accepted)
        now = now_ms()
        if not persist:
            return _subscription(user_id, s, 0, now)
        async with self._db.transaction() as tx:
            await self._lock_user(tx, title_id, user_id)
            now = now_ms()
            if await self._store.insert_subscription(tx, title_id, user_id, s, "", now):
                return _subscription(user_id, s, now, now)
            row = await self._store.subscription(tx, title_id, s.store, s.original_transaction_id, lock=True)
            if row is None:  # pragma: no cover
                raise ApiError("The subscription record vanished; try again.")
            if row["user_id"] != user_id:
                raise FailedPrecondition(OTHER_USER_SUBSCRIPTION)
            values: dict[str, Any] = {
                "product_id": s.product_id,
                "expiry_time": s.expiry_time,
                "provider_response": s.provider_response,
                "refund_time": int(row["refund_time"]) or s.refund_time,
                "update_time": now,
            }
            if s.store_ref:
                values["store_ref"] = s.store_ref
            await self._store.update_subscription(tx, title_id, s.store, s.original_transaction_id, **values)
            row = await self._store.subscription(tx, title_id, s.store, s.original_transaction_id)
        return subscription_of(row, now)

    # -- reads ------------------------------------------------------------------------------------

    async def get_purchase(self, title_id: str, transaction_id: str) -> Purchase:
        if not isinstance(transaction_id, str) or not transaction_id:
            raise InvalidArgument("transaction_id: must be a non-empty string.")
        row = await self._store.purchase_by_transaction(title_id, transaction_id)
        if row is None:
            raise NotFound("Purchase not found.")
        return purchase_of(row)

    async def list_purchases(
        self, title_id: str, user_id: str = "", limit: int = 100, cursor: str = ""
    ) -> PurchasePage:
        user_id = _user_id(user_id) if user_id else ""
        after = _after(cursor, user_id)
        rows = await self._store.purchases(title_id, user_id, _limit(limit) + 1, after)
        more = len(rows) > limit
        page = [purchase_of(r) for r in rows[:limit]]
        last = page[-1] if page else None
        next_cursor = (
            cursors.encode([user_id, last.purchase_time, last.store, last.transaction_id])
            if more and last
            else ""
        )
        return PurchasePage(purchases=page, cursor=next_cursor)

    async def get_subscription(self, title_id: str, user_id: str, product_id: str) -> Subscription:
        user_id = _user_id(user_id)
        if not isinstance(product_id, str) or not product_id:
            raise InvalidArgument("product_id: must be a non-empty string.")
        row = await self._store.subscription_by_product(title_id, user_id, product_id)
        if row is None:
            raise NotFound("Subscription not found.")
        return subscription_of(row, now_ms())

    async def list_subscriptions(
        self, title_id: str, user_id: str = "", limit: int = 100, cursor: str = ""
    ) -> SubscriptionPage:
        user_id = _user_id(user_id) if user_id else ""
        after = _after(cursor, user_id)
        rows = await self._store.subscriptions(title_id, user_id, _limit(limit) + 1, after)
        now = now_ms()
        more = len(rows) > limit
        page = [subscription_of(r, now) for r in rows[:limit]]
        last = page[-1] if page else None
        next_cursor = (
            cursors.encode([user_id, last.purchase_time, last.store, last.original_transaction_id])
            if more and last
            else ""
        )
        return SubscriptionPage(subscriptions=page, cursor=next_cursor)

    # -- notifications ----------------------------------------------------------------------------

    async def apple_notification(self, title: Title, body: bytes) -> None:
        """Act on an App Store Server Notification V2 (module docstring); a redelivery does nothing."""
        validator = self._title_stores(title.id).apple
        if validator is None:
            raise NotFound("Apple IAP is not configured for this title.")
        n = validator.notification(body)
        if n.environment not in validator.config.environments:
            log.info(
                "App Store notification of an environment not accepted", title=title.name, env=n.environment
            )
            return
        payload_text = orjson.dumps(n.payload).decode()
        fired: list[tuple[str, Any]] = []
        t = n.transaction
        async with self._db.transaction() as tx:
            now = now_ms()
            if not await self._store.claim_notification(tx, title.id, "apple", n.id, now):
                return
            if t is None:
                return
            tid = str(t.get("transactionId", ""))
            otid = str(t.get("originalTransactionId", ""))
            if n.type in REFUNDS:
                when = int_field(t, "revocationDate", "signedTransactionInfo", 0) or now
                p = await self._refund(tx, title.id, "apple", tid, n.environment, when, now)
                if p is not None:
                    fired.append(("purchase_notification_apple", p))
                s = await self._end_subscription(
                    tx, title.id, "apple", otid, n.environment, payload_text, now, refund_time=when
                )
                if s is not None:
                    fired.append(("subscription_notification_apple", s))
            elif t.get("expiresDate"):
                store_sub = validator.subscription_of(t)
                s = await self._renew(tx, title.id, store_sub, n.environment, payload_text, now,
                                      ended=n.type in EXPIRIES)  # fmt: skip
                if s is not None:
                    fired.append(("subscription_notification_apple", s))
            else:
                row = await self._store.purchase(tx, title.id, "apple", tid)
                if row is not None and row["environment"] == n.environment:
                    fired.append(("purchase_notification_apple", purchase_of(row)))
        await self._fire(title.id, fired, payload_text)

    async def google_notification(self, title: Title, body: bytes, token: str) -> None:
        """Act on a Google real-time developer notification (a Pub/Sub push): the purchase is
        fetched from the Play Developer API, which is what is believed."""
        validator = self._title_stores(title.id).google
        if validator is None:
            raise NotFound("Google IAP is not configured for this title.")
        expected = validator.config.notification_token
        if expected and not hmac.compare_digest(token.encode(), expected.encode()):
            raise Unauthenticated("token: does not match the title's notification token.")
        n = validator.notification(body)
        payload_text = orjson.dumps(n.payload).decode()
        if n.kind == "test":
            return
        fired: list[tuple[str, Any]] = []
        if n.kind == "voided" and n.product_type != 1:
            row = await self._store.purchase(self._db, title.id, "google", n.order_id) if n.order_id else None
            if row is None:
                return
            if not await self._google_voided(validator, row["product_id"], n.purchase_token):
                log.warning("voided purchase notification not confirmed by Google Play", order=n.order_id)
                return
            async with self._db.transaction() as tx:
                now = now_ms()
                if not await self._store.claim_notification(tx, title.id, "google", n.id, now):
                    return
                p = await self._refund(tx, title.id, "google", n.order_id, row["environment"], now, now)
                if p is not None:
                    fired.append(("purchase_notification_google", p))
        elif n.kind == "one_time":
            async with self._db.transaction() as tx:
                now = now_ms()
                if not await self._store.claim_notification(tx, title.id, "google", n.id, now):
                    return
                for tid in await self._store.purchase_transactions_by_ref(
                    tx, title.id, "google", n.purchase_token
                ):
                    row = await self._store.purchase(tx, title.id, "google", tid)
                    if row is not None:
                        fired.append(("purchase_notification_google", purchase_of(row)))
        else:  # a subscription's notification, or a voided subscription
            revoked = n.kind == "voided" or n.notification_type == SUBSCRIPTION_REVOKED
            store_sub: StoreSubscription | None = None
            try:
                body_v2, raw = await validator.subscription_v2(n.purchase_token, "message.data")
                store_sub = validator.subscription_of(body_v2, raw, n.purchase_token)
            except (InvalidArgument, FailedPrecondition):
                # Google no longer knows the token (or lists nothing to act on): only a voided
                # subscription is acted on then (as gone); otherwise acknowledged, nothing changes.
                if not revoked:
                    log.info("subscription notification without a subscription", title=title.name)
                    return
            async with self._db.transaction() as tx:
                now = now_ms()
                if not await self._store.claim_notification(tx, title.id, "google", n.id, now):
                    return
                ids = set(await self._store.subscription_ids_by_ref(tx, title.id, "google", n.purchase_token))
                if store_sub is not None:
                    ids.add(store_sub.original_transaction_id)
                if n.order_id:
                    ids.add(order_root(n.order_id))
                for otid in sorted(ids):
                    s: Subscription | None = None
                    if revoked:
                        s = await self._end_subscription(
                            tx, title.id, "google", otid, store_sub.environment if store_sub else None,
                            payload_text, now, refund_time=now,
                            expiry=store_sub.expiry_time if store_sub else None,
                        )  # fmt: skip
                    elif store_sub is not None:
                        one = replace(store_sub, original_transaction_id=otid)
                        s = await self._renew(
                            tx, title.id, one, store_sub.environment, payload_text, now, exact=True
                        )
                    if s is not None:
                        fired.append(("subscription_notification_google", s))
        await self._fire(title.id, fired, payload_text)

    async def _google_voided(self, validator: GoogleValidator, product_id: str, token: str) -> bool:
        """Whether Google Play confirms the purchase voided: gone, or canceled."""
        from overworld.purchases.validators.google import PURCHASED, Receipt

        try:
            body, _ = await validator.product(Receipt(product_id, token), "message.data")
        except InvalidArgument:
            return True  # Google no longer knows the token
        return bool(body.get("purchaseState", PURCHASED) != PURCHASED)

    async def _refund(
        self, tx: Tx, title_id: str, store: str, transaction_id: str, environment: str, when: int, now: int
    ) -> Purchase | None:
        """Mark a recorded purchase refunded and take back its grant, once."""
        row = await self._store.purchase(tx, title_id, store, transaction_id, lock=True)
        if row is None or row["environment"] != environment:
            return None
        if int(row["refund_time"]):
            return None
        await self._store.refund_purchase(tx, title_id, store, transaction_id, when, now)
        await self._grants.revoke(tx, _grant(title_id, row["user_id"], row, transaction_id))
        return replace(purchase_of(row), refund_time=when, update_time=now)

    async def _end_subscription(
        self, tx: Tx, title_id: str, store: str, otid: str, environment: str | None, notification: str,
        now: int, *, refund_time: int, expiry: int | None = None,
    ) -> Subscription | None:  # fmt: skip
        """Mark a recorded subscription refunded, once (`environment` None: whichever it is)."""
        row = await self._store.subscription(tx, title_id, store, otid, lock=True)
        if row is None or environment not in (None, row["environment"]) or int(row["refund_time"]):
            return None
        values: dict[str, Any] = {
            "refund_time": refund_time,
            "provider_notification": notification,
            "update_time": now,
        }
        if expiry is not None:
            values["expiry_time"] = expiry
        await self._store.update_subscription(tx, title_id, store, otid, **values)
        return subscription_of(await self._store.subscription(tx, title_id, store, otid), now)

    async def _renew(
        self, tx: Tx, title_id: str, s: StoreSubscription, environment: str, notification: str, now: int,
        *, ended: bool = False, exact: bool = False,
    ) -> Subscription | None:  # fmt: skip
        """A renewal extends the expiry (a late, out-of-order one does not shorten it); an expiry
        notification sets it no later than the store says; `exact`: the store's current state."""
        row = await self._store.subscription(tx, title_id, s.store, s.original_transaction_id, lock=True)
        if row is None or row["environment"] != environment:
            return None
        current = int(row["expiry_time"])
        if exact:
            expiry = s.expiry_time
        elif ended:
            expiry = min(current, s.expiry_time) if current else s.expiry_time
        else:
            expiry = max(current, s.expiry_time)
        await self._store.update_subscription(
            tx, title_id, s.store, s.original_transaction_id, expiry_time=expiry, product_id=s.product_id,
            provider_response=s.provider_response, provider_notification=notification, update_time=now,
        )  # fmt: skip
        return subscription_of(
            await self._store.subscription(tx, title_id, s.store, s.original_transaction_id), now
        )

    async def _fire(self, title_id: str, fired: list[tuple[str, Any]], payload: str) -> None:
        """After the commit: the caches drop the players whose grants a notification may have
        taken back, then the title's notification hooks run; their errors are logged."""
        users = sorted({record.user_id for _, record in fired})
        if users:
            await self._grants.committed(title_id, users)
        for kind, record in fired:
            hook = self.notification_hooks.get((title_id, kind))
            if hook is None:
                continue
            ctx = EventContext(
                title_id=title_id,
                title_name=self._title_name(title_id),
                user_id=record.user_id,
                node=self._node,
            )
            try:
                result = hook.fn(ctx, record, payload)
                if inspect.isawaitable(result):
                    await _within(result, self._hook_timeout)
            except Exception:
                log.exception("purchase notification hook failed", kind=kind, module=hook.module)

    # -- account deletion -------------------------------------------------------------------------

    async def delete_user(self, tx: Tx, title_id: str, user_id: str) -> None:
        """A deletion step (`accounts.on_delete`): the user's purchases and subscriptions stay
        recorded (so their receipts cannot be validated again for another account), owned by the
        system user."""
        await self._store.disown(tx, title_id, user_id, SYSTEM_USER, now_ms())


async def _within(result: Awaitable[Any], limit: float) -> None:
    async with asyncio.timeout(limit):
        await result


def _receipt(value: Any, field: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgument(f"{field}: must be a non-empty string.")
    if len(value) > 1_000_000:
        raise InvalidArgument(f"{field}: too long.")


def _user_id(value: Any) -> str:
    parsed = parse_uuid(value) if isinstance(value, str) else None
    if parsed is None:
        raise InvalidArgument("user_id: must be a user ID (a UUID).")
    return str(parsed)


def _limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
        raise InvalidArgument("limit: must be an integer from 1 to 100.")
    return limit


def _after(cursor: str, user_id: str) -> tuple[int, str, str] | None:
    if not cursor:
        return None
    owner, time_, store, tid = cursors.decode(cursor, (str, int, str, str), BAD_CURSOR)
    if owner != user_id:
        raise InvalidArgument(BAD_CURSOR)
    return int(time_), str(store), str(tid)


def _check_environment(environment: str, accepted: Sequence[str]) -> None:
    if environment != "unknown" and environment not in accepted:
        raise FailedPrecondition(f"{environment.capitalize()} purchases are not accepted for this title.")


def _grant(title_id: str, user_id: str, p: StorePurchase | Row, tid: str) -> ProductGrant:
    """The grant of a store transaction (`p`: a StorePurchase or a purchases row)."""
    if isinstance(p, StorePurchase):
        product_id, store, environment, quantity = p.product_id, p.store, p.environment, p.quantity
    else:
        product_id, store, environment, quantity = (
            p["product_id"],
            p["store"],
            p["environment"],
            p["quantity"],
        )
    return ProductGrant(
        title_id=title_id, user_id=user_id, product_id=product_id, store=store,
        transaction_id=tid, environment=environment, quantity=int(quantity),
    )  # fmt: skip


def _unrecorded(user_id: str, p: StorePurchase) -> Purchase:
    return Purchase(
        user_id=user_id, product_id=p.product_id, transaction_id=p.transaction_id, store=p.store,
        purchase_time=p.purchase_time, create_time=0, update_time=0, refund_time=p.refund_time,
        provider_response=p.provider_response, environment=p.environment, seen_before=False,
    )  # fmt: skip


def _subscription(user_id: str, s: StoreSubscription, created: int, now: int) -> Subscription:
    return Subscription(
        user_id=user_id, product_id=s.product_id, original_transaction_id=s.original_transaction_id,
        store=s.store, purchase_time=s.purchase_time, create_time=created, update_time=created,
        environment=s.environment, expiry_time=s.expiry_time, refund_time=s.refund_time,
        provider_response=s.provider_response, active=s.expiry_time > now and not s.refund_time,
    )  # fmt: skip

"""Data protection (docs/data-protection.md): a player's data exported as a ZIP of JSON files,
an account erased with a report and a tombstone, consents recorded, and each title's retention
policy applied on schedule, once per cluster."""

from __future__ import annotations

import hashlib
import hmac
import io
import time
import uuid
import zipfile
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from uuid_utils import uuid7

from overworld.accounts.service import AccountService
from overworld.clock import now_ms, rfc3339
from overworld.db import Database, Tx
from overworld.errors import InvalidArgument, NotFound, PermissionDenied
from overworld.ops import metrics
from overworld.privacy import domains
from overworld.privacy.tombstones import TombstoneLookups
from overworld.protocol.streams import notifications_stream
from overworld.realtime.hub import Hub
from overworld.storage.models import SYSTEM_USER
from overworld.subsystems.counters import Counters
from overworld.subsystems.scheduler import Scheduler, parse_cron
from overworld.titles.models import Title
from overworld.titles.service import TitleService

log = structlog.get_logger(__name__)
NOT_FOUND = "User account not found."
ERASED = "This account was erased; its device, custom ID or email cannot create an account yet."
FORMAT = 1  # the export's format version (manifest.json)
DAY_MS = 86_400_000
MAX_NAME = 128
MAX_VERSION = 64
RETENTION_JOB = "overworld:retention"


@dataclass(frozen=True, slots=True)
class Consent:
    policy: str
    version: str
    purpose: str
    granted: bool
    create_time: int


# How long a store server notification's id is kept to recognise its redelivery (purge).
STORE_NOTIFICATION_DAYS = 30


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Days to keep each kind of data (0: forever)."""

    chat_days: int
    notification_days: int
    ledger_metadata_days: int


def digest(title: Title, kind: str, value: str) -> str:
    """A keyed digest of an identifier (HMAC-SHA-256 with the title's token secret): the same
    value gives the same digest in its title, and the value cannot be read back from it (nor
    guessed from a list of emails without the secret)."""
    return hmac.new(title.token_secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def _name(field: str, value: str, most: int, empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not empty) or len(value) > most:
        raise InvalidArgument(f"Invalid {field}: 1-{most} characters expected." if not empty else
                              f"Invalid {field}: at most {most} characters expected.")  # fmt: skip
    if any(ord(c) < 32 for c in value):
        raise InvalidArgument(f"Invalid {field}: control characters are not allowed.")
    return value


def _days(field: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 36_500:
        raise InvalidArgument(f"Invalid {field}: a number of days from 0 (keep forever) to 36500 expected.")
    return value


class PrivacyService:
    def __init__(
        self,
        db: Database,
        titles: TitleService,
        accounts: AccountService,
        hub: Hub,
        counters: Counters,
        scheduler: Scheduler,
        *,
        defaults: RetentionPolicy,
        tombstone_days: int = 30,
        schedule: str = "23 * * * *",
        batch: int = 1000,
    ) -> None:
        self._db = db
        self._titles = titles
        self._accounts = accounts
        self._hub = hub
        self._counters = counters
        self._scheduler = scheduler
        self.defaults = defaults
        self._tombstone_days = tombstone_days
        self._schedule = parse_cron(schedule)
        self._batch = batch
        self._tombstones = TombstoneLookups(db)

    def start(self) -> None:
        """Arm the retention job: every node adds it, the scheduler runs each fire time on one."""
        self._scheduler.add(RETENTION_JOB, self._schedule, self._retention_job)

    # -- export -----------------------------------------------------------------------------------

    async def export(self, title: Title, user_id: str) -> dict[str, bytes]:
        """Everything held about the user, one JSON file per domain and a manifest."""
        if not await self._exists(title.id, user_id):
            raise NotFound(NOT_FOUND)
        files: dict[str, bytes] = {}
        counts: dict[str, int] = {}
        for domain in domains.DOMAINS:
            document = await domain.gather(self._db, title.id, user_id)
            if domain.name == "account" and document:
                await self._reveal_identifiers(title, user_id, document)
            files[f"{domain.name}.json"] = orjson.dumps(document, option=orjson.OPT_INDENT_2)
            counts[domain.name] = sum(len(v) for v in document.values() if isinstance(v, list))
        manifest = {
            "format": FORMAT,
            "title": title.name,
            "user_id": user_id,
            "export_time": rfc3339(now_ms()),
            "files": [{"name": name, "items": counts[name.removesuffix(".json")]} for name in files],
            "not_included": {
                "live_state": "presences, parties and matchmaker tickets exist only while connected",
                "password": "only whether one is set; the hash is not exported",  # nosec B105 # a sentence of the export's manifest, not a password
            },
        }
        metrics.PRIVACY_OPERATIONS.labels("export").inc()
        return {"manifest.json": orjson.dumps(manifest, option=orjson.OPT_INDENT_2), **files}

    async def _reveal_identifiers(self, title: Title, user_id: str, document: dict[str, Any]) -> None:
        """The account's email, custom id and device ids as the player gave them: the columns
        hold blind indexes when the title encrypts them (docs/data-protection.md)."""
        ids = await self._accounts.identifiers(self._db, title, user_id)
        if ids is None:
            return
        document["email"] = ids.email or None
        document["custom_id"] = ids.custom_id or None
        document["devices"] = [
            {"id": device, "vars": domains.json_value(ids.device_vars.get(device)) or {}}
            for device in ids.devices
        ]

    async def export_zip(self, title: Title, user_id: str) -> bytes:
        files = await self.export(title, user_id)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            stamp = time.gmtime()[:6]
            for name, data in files.items():
                info = zipfile.ZipInfo(name, date_time=stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, data)
        return out.getvalue()

    async def _exists(self, title_id: str, user_id: str) -> bool:
        try:
            uuid.UUID(user_id)
        except (ValueError, AttributeError, TypeError):
            raise InvalidArgument("Invalid user ID.") from None
        found = await self._db.fetchval(
            "SELECT 1 FROM users WHERE title_id = $1 AND id = $2", title_id, user_id
        )
        return found is not None

    # -- erasure ----------------------------------------------------------------------------------

    async def erase(self, title: Title, user_id: str) -> dict[str, Any]:
        """Remove every trace of the user, keep what must be kept without its identity, leave a
        tombstone; returns what was removed (rows per domain and table)."""
        if not await self._exists(title.id, user_id):
            raise NotFound(NOT_FOUND)
        report: dict[str, Any] = {}
        now = now_ms()
        username = ""
        email = ""

        async def first(tx: Tx) -> None:
            nonlocal username, email
            username = await tx.fetchval(
                "SELECT username FROM users WHERE title_id = $1 AND id = $2", title.id, user_id
            )
            # In plaintext even where the title encrypts them (the columns hold blind indexes).
            ids = await self._accounts.identifiers(tx, title, user_id)
            if username is None or ids is None:  # held by the deletion's lock: cannot be gone here
                raise NotFound(NOT_FOUND)
            email = ids.email
            report["anonymised"] = await self._anonymise(tx, title.id, user_id, now)
            # What still names the user is removed, by this transaction and the deletion's steps.
            report["removed"] = await domains.count_rows(tx, title.id, user_id)
            await tx.execute("DELETE FROM consents WHERE title_id = $1 AND user_id = $2", title.id, user_id)
            await tx.execute(
                "DELETE FROM revoked_tokens WHERE title_id = $1 AND user_id = $2", title.id, user_id
            )
            marks = [("user", user_id)] + [("device", d) for d in ids.devices]
            if ids.custom_id:
                marks.append(("custom", ids.custom_id))
            if ids.email:
                marks.append(("email", ids.email))
            expire = now + self._tombstone_days * DAY_MS if self._tombstone_days else 0
            for kind, value in marks:
                await tx.execute(
                    "INSERT INTO erasures (title_id, digest, kind, erase_time, expire_time)"
                    " VALUES ($1, $2, $3, $4, $5)"
                    " ON CONFLICT (title_id, digest) DO UPDATE SET erase_time = excluded.erase_time,"
                    " expire_time = excluded.expire_time",
                    title.id, digest(title, kind, value), kind, now, expire,
                )  # fmt: skip
            report["tombstones"] = len(marks)

        # Counted before the deletion: revoking the sessions everywhere (one of its steps) closes
        # the player's sockets too, and on a cluster node that can be over before it returns.
        sockets = self._hub.tracker.count(notifications_stream(title.id, user_id))
        # The deletion's own steps (every domain's rows, rank indexes, edge counts, the account
        # caches of every node, the sessions everywhere) run after `first`, in its transaction.
        await self._accounts.delete_account(title, user_id, first)
        self._hub.disconnect_user(title.id, user_id, "Account erased")
        report["sockets_closed"] = sockets
        # Login lockout counters naming the account (per-address ones expire with their window).
        keys = [self._accounts.lockout_counter(title, f"username:{username}")] + (
            [self._accounts.lockout_counter(title, email)] if email else []
        )
        for key in keys:
            await self._counters.reset(key)
        report["user_id"] = user_id
        report["erase_time"] = rfc3339(now)
        metrics.PRIVACY_OPERATIONS.labels("erase").inc()
        log.info("account erased", title=title.name, user_id=user_id,
                 rows=sum(sum(t.values()) for t in report["removed"].values()))  # fmt: skip
        return report

    async def _anonymise(self, tx: Tx, title_id: str, user_id: str, now: int) -> dict[str, int]:
        """What is kept without the user's identity: the wallet ledger's amounts (under an id
        unrelated to anyone, metadata emptied), the store's purchase and real-money grant records
        (under the same id, what was paid and granted kept), notifications the user sent to others
        and groups the user created (the sender and creator blanked)."""
        anonymous = str(uuid.uuid4())
        ledger = await tx.execute(
            "UPDATE wallet_ledger SET user_id = $3, metadata = '{}', update_time = $4"
            " WHERE title_id = $1 AND user_id = $2",
            title_id, user_id, anonymous, now,
        )  # fmt: skip
        purchases = await tx.execute(
            "UPDATE store_purchases SET user_id = $3 WHERE title_id = $1 AND user_id = $2",
            title_id, user_id, anonymous,
        )  # fmt: skip
        grants = await tx.execute(
            "UPDATE store_product_grants SET user_id = $3 WHERE title_id = $1 AND user_id = $2",
            title_id, user_id, anonymous,
        )  # fmt: skip
        # Real-money purchases and subscriptions stay recorded (their receipts must never be
        # validated again by another account), owned by no one and without the store's answer.
        iap = 0
        for table in ("purchases", "subscriptions"):
            iap += await tx.execute(
                f"UPDATE {table} SET user_id = $3, provider_response = '{{}}', update_time = $4"  # nosec B608 # one of the two tables above; values bound as $n
                " WHERE title_id = $1 AND user_id = $2",
                title_id, user_id, SYSTEM_USER, now,
            )  # fmt: skip
        sent = await tx.execute(
            "UPDATE notifications SET sender_id = '' WHERE title_id = $1 AND sender_id = $2"
            " AND user_id <> $2",
            title_id,
            user_id,
        )
        created = await tx.execute(
            "UPDATE groups SET creator_id = '' WHERE title_id = $1 AND creator_id = $2", title_id, user_id
        )
        return {
            "wallet_ledger": ledger,
            "store_purchases": purchases,
            "store_product_grants": grants,
            "purchases": iap,
            "notifications_sent": sent,
            "groups_created": created,
        }

    async def check_signup(
        self, title: Title, device_id: str | None, custom_id: str | None, email: str | None
    ) -> None:
        """A sign-up guard (`accounts.guard_signups`): an identifier of an erased account cannot
        create an account while its tombstone lasts (a stale client would bring the account back
        under a new id without the player asking). The checks of one turn of the event loop share
        one query (privacy/tombstones.py)."""
        marks = [(k, v) for k, v in (("device", device_id), ("custom", custom_id), ("email", email)) if v]
        if not marks:
            return
        now = now_ms()
        found = await self._tombstones.find(title.id, [digest(title, kind, value) for kind, value in marks])
        if any(expire == 0 or expire > now for expire in found.values()):
            raise PermissionDenied(ERASED)

    async def erased(self, title: Title, user_id: str) -> bool:
        """Whether the user id is an erased account's (its tombstone still kept)."""
        found = await self._db.fetchval(
            "SELECT 1 FROM erasures WHERE title_id = $1 AND digest = $2",
            title.id,
            digest(title, "user", user_id),
        )
        return found is not None

    # -- consent ----------------------------------------------------------------------------------

    async def record_consent(
        self, title: Title, user_id: str, policy: str, version: str, purpose: str, granted: bool
    ) -> Consent:
        policy = _name("policy", policy, MAX_NAME)
        version = _name("version", version, MAX_VERSION)
        purpose = _name("purpose", purpose, MAX_NAME, empty=True)
        if not isinstance(granted, bool):
            raise InvalidArgument("Invalid granted: true or false expected.")
        now = now_ms()
        async with self._db.transaction() as tx:
            # The user's row held: a consent is never recorded for an account deleted meanwhile.
            held = await tx.fetchval(
                f"SELECT 1 FROM users WHERE title_id = $1 AND id = $2{self._db.sql.share_rows}",  # nosec B608 # placeholders and the dialect's lock clause only; values bound as $n
                title.id,
                user_id,
            )
            if held is None:
                raise NotFound(NOT_FOUND)
            await tx.execute(
                "INSERT INTO consents (title_id, user_id, id, policy, version, purpose, granted, create_time)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                title.id, user_id, str(uuid7()), policy, version, purpose, granted, now,
            )  # fmt: skip
        return Consent(policy, version, purpose, granted, now)

    async def list_consents(self, title: Title, user_id: str, current: bool = False) -> list[Consent]:
        """The user's consent records, oldest first; `current`: only the newest per policy and purpose."""
        rows = await self._db.fetch(
            "SELECT policy, version, purpose, granted, create_time FROM consents WHERE title_id = $1"
            " AND user_id = $2 ORDER BY id",
            title.id,
            user_id,
        )
        records = [Consent(r["policy"], r["version"], r["purpose"], bool(r["granted"]), int(r["create_time"]))
                   for r in rows]  # fmt: skip
        if current:
            latest = {(c.policy, c.purpose): c for c in records}
            records = list(latest.values())
        return records

    # -- retention --------------------------------------------------------------------------------

    async def policy(self, title_id: str) -> RetentionPolicy:
        row = await self._db.fetchrow(
            "SELECT chat_days, notification_days, ledger_metadata_days FROM retention_policies"
            " WHERE title_id = $1",
            title_id,
        )
        d = self.defaults
        if row is None:
            return d
        return RetentionPolicy(
            d.chat_days if row["chat_days"] is None else int(row["chat_days"]),
            d.notification_days if row["notification_days"] is None else int(row["notification_days"]),
            d.ledger_metadata_days
            if row["ledger_metadata_days"] is None
            else int(row["ledger_metadata_days"]),
        )

    async def set_policy(
        self,
        title_id: str,
        chat_days: int | None = None,
        notification_days: int | None = None,
        ledger_metadata_days: int | None = None,
    ) -> RetentionPolicy:
        """Set the title's policy; a value left None takes the setting's default."""
        values = (
            _days("chat_days", chat_days),
            _days("notification_days", notification_days),
            _days("ledger_metadata_days", ledger_metadata_days),
        )
        await self._db.execute(
            "INSERT INTO retention_policies (title_id, chat_days, notification_days, ledger_metadata_days,"
            " update_time) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (title_id) DO UPDATE SET"
            " chat_days = excluded.chat_days, notification_days = excluded.notification_days,"
            " ledger_metadata_days = excluded.ledger_metadata_days, update_time = excluded.update_time",
            title_id, *values, now_ms(),
        )  # fmt: skip
        return await self.policy(title_id)

    async def _retention_job(self, fire_ms: int) -> None:
        await self.purge(fire_ms)

    async def purge(self, now: int) -> dict[str, dict[str, int]]:
        """Apply every title's policy as of `now` (Unix ms), in batches: chat messages and
        notifications older than their days deleted, ledger rows older than theirs lose their
        metadata; expired tombstones removed. Returns the counts per title name."""
        done: dict[str, dict[str, int]] = {}
        for title in self._titles.all():
            p = await self.policy(title.id)
            counts = {"chat_messages": 0, "notifications": 0, "ledger_metadata": 0}
            if p.chat_days:
                counts["chat_messages"] = await self._batched(
                    "DELETE FROM channel_messages WHERE title_id = $1 AND id IN (SELECT id FROM"
                    " channel_messages WHERE title_id = $1 AND create_time < $2 LIMIT $3)",
                    title.id, now - p.chat_days * DAY_MS,
                )  # fmt: skip
            if p.notification_days:
                counts["notifications"] = await self._batched(
                    "DELETE FROM notifications WHERE title_id = $1 AND id IN (SELECT id FROM notifications"
                    " WHERE title_id = $1 AND create_time < $2 LIMIT $3)",
                    title.id, now - p.notification_days * DAY_MS,
                )  # fmt: skip
            if p.ledger_metadata_days:
                counts["ledger_metadata"] = await self._batched(
                    "UPDATE wallet_ledger SET metadata = '{}' WHERE title_id = $1 AND id IN (SELECT id FROM"
                    " wallet_ledger WHERE title_id = $1 AND create_time < $2 AND metadata <> '{}' LIMIT $3)",
                    title.id, now - p.ledger_metadata_days * DAY_MS,
                )  # fmt: skip
            for kind, n in counts.items():
                if n:
                    metrics.RETENTION_PURGED.labels(kind).inc(n)
            if any(counts.values()):
                log.info("retention purged", title=title.name, **counts)
            done[title.name] = counts
        await self._db.execute("DELETE FROM erasures WHERE expire_time > 0 AND expire_time <= $1", now)
        # The stores' notification ids kept so that a redelivery acts once: the stores give up
        # redelivering within days (Apple after 3, Google Pub/Sub after 7 by default).
        forget = now - STORE_NOTIFICATION_DAYS * DAY_MS
        await self._db.execute("DELETE FROM purchase_notifications WHERE create_time < $1", forget)
        return done

    async def _batched(self, sql: str, title_id: str, before: int) -> int:
        total = 0
        while True:
            n = await self._db.execute(sql, title_id, before, self._batch)
            total += n
            if n < self._batch:
                return total

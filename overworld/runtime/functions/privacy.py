"""Data protection functions of server code (`nk.account_export`, `nk.account_erase`,
`nk.consent_record`, `nk.consent_list`, `nk.retention_policy_get`, `nk.retention_policy_set`),
mixed into `ServerApi`; see docs/data-protection.md."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from overworld.clock import rfc3339
from overworld.privacy.service import PrivacyService

if TYPE_CHECKING:
    from overworld.runtime.runtime import Runtime
    from overworld.titles.models import Title


class PrivacyFunctions:
    """`nk.account_export`, `nk.account_erase`, `nk.consent_record`, `nk.consent_list`,
    `nk.retention_policy_get`, `nk.retention_policy_set` (coroutines)."""

    _runtime: Runtime
    _title: Title

    @property
    def _privacy(self) -> PrivacyService:
        return self._runtime.services.privacy

    async def account_export(self, user_id: str, as_zip: bool = True) -> bytes | dict[str, bytes]:
        """Everything the title holds about a user: the ZIP archive's bytes (`as_zip`, the
        default), or its files as a dict of name -> JSON bytes (`manifest.json`, `account.json`,
        ...). NOT_FOUND for an unknown user.

            archive = await nk.account_export(user_id)
        """
        if as_zip:
            return await self._privacy.export_zip(self._title, user_id)
        return await self._privacy.export(self._title, user_id)

    async def account_erase(self, user_id: str) -> dict[str, Any]:
        """Erase a user: every row in every domain removed, the wallet ledger's amounts kept
        without the user's identity, the sockets closed on every node, a tombstone so the
        account's device, custom ID and email cannot sign up again for `erasure_tombstone_days`.
        Returns the report: rows removed per domain and table, rows anonymised. NOT_FOUND for an
        unknown user."""
        return await self._privacy.erase(self._title, user_id)

    async def consent_record(
        self, user_id: str, policy: str, version: str, purpose: str = "", granted: bool = True
    ) -> dict[str, Any]:
        """Record that the user granted (or withdrew, `granted=False`) consent to a policy's
        version for a purpose ("" for the policy itself). Every record is kept, with its time.

            await nk.consent_record(ctx.user_id, "privacy", "2026-11", "analytics", True)
        """
        c = await self._privacy.record_consent(self._title, user_id, policy, version, purpose, granted)
        return {**dataclasses.asdict(c), "create_time": rfc3339(c.create_time)}

    async def consent_list(self, user_id: str, current: bool = False) -> list[dict[str, Any]]:
        """The user's consent records, oldest first; `current`: only the newest per policy and purpose."""
        records = await self._privacy.list_consents(self._title, user_id, current)
        return [{**dataclasses.asdict(c), "create_time": rfc3339(c.create_time)} for c in records]

    async def retention_policy_get(self) -> dict[str, int]:
        """The title's retention policy: days to keep chat messages, notifications and the
        wallet ledger's metadata (0: for ever)."""
        return dataclasses.asdict(await self._privacy.policy(self._title.id))

    async def retention_policy_set(
        self,
        chat_days: int | None = None,
        notification_days: int | None = None,
        ledger_metadata_days: int | None = None,
    ) -> dict[str, int]:
        """Set the title's retention policy (None: the `retention_*_days` setting); returns it.

        await nk.retention_policy_set(chat_days=90, notification_days=30)
        """
        policy = await self._privacy.set_policy(
            self._title.id, chat_days, notification_days, ledger_metadata_days
        )
        return dataclasses.asdict(policy)

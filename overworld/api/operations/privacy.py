"""A player's own data over REST (Overworld's extension, docs/data-protection.md): the export of
everything held about them as a ZIP, and their consent records."""

from __future__ import annotations

import msgspec

from overworld.clock import rfc3339
from overworld.context import CallContext
from overworld.privacy.service import Consent
from overworld.protocol.base import Empty
from overworld.services import Services


class Wire(msgspec.Struct, kw_only=True):
    """Base of this extension's messages (every field is written, defaults too)."""


class ConsentWrite(Wire):
    # Required (checked by the service, which names the field): e.g. "privacy", and its version.
    policy: str = ""
    version: str = ""
    purpose: str = ""  # e.g. "analytics"; "" for the policy as a whole
    granted: bool = True  # false: withdrawn


class ConsentRecord(Wire):
    policy: str
    version: str
    purpose: str
    granted: bool
    create_time: str

    @classmethod
    def of(cls, c: Consent) -> ConsentRecord:
        return cls(
            policy=c.policy, version=c.version, purpose=c.purpose, granted=c.granted,
            create_time=rfc3339(c.create_time),
        )  # fmt: skip


class ListConsentsRequest(Wire):
    current: bool = False  # only the newest record per policy and purpose


class ConsentList(Wire):
    consents: list[ConsentRecord]


async def export_account(node: Services, ctx: CallContext, _: Empty) -> bytes:
    return await node.privacy.export_zip(ctx.title, ctx.user_id)


async def record_consent(node: Services, ctx: CallContext, req: ConsentWrite) -> ConsentRecord:
    c = await node.privacy.record_consent(
        ctx.title, ctx.user_id, req.policy, req.version, req.purpose, req.granted
    )
    return ConsentRecord.of(c)


async def list_consents(node: Services, ctx: CallContext, req: ListConsentsRequest) -> ConsentList:
    records = await node.privacy.list_consents(ctx.title, ctx.user_id, req.current)
    return ConsentList(consents=[ConsentRecord.of(c) for c in records])

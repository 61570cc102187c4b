"""The party listing's rules that need a node that is gone: its parties are left out at once, and
removed from the index once this node has run long enough to know its live peers."""

from __future__ import annotations

import asyncio
import time

import pytest

from overworld.node import Node
from overworld.parties.index import PartyEntry
from overworld.parties.service import PartyService

pytestmark = pytest.mark.anyio


async def test_parties_of_a_node_that_is_gone_are_not_listed_and_are_forgotten(node: Node):
    title_id = node.default_title.id
    index = node.parties._index
    gone = PartyEntry(
        title_id, "8d7f0a44-3f3a-4a43-9b52-6f1d1c4f2a11.gone", "gone", True, False, 4, "{}", time.time()
    )
    await index.put(gone)
    assert [e.party_id for e in await index.entries(title_id)] == [gone.party_id]
    service: PartyService = node.parties
    # Within the grace period (this node may not have heard from every peer yet): left out only.
    service._started = time.monotonic()
    assert await service.list_parties(title_id, None, None, None, None) == ([], "")
    await asyncio.sleep(0.05)
    assert [e.party_id for e in await index.entries(title_id)] == [gone.party_id]
    # After it: left out and removed.
    service._started = time.monotonic() - 3600
    assert await service.list_parties(title_id, None, None, None, None) == ([], "")
    for _ in range(50):
        if not await index.entries(title_id):
            break
        await asyncio.sleep(0.01)
    assert await index.entries(title_id) == []

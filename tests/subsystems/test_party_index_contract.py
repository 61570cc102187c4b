"""The PartyIndex contract (overworld/parties/index.py), run against the embedded index and the
Redis one.

A deployment is a list of nodes' indexes: embedded, the one index (there is no other node); on
Redis, two `RedisPartyIndex`es on one prefix, each with its own connection. A party's home node
puts and removes its entry; every node lists every entry of a title.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest

from overworld.parties.index import EmbeddedPartyIndex, PartyEntry, PartyIndex
from tests.subsystems.support import IMPLEMENTATIONS, RedisSpace, deployed

pytestmark = pytest.mark.anyio
TITLE, OTHER_TITLE = "title-1", "title-2"


class Deployment:
    def __init__(self, space: RedisSpace | None) -> None:
        self.space = space
        self.prefix = space.prefix() if space is not None else ""
        self.started: list[PartyIndex] = []

    async def nodes(self, count: int = 2) -> list[PartyIndex]:
        if self.space is None:
            indexes: list[PartyIndex] = [EmbeddedPartyIndex()]
        else:
            from overworld.parties.redis_index import RedisPartyIndex

            indexes = [RedisPartyIndex(self.space.client(), self.prefix) for _ in range(count)]
        for index in indexes:
            await index.start()
        self.started.extend(indexes)
        return indexes

    async def close(self) -> None:
        for index in self.started:
            await index.close()


@pytest.fixture(params=IMPLEMENTATIONS)
async def deployment(request: pytest.FixtureRequest) -> AsyncIterator[Deployment]:
    async with deployed(request, Deployment, "partytest") as running:
        yield running


def entry(node: str = "node-0", title_id: str = TITLE, **changes: object) -> PartyEntry:
    fields: dict[str, object] = {
        "title_id": title_id, "party_id": f"{uuid.uuid4()}.{node}", "node": node, "open": True,
        "hidden": False, "max_size": 4, "label": '{"mode": "duel"}', "created": time.time(), **changes,
    }  # fmt: skip
    return PartyEntry(**fields)  # type: ignore[arg-type]


def listed(entries: list[PartyEntry]) -> dict[str, dict[str, object]]:
    return {e.party_id: e.as_dict() for e in entries}


async def test_every_node_lists_the_entries_every_node_put(deployment):
    nodes = await deployment.nodes()
    a, b = entry("node-0"), entry("node-1", hidden=True, open=False, label="{}")
    await nodes[0].put(a)
    await nodes[-1].put(b)
    for index in nodes:
        assert listed(await index.entries(TITLE)) == listed([a, b])
        assert await index.entries(OTHER_TITLE) == []


async def test_put_replaces_and_remove_forgets(deployment):
    nodes = await deployment.nodes()
    a = entry()
    await nodes[0].put(a)
    changed = PartyEntry(TITLE, a.party_id, a.node, False, False, 8, '{"ids": ["x", "y"]}', a.created)
    await nodes[0].put(changed)
    for index in nodes:
        (got,) = await index.entries(TITLE)
        assert got.as_dict() == changed.as_dict()
        assert got.fields() == ({"ids": ("x", "y")}, {})  # the label as query fields
    await nodes[0].remove(TITLE, a.party_id)
    await nodes[0].remove(TITLE, a.party_id)  # already gone: nothing happens
    await nodes[0].remove(OTHER_TITLE, "nope")
    for index in nodes:
        assert await index.entries(TITLE) == []


async def test_titles_are_apart(deployment):
    nodes = await deployment.nodes()
    mine, theirs = entry(title_id=TITLE), entry(title_id=OTHER_TITLE)
    await nodes[0].put(mine)
    await nodes[-1].put(theirs)
    await nodes[-1].remove(TITLE, theirs.party_id)  # another title's id: not removed from it
    assert listed(await nodes[-1].entries(TITLE)) == listed([mine])
    assert listed(await nodes[0].entries(OTHER_TITLE)) == listed([theirs])

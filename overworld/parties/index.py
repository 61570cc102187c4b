"""Where parties are listed from: the `PartyIndex` interface and its embedded implementation.

A party's home node decides everything about it (`overworld.parties.service`); the index only
makes its listing entry (id, home node, open, hidden, size limit, label, creation time) visible
to every node, for `ListParties`. The home node puts the entry when the party is created or
updated and removes it when the party ends. Embedded, the index is a dict in this process; on a
cluster (`overworld.parties.redis_index`) it is a Redis hash per title that every node reads. The
home node is in each entry, so a listing can leave out the parties of a node that died without
removing them (`PartyService` removes them later).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from overworld.query import Numbers, Strings, label_fields


@dataclass(slots=True)
class PartyEntry:
    title_id: str
    party_id: str  # "<uuid>.<home node>"
    node: str  # the home node
    open: bool
    hidden: bool
    max_size: int
    label: str  # a JSON object ("{}" when none was given)
    created: float  # Unix seconds
    _doc: tuple[Strings, Numbers] | None = field(default=None, repr=False, compare=False)

    def fields(self) -> tuple[Strings, Numbers]:
        """The label's fields for queries (`overworld.query.label_fields`), computed once."""
        if self._doc is None:
            self._doc = label_fields(self.label)
        return self._doc

    def as_dict(self) -> dict[str, Any]:
        return {
            "t": self.title_id, "p": self.party_id, "n": self.node, "o": self.open, "h": self.hidden,
            "m": self.max_size, "l": self.label, "c": self.created,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PartyEntry:
        return cls(d["t"], d["p"], d["n"], bool(d["o"]), bool(d["h"]), int(d["m"]), d["l"], float(d["c"]))


class PartyIndex(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...

    async def put(self, entry: PartyEntry) -> None:
        """Add the entry, or replace the one with the same title and party id."""
        ...

    async def remove(self, title_id: str, party_id: str) -> None:
        """Remove a party's entry (nothing happens if there is none)."""
        ...

    async def entries(self, title_id: str) -> list[PartyEntry]:
        """Every entry of the title, from every node, in no particular order."""
        ...


class EmbeddedPartyIndex:
    """The entries in this process: there is no other node."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, PartyEntry]] = {}  # title id -> party id -> entry

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        self._entries.clear()

    async def put(self, entry: PartyEntry) -> None:
        self._entries.setdefault(entry.title_id, {})[entry.party_id] = entry

    async def remove(self, title_id: str, party_id: str) -> None:
        parties = self._entries.get(title_id)
        if parties is not None:
            parties.pop(party_id, None)
            if not parties:
                del self._entries[title_id]

    async def entries(self, title_id: str) -> list[PartyEntry]:
        return list(self._entries.get(title_id, {}).values())

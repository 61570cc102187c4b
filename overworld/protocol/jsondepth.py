"""One nesting limit for every JSON document the server parses: REST bodies, socket frames,
and the JSON strings clients and server code hand over (metadata, storage values, payloads).

Parsers recurse (msgspec up to Python's recursion limit, then RecursionError; orjson refuses
past 1024 levels when reading but 255 when writing), so a document a few KB long could make one
of them fail where no error was expected. `MAX_JSON_DEPTH` is well inside all of them and far
beyond what a game's data needs; a deeper document is refused as INVALID_ARGUMENT naming the
field, before any parser sees it.
"""

from __future__ import annotations

import operator
import re
from itertools import accumulate, repeat

from overworld.errors import InvalidArgument

MAX_JSON_DEPTH = 64

_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)  # a JSON string, escapes included
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")  # an opening one is 2 - 1, a closing 0 - 1


def too_deep(data: str | bytes | bytearray | memoryview, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text `data` nests arrays and objects deeper than `limit`. Cheap when it
    holds no more than `limit` brackets (two C-level counts), which is nearly always; otherwise
    strings are cut out and the depth summed up without a Python-level loop."""
    if isinstance(data, str):
        if data.count("[") + data.count("{") <= limit:
            return False
        raw = data.encode()
    else:
        raw = data if type(data) is bytes else bytes(data)
        if raw.count(b"[") + raw.count(b"{") <= limit:
            return False
    steps = _STRINGS.sub(b"", raw).translate(None, _NOT_BRACKETS).translate(_STEPS)
    return max(accumulate(map(operator.sub, steps, repeat(1))), default=0) > limit


def check_depth(data: str | bytes | bytearray | memoryview, field: str) -> None:
    """InvalidArgument naming `field` when `data` nests deeper than MAX_JSON_DEPTH."""
    if too_deep(data):
        raise InvalidArgument(f"{field}: JSON nested deeper than {MAX_JSON_DEPTH} levels.")

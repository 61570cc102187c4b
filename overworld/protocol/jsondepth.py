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

import orjson

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


_AFTER_KEY = re.compile(rb'\s*:\s*("(?:[^"\\]|\\.)*")', re.DOTALL)


def top_level_string(data: str | bytes | bytearray | memoryview, key: str) -> str:
    """The string value of `key` in the JSON object `data`, at its top level, even where the whole
    document cannot be parsed (too deep, cut short, malformed further on); "" when there is none.
    For error replies (the `cid` of a frame that is refused): scans strings and brackets only."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    wanted = b'"' + key.encode() + b'"'
    depth, last = 0, 0
    for match in _STRINGS.finditer(raw):
        between = raw[last : match.start()]
        depth += between.count(b"{") + between.count(b"[") - between.count(b"}") - between.count(b"]")
        last = match.end()
        if depth == 1 and match.group() == wanted:
            value = _AFTER_KEY.match(raw, last)
            if value is not None:
                try:
                    found = orjson.loads(value.group(1))
                except orjson.JSONDecodeError:
                    return ""
                return found if isinstance(found, str) else ""
    return ""

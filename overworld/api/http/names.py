"""Request field names in lowerCamelCase over REST, as Nakama's gateway accepts them
(overworld.protocol.camel): in bodies and in query parameters. Responses keep the proto names.

- Bodies: the fast path decodes with `camel.Renamer` (`fastpath.decode_body`); the framework's
  routes get `CamelRequest` as their request class, whose `json()` maps the body's JSON names back
  to the proto names of the route's `data` type before Litestar converts it.
- Query parameters: `QueryNames.rename` rewrites the query string once, in the edge, before either
  path reads it. The names are the JSON names of the request messages' fields of every REST call
  (api/calls.py). RPCs (`/v2/rpc/`) are left alone: their query is handed to server code as sent,
  and Nakama's RPC handler reads `http_key`, `unwrap` and `payload` by those names only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from litestar import Request

from overworld.protocol.camel import Renamer, query_names


class CamelRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        value = await super().json()
        field = self.route_handler.parsed_data_field
        if field is None:
            return value
        rename = Renamer.of(field.annotation).rename
        if rename is None:
            return value
        renamed = rename(value)
        self._json = self._connection_state.json = renamed
        return renamed


class QueryNames:
    """Rewrites query parameter names from their JSON names to the proto names."""

    def __init__(self, kinds: Iterable[Any]) -> None:
        self.names = query_names(kinds)
        alternatives = b"|".join(re.escape(n.encode()) for n in sorted(self.names, key=len, reverse=True))
        self.pattern = re.compile(b"(?:^|(?<=&))(" + alternatives + b")(?==|&|$)")
        self.caseless = any(n == n.lower() for n in self.names)

    def rename(self, query: bytes) -> bytes:
        """`query` with its JSON names replaced (the same object if it has none)."""
        if (query.islower() and not self.caseless) or not self.pattern.search(query):
            return query
        return self.pattern.sub(lambda m: self.names[m.group(1).decode()].encode(), query)

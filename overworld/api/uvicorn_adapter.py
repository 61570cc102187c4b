"""Running on uvicorn: the direct write paths where the running uvicorn is one they were tested
with, plain ASGI sends everywhere else.

`overworld serve` (and the tests' live servers) call `enable(edge)` and pass what it returns as
`uvicorn.Config(ws=...)`. Inside `TESTED` it imports `overworld.api.uvicorn_direct`, the one
module that touches uvicorn's internals, gives the edge its one-write HTTP responses and returns
the WebSocket protocol that hands sockets a direct transport. Outside it logs one info line and
returns a stock WebSocket protocol: the edge answers through ASGI `send`, sockets send ASGI
`websocket.send` messages; everything works, only without the direct writes.

This module itself imports uvicorn only when `enable` runs, and only its public `__version__`
and `uvicorn.config`.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Literal

import structlog

if TYPE_CHECKING:
    from overworld.api.http.edge import Edge

log = structlog.get_logger(__name__)

# The uvicorn releases the direct paths were tested with, as (major, minor): from the first, up to
# but not including the second. Keep in step with requirements.lock and pyproject.toml's bounds.
TESTED = ((0, 54), (0, 55))
_RELEASE = re.compile(r"(\d+)\.(\d+)")

WsProtocol = type[asyncio.Protocol] | Literal["auto", "websockets-sansio"]


def supported(version: str) -> bool:
    """True if `version` (a uvicorn version string) is within `TESTED`."""
    match = _RELEASE.match(version)
    if match is None:
        return False
    release = (int(match[1]), int(match[2]))
    return TESTED[0] <= release < TESTED[1]


def plain_ws() -> WsProtocol:
    """uvicorn's own sans-I/O WebSocket protocol (`websockets-sansio`), or its default on a
    uvicorn that has none."""
    from uvicorn import config

    return "websockets-sansio" if "websockets-sansio" in getattr(config, "WS_PROTOCOLS", {}) else "auto"


def enable(edge: Edge, version: str | None = None) -> WsProtocol:
    """Turn the direct write paths on for `edge` if the running uvicorn (or `version`, to try
    another) is within `TESTED`; returns the WebSocket protocol to give `uvicorn.Config(ws=...)`."""
    import uvicorn

    running = uvicorn.__version__ if version is None else version
    if not supported(running):
        tested = f">={TESTED[0][0]}.{TESTED[0][1]},<{TESTED[1][0]}.{TESTED[1][1]}"
        log.info(
            "direct writes off: this uvicorn version is not one they were tested with; "
            "responses and socket frames go through plain ASGI sends",
            uvicorn=running,
            tested=tested,
        )
        return plain_ws()
    from overworld.api import uvicorn_direct

    edge.direct_respond = uvicorn_direct.respond
    return uvicorn_direct.OverworldWebSocketProtocol

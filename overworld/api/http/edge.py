"""The outermost ASGI layer: request ids, request metrics, and the fast path for hot operations.

One raw ASGI layer instead of a middleware stack keeps the per-request cost to a few
microseconds; everything it does not serve itself goes on to the Litestar app. The fast path's
answers go through ASGI `send`, or, given a `direct_respond` (under `overworld serve` with a
supported uvicorn: `overworld.api.uvicorn_adapter`), straight to the server's transport in one
write.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterator
from random import getrandbits
from typing import Any

import msgspec
import structlog
from litestar.types import ASGIApp
from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from overworld.api.http.fastpath import (
    FAST_ROUTES,
    LEADERBOARD_PREFIX,
    Fallback,
    client_ip,
    leaderboard_route,
)
from overworld.api.http.routes.rpc import serve_rpc
from overworld.api.socket.endpoint import serve_socket
from overworld.errors import HTTP_STATUS, ApiError, Code
from overworld.protocol.base import error_body
from overworld.services import Services

# Plain dicts rather than the framework's TypedDicts: this layer handles raw ASGI messages.
Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# Writes a whole response at once if the server behind `send` lets it: (send, status, body,
# content type, request id) -> True, or False to have it sent through `send`.
DirectRespond = Callable[[Send, int, bytes, bytes, bytes], bool]

log = structlog.get_logger(__name__)

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_LE = (*(repr(bound) for bound in _BUCKETS), "+Inf")  # as prometheus_client writes them


class RequestMetrics(Collector):
    """`overworld_requests_total`, `overworld_request_duration_seconds` and
    `overworld_requests_in_progress`, kept in plain ints and lists and turned into metric
    families only when scraped: prometheus_client's own Counter/Histogram/Gauge take a lock per
    update (~3 us for the four updates of a request, some 5% of a fast request)."""

    def __init__(self) -> None:
        self.in_progress = 0
        self.counts: dict[tuple[str, str, int], int] = {}
        # (method, path) -> [count per bucket (non-cumulative, the last is +Inf), sum of seconds]
        self.latency: dict[tuple[str, str], tuple[list[int], list[float]]] = {}

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        key = (method, path, status)
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1
        series = self.latency.get((method, path))
        if series is None:
            series = self.latency[(method, path)] = ([0] * (len(_BUCKETS) + 1), [0.0])
        series[0][bisect_left(_BUCKETS, seconds)] += 1
        series[1][0] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "overworld_requests_total", "HTTP requests", labels=["method", "path", "status_code"]
        )
        for (method, path, status), count in list(self.counts.items()):
            requests.add_metric([method, path, str(status)], count)
        latency = HistogramMetricFamily(
            "overworld_request_duration_seconds", "HTTP request latency", labels=["method", "path"]
        )
        for (method, path), (buckets, total) in list(self.latency.items()):
            cumulative, rows = 0, []
            for le, count in zip(_LE, buckets, strict=True):
                cumulative += count
                rows.append((le, cumulative))
            latency.add_metric([method, path], rows, total[0])
        yield requests
        yield latency
        yield GaugeMetricFamily(
            "overworld_requests_in_progress", "HTTP requests being served", value=self.in_progress
        )


METRICS = RequestMetrics()
REGISTRY.register(METRICS)
_UNMATCHED = "<unmatched>"
_RPC_PREFIX = "/v2/rpc/"
_RPC_TEMPLATE = "/v2/rpc/{id}"  # one metric series for all RPC ids


class Edge:
    def __init__(self, app: ASGIApp, max_body: int, metrics: bool = True, fast_path: bool = True) -> None:
        self.app = app
        self.max_body = max_body
        self.metrics = metrics
        self.routes = FAST_ROUTES if fast_path else {}
        self.node: Services | None = None
        self.direct_respond: DirectRespond | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket" and scope["path"] == "/ws" and self.node is not None:
                await serve_socket(self.node, scope, receive, send)
                return
            await self.app(scope, receive, send)  # type: ignore[arg-type]
            return
        incoming = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")[:64]
                break
        # 128 random bits; Mersenne Twister rather than os.urandom (a getrandom syscall per
        # request): request ids correlate log lines and need not be unpredictable.
        rid = incoming or f"{getrandbits(128):032x}"
        scope.setdefault("state", {})["request_id"] = rid
        id_header = (b"x-request-id", rid.encode("latin-1"))
        status = 500
        started = time.perf_counter()
        if self.metrics:
            METRICS.in_progress += 1

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=rid)
        handler = self.routes.get((scope["method"], scope["path"]))
        path = scope["path"] if handler is not None else _UNMATCHED
        if handler is None and self.routes and scope["path"].startswith(LEADERBOARD_PREFIX):
            matched = leaderboard_route(scope["method"], scope["path"])
            if matched is not None:
                handler, path, _ = matched
        rpc_id = self._rpc_id(scope) if handler is None else ""
        try:
            if handler is not None:
                served = await self._fast(handler, scope, receive, send, id_header, rid, send_with_id)
                if served:  # else the framework's route answered, and send_with_id saw its status
                    status = served
            elif rpc_id:
                path = _RPC_TEMPLATE
                status = await self._fast_rpc(rpc_id, scope, receive, send, id_header, rid)
            else:
                await self.app(scope, receive, send_with_id)  # type: ignore[arg-type]
                path = str(scope.get("path_template") or _UNMATCHED)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
            if self.metrics:
                METRICS.in_progress -= 1
                METRICS.observe(scope["method"], path, status, time.perf_counter() - started)

    def _rpc_id(self, scope: Scope) -> str:
        path: str = scope["path"]
        if not self.routes or not path.startswith(_RPC_PREFIX) or scope["method"] not in ("GET", "POST"):
            return ""
        rpc_id = path[len(_RPC_PREFIX) :]
        return rpc_id if "/" not in rpc_id else ""

    async def _read_body(self, receive: Receive) -> bytes | int:
        """The request body, or the status to answer with instead (client gone, too large)."""
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return 499
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body:
                return 413
        return body

    async def _refuse(self, send: Send, status: int, id_header: Any) -> int:
        if status == 413:
            await self._respond(
                send, 413, error_body(Code.INVALID_ARGUMENT, "Request body is too large."), id_header
            )
        return status

    async def _fast_rpc(
        self, rpc_id: str, scope: Scope, receive: Receive, send: Send, id_header: Any, rid: str
    ) -> int:
        async def produce(node: Services, body: bytes) -> tuple[int, bytes, str]:
            reply = await serve_rpc(
                node, scope["method"], rpc_id, scope["query_string"], scope["headers"], body,
                client_ip(scope), rid,
            )  # fmt: skip
            return reply.status, reply.body, reply.content_type

        return await self._serve(produce, scope, receive, send, id_header)

    async def _fast(
        self,
        handler: Any,
        scope: Scope,
        receive: Receive,
        send: Send,
        id_header: Any,
        rid: str,
        send_with_id: Send | None = None,
    ) -> int:
        """Serve with `handler`; 0 if it passed the request on to the framework (`Fallback`)."""

        async def produce(node: Services, body: bytes) -> tuple[int, bytes, str]:
            try:
                return 200, msgspec.json.encode(await handler(node, scope, body, rid)), ""
            except Fallback:
                assert send_with_id is not None
                await self.app(scope, _replay(body), send_with_id)  # type: ignore[arg-type]
                return 0, b"", ""

        return await self._serve(produce, scope, receive, send, id_header)

    async def _serve(
        self,
        produce: Callable[[Services, bytes], Awaitable[tuple[int, bytes, str]]],
        scope: Scope,
        receive: Receive,
        send: Send,
        id_header: Any,
    ) -> int:
        """Read the body, produce the answer, send it; errors become Nakama's error body."""
        body = await self._read_body(receive)
        if isinstance(body, int):
            return await self._refuse(send, body, id_header)
        assert self.node is not None
        try:
            status, payload, content_type = await produce(self.node, body)
        except ApiError as exc:
            return await self._respond(send, exc.http_status, error_body(exc.code, exc.message), id_header)
        except Exception as exc:
            unavailable = self.node.outages.unavailable(exc)
            if unavailable is not None:
                body = error_body(unavailable.code, unavailable.message)
                return await self._respond(send, unavailable.http_status, body, id_header)
            log.exception("unhandled error", path=scope["path"])
            return await self._respond(
                send, 500, error_body(Code.INTERNAL, "Internal server error"), id_header
            )
        if status == 0:
            return 0
        return await self._respond(send, status, payload, id_header, content_type)

    async def _respond(
        self, send: Send, status: int, body: bytes, id_header: Any, content_type: str = ""
    ) -> int:
        kind = content_type.encode("latin-1") if content_type else b"application/json"
        direct = self.direct_respond
        if direct is not None and direct(send, status, body, kind, id_header[1]):
            return status
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", kind),
                    (b"content-length", str(len(body)).encode()),
                    id_header,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return status


def _replay(body: bytes) -> Receive:
    """A `receive` that hands the already-read body to the framework, then waits for the end."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


__all__ = ["HTTP_STATUS", "Edge"]

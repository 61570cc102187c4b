"""The outermost ASGI layer: request ids, request metrics, CORS, and the fast path for hot
operations.

One raw ASGI layer instead of a middleware stack keeps the per-request cost to a few
microseconds; everything it does not serve itself goes on to the Litestar app. The fast path's
answers go through ASGI `send`, or, given a `direct_respond` (under `overworld serve` with a
supported uvicorn: `overworld.api.uvicorn_adapter`), straight to the server's transport in one
write.

Query parameter names in lowerCamelCase are renamed here, for both paths (overworld.api.http.names).
CORS (overworld.api.origins): preflights are answered here, before any route or authentication;
every other response, the fast path's and the framework's, carries the policy's headers, and the
security headers (overworld.api.http.security), precomputed with them. A refusal by a rate limit
(`RateLimited`) is answered 429 with `Retry-After`, here for the fast path and by the framework's
error handler for its routes.
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

from overworld.api import calls
from overworld.api.http.fastpath import (
    FAST_ROUTES,
    LEADERBOARD_PREFIX,
    Fallback,
    client_ip,
    leaderboard_route,
)
from overworld.api.http.names import QueryNames
from overworld.api.http.routes.rpc import serve_rpc
from overworld.api.http.security import DOCS_PREFIX, SecurityHeaders, html_csp
from overworld.api.origins import ORIGIN_REFUSED, Cors, ResponseHeaders
from overworld.api.socket.endpoint import serve_socket
from overworld.config import Settings
from overworld.errors import HTTP_STATUS, ApiError, Code, RateLimited
from overworld.protocol.base import error_body
from overworld.services import Services

# Plain dicts rather than the framework's TypedDicts: this layer handles raw ASGI messages.
Scope = dict[str, Any]
Message = dict[str, Any]
Header = tuple[bytes, bytes]
Extra = tuple[Header, ResponseHeaders]  # what a response carries besides its body: request id, CORS
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# Writes a whole response at once if the server behind `send` lets it: (send, status, body,
# content type, request id, more header lines) -> True, or False to have it sent through `send`.
DirectRespond = Callable[[Send, int, bytes, bytes, bytes, bytes], bool]

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
    def __init__(
        self,
        app: ASGIApp,
        max_body: int,
        cors: Cors,
        metrics: bool = True,
        fast_path: bool = True,
        settings: Settings | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.security = SecurityHeaders(settings or Settings())
        self.cors = cors  # API responses: CORS and the API's security headers
        # The docs pages: CORS and the common security headers (their HTML gets its own policy).
        self.docs_cors = Cors(settings, self.security.common) if settings is not None else cors
        self.query_names = QueryNames(call.request for call in calls.REST_CALLS)
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
        origin = b""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")[:64]
            elif name == b"origin":
                origin = value
        # 128 random bits; Mersenne Twister rather than os.urandom (a getrandom syscall per
        # request): request ids correlate log lines and need not be unpredictable.
        rid = incoming or f"{getrandbits(128):032x}"  # nosec B311 # not a secret (above)
        scope.setdefault("state", {})["request_id"] = rid
        id_header = (b"x-request-id", rid.encode("latin-1"))
        docs = scope["path"].startswith(DOCS_PREFIX)
        policy = self.docs_cors if docs else self.cors
        cors = policy.wildcard or policy.response_headers(origin)
        query = scope["query_string"]
        if query and not scope["path"].startswith(_RPC_PREFIX):  # lowerCamelCase names (names.py)
            scope["query_string"] = self.query_names.rename(query)
        if scope["method"] == "OPTIONS" and origin:
            preflight = await self._preflight(scope, send, origin, id_header)
            if preflight:
                if self.metrics:
                    METRICS.observe("OPTIONS", _UNMATCHED, preflight, 0.0)
                return
        status = 500
        started = time.perf_counter()
        if self.metrics:
            METRICS.in_progress += 1

        held: list[Message] = []  # an HTML page's start, until its body is known (its CSP)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), id_header, *cors.pairs]
                if docs and _is_html(message["headers"]):
                    held.append(message)
                    return
            elif held:
                held.append(message)
                if message.get("more_body", False):
                    return
                body = b"".join(m.get("body", b"") for m in held[1:])
                held[0]["headers"].append((b"content-security-policy", html_csp(body)))
                await send(held[0])
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
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
                served = await self._fast(handler, scope, receive, send, (id_header, cors), rid, send_with_id)
                if served:  # else the framework's route answered, and send_with_id saw its status
                    status = served
            elif rpc_id:
                path = _RPC_TEMPLATE
                status = await self._fast_rpc(rpc_id, scope, receive, send, (id_header, cors), rid)
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

    async def _preflight(self, scope: Scope, send: Send, origin: bytes, id_header: Header) -> int:
        """Answer a CORS preflight (0 if the request is not one): 204 with the policy's headers,
        or 403 if the origin is not allowed."""
        method = b""
        for name, value in scope["headers"]:
            if name == b"access-control-request-method":
                method = value
                break
        if not method:
            return 0
        headers = self.cors.preflight_headers(origin)
        if headers is None:
            body = error_body(Code.PERMISSION_DENIED, ORIGIN_REFUSED)
            start = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            status, headers = 403, [*start, (b"vary", b"Origin"), *self.security.api]
        else:
            status, body = 204, b""
        await send({"type": "http.response.start", "status": status, "headers": [*headers, id_header]})
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return status

    async def _refuse(self, send: Send, status: int, extra: Extra) -> int:
        if status == 413:
            await self._respond(
                send, 413, error_body(Code.INVALID_ARGUMENT, "Request body is too large."), extra
            )
        return status

    async def _fast_rpc(
        self, rpc_id: str, scope: Scope, receive: Receive, send: Send, extra: Extra, rid: str
    ) -> int:
        async def produce(node: Services, body: bytes) -> tuple[int, bytes, str]:
            reply = await serve_rpc(
                node, scope["method"], rpc_id, scope["query_string"], scope["headers"], body,
                client_ip(scope), rid,
            )  # fmt: skip
            return reply.status, reply.body, reply.content_type

        return await self._serve(produce, scope, receive, send, extra)

    async def _fast(
        self,
        handler: Any,
        scope: Scope,
        receive: Receive,
        send: Send,
        extra: Extra,
        rid: str,
        send_with_id: Send | None = None,
    ) -> int:
        """Serve with `handler`; 0 if it passed the request on to the framework (`Fallback`)."""

        async def produce(node: Services, body: bytes) -> tuple[int, bytes, str]:
            try:
                return 200, msgspec.json.encode(await handler(node, scope, body, rid)), ""
            except Fallback:
                if send_with_id is None:
                    raise RuntimeError("a fallback needs the send with the request id") from None
                await self.app(scope, _replay(body), send_with_id)  # type: ignore[arg-type]
                return 0, b"", ""

        return await self._serve(produce, scope, receive, send, extra)

    async def _serve(
        self,
        produce: Callable[[Services, bytes], Awaitable[tuple[int, bytes, str]]],
        scope: Scope,
        receive: Receive,
        send: Send,
        extra: Extra,
    ) -> int:
        """Read the body, produce the answer, send it; errors become Nakama's error body."""
        body = await self._read_body(receive)
        if isinstance(body, int):
            return await self._refuse(send, body, extra)
        if self.node is None:
            raise RuntimeError("the edge serves no node yet")
        try:
            status, payload, content_type = await produce(self.node, body)
        except RateLimited as exc:
            body = error_body(exc.code, exc.message)
            return await self._respond(send, 429, body, extra, more=retry_after(exc))
        except ApiError as exc:
            return await self._respond(send, exc.http_status, error_body(exc.code, exc.message), extra)
        except Exception as exc:
            unavailable = self.node.outages.unavailable(exc)
            if unavailable is not None:
                body = error_body(unavailable.code, unavailable.message)
                return await self._respond(send, unavailable.http_status, body, extra)
            log.exception("unhandled error", path=scope["path"])
            return await self._respond(send, 500, error_body(Code.INTERNAL, "Internal server error"), extra)
        if status == 0:
            return 0
        return await self._respond(send, status, payload, extra, content_type)

    async def _respond(
        self,
        send: Send,
        status: int,
        body: bytes,
        extra: Extra,
        content_type: str = "",
        more: Header | None = None,
    ) -> int:
        kind = content_type.encode("latin-1") if content_type else b"application/json"
        id_header, cors = extra
        if more is not None:  # rare (Retry-After): the precomputed headers plus this one
            cors = ResponseHeaders([*cors.pairs, more])
        direct = self.direct_respond
        if direct is not None and direct(send, status, body, kind, id_header[1], cors.raw):
            return status
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", kind),
                    (b"content-length", str(len(body)).encode()),
                    id_header,
                    *cors.pairs,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return status


def retry_after(exc: RateLimited) -> Header:
    return (b"retry-after", str(exc.retry_after).encode())


def _is_html(headers: list[Header]) -> bool:
    for name, value in headers:
        if name == b"content-type":
            return value.startswith(b"text/html")
    return False


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

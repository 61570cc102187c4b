"""Build the ASGI application for one node: the edge layer in front of the Litestar app."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

import structlog
from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.plugins.prometheus import PrometheusController

from overworld import __version__
from overworld.api.http.edge import Edge
from overworld.api.http.errors import EXCEPTION_HANDLERS, JsonRequest
from overworld.api.http.openapi import docs_assets_router, render_plugins
from overworld.api.http.routes import ROUTES
from overworld.api.http.security import SecurityHeaders
from overworld.api.origins import Cors
from overworld.config import ConfigError, Settings
from overworld.ops import metrics
from overworld.runtime.loader import RuntimeLoadError
from overworld.services import Services

log = structlog.get_logger(__name__)


class MetricsController(PrometheusController):
    path = "/metrics"
    include_in_schema = False


def create_app(
    settings: Settings,
    node: Services | None = None,
    *,
    start: Callable[[], AbstractAsyncContextManager[Services]] | None = None,
    announce: bool = False,
    fast_path: bool = True,
) -> Edge:
    """The app over running services (`node`, as tests share one), or over the services that
    `start` brings up at startup and stops at shutdown (`overworld serve`)."""
    if (node is None) == (start is None):
        raise ValueError("create_app needs either running services or a way to start them")
    start_failure: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if start is None:
            yield
            return
        async with AsyncExitStack() as stack:
            try:
                services = await stack.enter_async_context(start())
            except RuntimeLoadError as exc:
                start_failure.append(f"server code failed to load: {exc.message}")
                raise
            except ConfigError as exc:
                start_failure.append(str(exc))
                raise
            attach(services)
            if announce:
                _announce(settings, services)
            yield
            log.info("shutting down")

    handlers: list[object] = [*ROUTES, docs_assets_router()]
    if settings.metrics:
        handlers.append(MetricsController)
    litestar = Litestar(
        route_handlers=handlers,  # type: ignore[arg-type]
        exception_handlers=EXCEPTION_HANDLERS,
        request_class=JsonRequest,  # CamelRequest, with the nesting limit checked first
        lifespan=[lifespan],
        request_max_body_size=settings.max_request_bytes,
        openapi_config=OpenAPIConfig(
            title="Overworld",
            version=__version__,
            description="Nakama-compatible game backend API.",
            path="/docs",
            use_handler_docstrings=True,  # each route's docstring: its operation's description
            render_plugins=render_plugins(),  # completed from the registry (api/http/openapi.py)
        ),
        logging_config=None,  # logging is configured by overworld.ops.logging
        debug=False,
    )

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await litestar(scope, receive, send)
            return

        async def send_plain_failure(message: Any) -> None:
            # The server prints a startup failure's message: one line rather than a traceback.
            if message["type"] == "lifespan.startup.failed" and start_failure:
                message = {**message, "message": start_failure[-1]}
            await send(message)

        await litestar(scope, receive, send_plain_failure)

    security = SecurityHeaders(settings)
    edge = Edge(
        app, settings.max_request_bytes, Cors(settings, security.api),
        metrics=settings.metrics, fast_path=fast_path, settings=settings,
    )  # fmt: skip

    def attach(running: Services) -> None:
        litestar.state.node = running
        edge.node = running
        if settings.metrics:
            metrics.register_pool(running.db.pool_stats)

    if node is not None:
        attach(node)
    return edge


def _announce(settings: Settings, node: Services) -> None:
    """The start banner: what this node serves (nothing it does not), and where the keys come from."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # nosec B104 # compared, not bound
    base = f"http://{host}:{settings.port}"
    backend = "PostgreSQL" if settings.is_postgres else f"SQLite ({settings.resolved_database_url[10:]})"
    redis = re.sub(r"//([^:@/]*):[^@/]*@", r"//\1@", settings.redis_url)  # no password in the log
    mode = f"cluster (Redis {redis})" if settings.cluster else "embedded"
    if settings.workers != 1:
        mode += f", {settings.workers} worker processes"
    title = node.default_title
    if title.server_key != settings.default_server_key:
        origin = "stored when it was created (setting default_server_key applies only then)"
    elif title.server_key == "defaultkey":
        origin = "setting default_server_key: still the built-in default, change it in production"
    else:
        origin = "setting default_server_key"
    lines = [
        f"Overworld {__version__} ready: {backend}, {mode}",
        f"  API       {base}/v2",
        f"  keys      title {title.name!r}: server key {origin}; http key likewise (default_http_key)",
        f"  API docs  {base}/docs",
        *([f"  metrics   {base}/metrics"] if settings.metrics else []),
        f"  health    {base}/healthz  {base}/readyz",
    ]
    print("\n".join(lines), flush=True)

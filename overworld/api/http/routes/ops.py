"""Operator endpoints: liveness, readiness."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Response

from overworld.api.http.auth import node_of
from overworld.db import migrate


@get("/healthz", tags=["operations"], include_in_schema=True)
async def healthz() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "ok"}


@get("/healthcheck", tags=["operations"], include_in_schema=False)
async def healthcheck() -> dict[str, str]:
    """Nakama's health check path, for load balancers configured for Nakama."""
    return {}


@get("/readyz", tags=["operations"])
async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """Ready for traffic: the database answers and its schema is at the newest revision."""
    node = node_of(request)
    checks: dict[str, Any] = {}
    ok = True
    try:
        await node.db.ping()
        checks["database"] = "ok"
        current = await node.db.fetchval("SELECT version_num FROM alembic_version")
        head = migrate.head_revision()
        checks["schema"] = "ok" if current == head else f"at {current}, needs {head}"
        ok = current == head
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
        ok = False
    if node.redis is not None:
        try:
            await node.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"unreachable: {type(exc).__name__}"
            ok = False
    return Response(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
    )


ROUTES = [healthz, healthcheck, readyz]

"""The `overworld` command: serve, migrate, and manage titles."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from overworld import __version__
from overworld.config import ConfigError, Settings, load_settings


def _settings(args: argparse.Namespace, **overrides: object) -> Settings:
    return load_settings(config_file=args.config, overrides=overrides)


# Young-generation threshold with `gc_tuning` (CPython's default is 700): fewer collections, each
# still short; generation 1 as usual; the full collection by `gc_full_collect_sec` instead.
GC_THRESHOLDS = (10_000, 10, 1_000_000)


def tune_gc(settings: Settings) -> asyncio.Task[None] | None:
    """With `gc_tuning` (call once the server is up): move everything alive after start-up out of
    the collector's sight (`gc.freeze`), raise the young-generation threshold and stop the
    automatic full collections, whose pause grows with every connected socket (~40 µs each);
    instead a task runs one every `gc_full_collect_sec` to reclaim reference cycles. Returns the
    task (None without tuning or interval)."""
    import gc

    if not settings.gc_tuning:
        return None
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    if not settings.gc_full_collect_sec:
        return None

    async def collect_now_and_then(interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            gc.collect()

    return asyncio.get_running_loop().create_task(
        collect_now_and_then(settings.gc_full_collect_sec), name="gc-full-collect"
    )


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from overworld.api import uvicorn_adapter
    from overworld.api.http.app import create_app
    from overworld.node import Node
    from overworld.ops import logging as ow_logging

    settings = _settings(args, port=args.port, host=args.host)
    ow_logging.configure(settings.log_level, settings.log_format)
    started: list[Node] = []

    @asynccontextmanager
    async def start() -> AsyncIterator[Node]:
        node = await Node.start(settings)
        started.append(node)
        try:
            yield node
        finally:
            started.clear()
            await node.close()

    app = create_app(settings, start=start, announce=True)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        # uvicorn's websockets-sansio, with the direct write paths if this uvicorn is a tested one
        ws=uvicorn_adapter.enable(app),
        ws_per_message_deflate=False,
        # Frames a little over the limit get an error envelope from us; far over, uvicorn closes.
        ws_max_size=max(65_536, 2 * settings.socket_max_message_bytes),
        ws_ping_interval=settings.socket_ping_interval_sec,
        ws_ping_timeout=settings.socket_pong_timeout_sec,
        # X-Forwarded-For names the client only when a configured proxy sends it (uvicorn would
        # believe any sender on 127.0.0.1 by default).
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=settings.shutdown_grace_sec,
        backlog=4096,
    )

    class Server(uvicorn.Server):
        gc_task: asyncio.Task[None] | None = None

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            self.gc_task = tune_gc(settings)

        async def shutdown(self, sockets: Any = None) -> None:
            # Drain the realtime sockets first (refuse new ones, flush, close with "going away"),
            # then let uvicorn stop listening and finish in-flight HTTP requests.
            if self.gc_task is not None:
                self.gc_task.cancel()
            for node in started:
                await node.drain()
            await super().shutdown(sockets)

    Server(config).run()
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from overworld.db import migrate

    settings = _settings(args)
    url = settings.resolved_database_url
    asyncio.run(migrate.upgrade(url, args.revision))
    status = asyncio.run(migrate.status(url))
    print(f"database at revision {status.current} (newest {status.head})")
    return 0


def _title_create(args: argparse.Namespace) -> int:
    from overworld.db import migrate, open_database
    from overworld.titles.service import TitleService

    settings = _settings(args)

    async def run() -> None:
        url = settings.resolved_database_url
        await migrate.upgrade(url)
        db = await open_database(url, pool_size=2)
        try:
            title = await TitleService(db).create(args.name, args.server_key, args.http_key)
        finally:
            await db.close()
        print(f"title:      {title.name}")
        print(f"id:         {title.id}")
        print(f"server key: {title.server_key}")
        print(f"http key:   {title.http_key}")

    asyncio.run(run())
    return 0


def _title_list(args: argparse.Namespace) -> int:
    from overworld.db import migrate, open_database
    from overworld.titles.service import TitleService

    settings = _settings(args)

    async def run() -> None:
        await migrate.upgrade(settings.resolved_database_url)
        db = await open_database(settings.resolved_database_url, pool_size=2)
        try:
            service = TitleService(db)
            await service.load()
            for title in service.all():
                print(f"{title.name}\t{title.id}{'  (disabled)' if title.disabled else ''}")
        finally:
            await db.close()

    asyncio.run(run())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="overworld",
        description="Overworld game backend. Settings come from OVERWORLD_* environment variables "
        "or a TOML file (see docs/configuration.md).",
    )
    parser.add_argument("--version", action="version", version=f"overworld {__version__}")
    parser.add_argument("--config", help="TOML settings file (or OVERWORLD_CONFIG)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the server", description="Run the server.")
    serve.add_argument("--port", type=int, help="listen port (OVERWORLD_PORT, default 7350)")
    serve.add_argument("--host", help="listen address (OVERWORLD_HOST, default 0.0.0.0)")
    serve.set_defaults(func=_serve)

    mig = commands.add_parser(
        "migrate",
        help="bring the database schema up to date",
        description="Apply database migrations (Alembic) to OVERWORLD_DATABASE_URL or the SQLite file.",
    )
    mig.add_argument("--revision", default="head", help="target revision (default: head)")
    mig.set_defaults(func=_migrate)

    title = commands.add_parser("title", help="manage titles (games)", description="Manage titles.")
    title_commands = title.add_subparsers(dest="title_command", required=True, metavar="ACTION")
    create = title_commands.add_parser(
        "create", help="create a title and print its keys", description="Create a title and print its keys."
    )
    create.add_argument("name", help="lower-case name: letters, digits, '-' and '_'")
    create.add_argument("--server-key", help="server key to use (default: random)")
    create.add_argument("--http-key", help="http key to use (default: random)")
    create.set_defaults(func=_title_create)
    listing = title_commands.add_parser("list", help="list titles", description="List titles.")
    listing.set_defaults(func=_title_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"overworld: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from overworld.errors import ApiError

        if isinstance(exc, ApiError):
            print(f"overworld: {exc.message}", file=sys.stderr)
            return 1
        raise
    return code


if __name__ == "__main__":
    sys.exit(main())

"""The `overworld` command: serve, migrate, manage titles, export and erase a player's data, and
load-test a server."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from overworld import __version__
from overworld.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from overworld.db import Database


class CommandError(Exception):
    """What the operator must know, in one line (printed without a traceback; exit status 1)."""


def _settings(args: argparse.Namespace, **overrides: object) -> Settings:
    return load_settings(config_file=args.config, overrides=overrides)


def _database(settings: Settings) -> str:
    """The database these settings name, for messages: the SQLite file's absolute path, or the
    PostgreSQL URL without its password."""
    url = settings.resolved_database_url
    if not settings.is_postgres:
        return f"SQLite {Path(url.removeprefix('sqlite:///')).resolve()}"
    scheme, _, rest = url.partition("://")
    credentials, at, location = rest.rpartition("@")
    user = credentials.partition(":")[0]
    return f"PostgreSQL {scheme}://{user}{at}{location}"


def _existing_database(settings: Settings) -> str:
    """The database URL, refusing a SQLite file that does not exist: a command run from another
    folder than the server (or with other settings) must not quietly start a new, empty database."""
    url = settings.resolved_database_url
    if not settings.is_postgres and not Path(url.removeprefix("sqlite:///")).exists():
        raise CommandError(
            f"no database at {Path(url.removeprefix('sqlite:///')).resolve()}: give this command the "
            "server's settings (run it from the server's folder, or the same --config / "
            "OVERWORLD_DATA_DIR / OVERWORLD_DATABASE_URL), or create it with `overworld migrate`"
        )
    return url


def _database_error(exc: BaseException, settings: Settings) -> str | None:
    """One line for a database that cannot be reached or refuses us, None for anything else."""
    module = type(exc).__module__
    if isinstance(exc, OSError) or module.startswith(("asyncpg", "sqlalchemy", "sqlite3")):
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        text = re.sub(r"^\([\w.]+\) ", "", text)  # SQLAlchemy's "(module.Error) " before the message
        return f"database {_database(settings)}: {text}"
    return None


def _prepare_database(settings: Settings) -> None:
    """Before serving: migrate (or, with `auto_migrate = false`, check the schema) so that an
    unreachable database or an old schema stops the start with one line."""
    from overworld.db import migrate

    url = settings.resolved_database_url
    if settings.auto_migrate:
        asyncio.run(migrate.upgrade(url))
    else:
        status = asyncio.run(migrate.status(url))
        if not status.is_current:
            raise CommandError(
                f"database {_database(settings)} has schema revision {status.current or 'none'}, this "
                f"version needs {status.head}, and auto_migrate is off: run `overworld migrate` first"
            )
    _check_encryption_keys(settings)


def _check_encryption_keys(settings: Settings) -> None:
    """Before serving: the keyrings can be read and hold every key the rows are sealed under
    (the node checks again as it starts; here the refusal is one line, before any worker)."""
    from overworld.db import open_database
    from overworld.titles.crypto import Encryption, KeyConfigError
    from overworld.titles.keys_used import check_keys
    from overworld.titles.service import TitleService

    try:
        encryption = Encryption.from_settings(settings.encryption_keys)
    except KeyConfigError as exc:
        raise ConfigError(str(exc)) from None

    async def run() -> None:
        db = await open_database(settings.resolved_database_url, pool_size=1)
        try:
            titles = TitleService(db, settings.region)
            await titles.load()
            await check_keys(db, encryption, titles.all())
        finally:
            await db.close()

    try:
        asyncio.run(run())
    except KeyConfigError as exc:
        raise ConfigError(str(exc)) from None


def tune_gc(settings: Settings) -> asyncio.Task[None] | None:
    """With `gc_tuning` (call once the server is up): `overworld.ops.gc.freeze_and_tune`, which
    also stops the automatic full collections, whose pause grows with every connected socket
    (~40 µs each); instead a task runs one every `gc_full_collect_sec` to reclaim reference
    cycles. Returns the task (None without tuning or interval)."""
    import gc

    from overworld.ops.gc import freeze_and_tune

    if not settings.gc_tuning:
        return None
    freeze_and_tune()
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
    from overworld import supervisor

    settings = _settings(args, port=args.port, host=args.host, workers=args.workers)
    count = supervisor.worker_count(settings)
    if args.worker_index is not None:
        return _serve_one(settings, args.worker_index)
    refusal = supervisor.refusal(settings, count)
    if refusal:
        raise ConfigError(refusal)
    if count > 1:
        try:  # the port is free (or held by workers like these): say so once, before the workers
            supervisor.reuse_port_socket(settings.host, settings.port).close()
        except OSError as exc:
            raise CommandError(f"cannot listen on {settings.host}:{settings.port}: {exc}") from None
    _prepare_database(settings)
    if count == 1:
        return _serve_one(settings, None)
    config = ["--config", args.config] if args.config else []
    commands = [
        [sys.executable, "-m", "overworld", "serve", *config, "--port", str(settings.port),
         "--host", settings.host, "--workers", str(count), "--worker-index", str(i)]
        for i in range(count)
    ]  # fmt: skip
    return supervisor.Supervisor(commands, settings.shutdown_grace_sec).run()


def _serve_one(settings: Settings, worker: int | None) -> int:
    """Serve in this process: alone, or as worker `worker` of `overworld serve --workers`."""
    import msgspec
    import uvicorn

    from overworld import supervisor
    from overworld.api import uvicorn_adapter
    from overworld.api.http.app import create_app
    from overworld.node import Node
    from overworld.ops import logging as ow_logging

    sockets = None
    if worker is not None:
        settings = msgspec.structs.replace(settings, node_name=supervisor.worker_name(settings, worker))
        try:
            sockets = [supervisor.reuse_port_socket(settings.host, settings.port)]
        except OSError as exc:
            raise CommandError(
                f"worker {worker}: cannot listen on {settings.host}:{settings.port}: {exc}"
            ) from None
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

    app = create_app(settings, start=start, announce=worker in (None, 0))
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
        # uvicorn's default is 5 s: a client (or a balancer) that sends its next request on a
        # connection just as the server closes it gets no answer ("Server disconnected").
        timeout_keep_alive=settings.http_idle_timeout_sec,
        backlog=4096,
    )

    parent = os.getppid()

    class Server(uvicorn.Server):
        gc_task: asyncio.Task[None] | None = None
        orphan_watch: asyncio.Task[None] | None = None

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            self.gc_task = tune_gc(settings)
            if worker is not None:
                self.orphan_watch = asyncio.get_running_loop().create_task(self.stop_without_parent())

        async def stop_without_parent(self) -> None:
            # A worker whose supervisor is gone (killed with SIGKILL) stops as on SIGTERM.
            while os.getppid() == parent:  # noqa: ASYNC110 - nothing to wait on but the pid
                await asyncio.sleep(1.0)
            self.should_exit = True

        async def shutdown(self, sockets: Any = None) -> None:
            # Drain the realtime sockets first (refuse new ones, flush, close with "going away"),
            # then let uvicorn stop listening and finish in-flight HTTP requests.
            for task in (self.gc_task, self.orphan_watch):
                if task is not None:
                    task.cancel()
            for node in started:
                await node.drain()
            await super().shutdown(sockets)

    server = Server(config)
    server.run(sockets=sockets)
    return 0 if server.started else 3  # uvicorn's status for a failed start


def _migrate(args: argparse.Namespace) -> int:
    from overworld.db import migrate

    settings = _settings(args)
    url = settings.resolved_database_url
    known = migrate.revisions()
    target = known[-1] if args.revision == "head" else args.revision
    if target not in (*known, "base"):
        raise CommandError(
            f"unknown revision {args.revision!r}: the revisions are {', '.join(known)}"
            " (or head; base with --downgrade)"
        )
    current = asyncio.run(migrate.status(url)).current
    order = ["base", *known]
    if current is not None and current not in known:
        raise CommandError(
            f"database {_database(settings)} is at revision {current!r}, which this version of "
            "Overworld does not know (written by a newer version?)"
        )
    if order.index(target) < order.index(current or "base"):
        if not args.downgrade:
            raise CommandError(
                f"database {_database(settings)} is at revision {current}, newer than {target}: "
                "downgrading drops the tables and columns (and their data) of the later revisions;"
                " run again with --downgrade to do it"
            )
        asyncio.run(migrate.downgrade(url, target))
    else:
        asyncio.run(migrate.upgrade(url, target))
    status = asyncio.run(migrate.status(url))
    print(f"database {_database(settings)} at revision {status.current} (newest {status.head})")
    return 0


@asynccontextmanager
async def _title_database(settings: Settings) -> AsyncIterator[Database]:
    """The server's existing database, migrated, for a title command (closed afterwards)."""
    from overworld.db import migrate, open_database

    url = _existing_database(settings)
    await migrate.upgrade(url)
    db = await open_database(url, pool_size=2)
    try:
        yield db
    finally:
        await db.close()


def _title_create(args: argparse.Namespace) -> int:
    from overworld.titles.service import TitleService

    settings = _settings(args)

    async def run() -> None:
        async with _title_database(settings) as db:
            title = await TitleService(db, settings.region).create(
                args.name, args.server_key, args.http_key, region=args.region or ""
            )
        print(f"title:      {title.name}")
        print(f"id:         {title.id}")
        if title.region:
            print(f"region:     {title.region} (served only by nodes with region = {title.region!r})")
        print(f"server key: {title.server_key}")
        print(f"http key:   {title.http_key}")
        print(f"database:   {_database(settings)}")

    asyncio.run(run())
    return 0


def _title_rotate_keys(args: argparse.Namespace) -> int:
    from overworld.clock import rfc3339
    from overworld.titles.service import TitleService

    settings = _settings(args)
    overlap = settings.key_rotation_overlap_sec if args.overlap_sec is None else args.overlap_sec
    if overlap < 0:
        raise CommandError("--overlap-sec must be 0 or more")

    async def run() -> None:
        async with _title_database(settings) as db:
            service = TitleService(db)
            found = await service.find_by_name(args.name)
            if found is None:
                raise CommandError(f"no title named {args.name!r} in database {_database(settings)}")
            nonlocal overlap
            if args.overlap_sec is None and service.has_well_known_keys(found):
                overlap = 0  # keys everyone knows: no reason to keep them working
            title, expire = await service.rotate_keys(args.name, overlap, args.server_key, args.http_key)
        print(f"title:      {title.name}")
        print(f"server key: {title.server_key}")
        print(f"http key:   {title.http_key}")
        print(f"old keys:   work until {rfc3339(expire)} ({overlap} s), on every node")
        if title.name == settings.default_title:
            print(
                "note:       the default title: the key settings (default_server_key, default_http_key)"
                " apply again only when they are changed"
            )

    asyncio.run(run())
    return 0


def _title_list(args: argparse.Namespace) -> int:
    from overworld.titles.service import TitleService

    settings = _settings(args)

    async def run() -> None:
        async with _title_database(settings) as db:
            service = TitleService(db)
            await service.load()
            titles = await service.every()
            for title in titles:
                region = f"  region {title.region}" if title.region else ""
                print(f"{title.name}\t{title.id}{region}{'  (disabled)' if title.disabled else ''}")

    asyncio.run(run())
    return 0


def _title_region(args: argparse.Namespace) -> int:
    from overworld.titles.service import TitleService

    settings = _settings(args)

    async def run() -> None:
        async with _title_database(settings) as db:
            title = await TitleService(db).set_region(args.name, args.region)
        if title.region:
            print(
                f"title {title.name}: region {title.region},"
                f" served only by nodes with region = {title.region!r}"
            )
        else:
            print(f"title {title.name}: no region, served by nodes without a region")
        print("nodes apply it within seconds to requests; restart them for server code and scheduled jobs")

    asyncio.run(run())
    return 0


def _keys_generate(args: argparse.Namespace) -> int:
    from overworld.titles.crypto import KeyConfigError, new_key_entry

    try:
        print(new_key_entry(args.id))
    except KeyConfigError as exc:
        raise CommandError(str(exc)) from None
    return 0


def _keys_rotate(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from overworld.accounts.rotation import Progress as Done
    from overworld.accounts.rotation import Rotation, RotationError
    from overworld.titles.crypto import Encryption, KeyConfigError, TitleKeys
    from overworld.titles.keys_used import check_keys
    from overworld.titles.models import Title
    from overworld.titles.service import TitleService

    settings = _settings(args)
    if args.batch < 1:
        raise CommandError("--batch must be 1 or more")
    try:
        encryption = Encryption.from_settings(settings.encryption_keys)
    except KeyConfigError as exc:
        raise ConfigError(str(exc)) from None

    async def run() -> list[Done]:
        async with _title_database(settings) as db:
            service = TitleService(db, settings.region)
            await service.load()
            titles = service.all()
            if args.title:
                titles = [t for t in titles if t.name == args.title]
                if not titles:
                    foreign = [t for t in await service.every() if t.name == args.title]
                    if foreign:
                        raise CommandError(
                            f"title {args.title!r} is in region {foreign[0].region or '(none)'!r};"
                            f" run this with region = {foreign[0].region!r}"
                        )
                    raise CommandError(f"no title named {args.title!r} in database {_database(settings)}")
                if encryption.keys(titles[0].id, titles[0].name) is None:
                    raise CommandError(
                        f"title {args.title!r} has no key configured (setting encryption_keys)"
                    )
            work: list[tuple[Title, TitleKeys]] = []
            for t in titles:
                keys = encryption.keys(t.id, t.name)
                if keys is not None:
                    work.append((t, keys))
            if not work:
                raise CommandError("no title has a key configured (setting encryption_keys): nothing to do")
            try:
                await check_keys(db, encryption, [t for t, _ in work])  # records each newest key
            except KeyConfigError as exc:
                raise ConfigError(str(exc)) from None
            rotation = Rotation(db, batch=args.batch)
            results: list[Done] = []
            columns = (
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            )  # fmt: skip
            with Progress(*columns) as bar:
                for title, keys in work:
                    done = Done(title.name)
                    label = f"{title.name} -> key {keys.current}"
                    task_id = bar.add_task(label, total=None)
                    job = asyncio.get_running_loop().create_task(rotation.run(title.id, keys, done))
                    while not job.done():
                        await asyncio.wait({job}, timeout=0.2)
                        bar.update(task_id, completed=done.done, total=done.total or None)
                    try:
                        results.append(job.result())
                    except RotationError as exc:
                        raise CommandError(f"title {title.name!r}: {exc}") from None
                    bar.update(task_id, completed=done.total, total=done.total)
            return results

    for done in asyncio.run(run()):
        line = f"{done.title}: {done.done} users examined, {done.rewritten} rows re-encrypted"
        if done.conflicts:
            line += f", {done.conflicts} changed by servers meanwhile (read again)"
        if done.left_behind:
            line += (
                f"; {done.left_behind} rows are still under an older key (written meanwhile by a server"
                " without the newest key): configure it on every server and run this again"
            )
        else:
            line += "; older keys are no longer used and may be removed from the keyring"
        print(line)
    return 0


def title_tables() -> list[tuple[str, str]]:
    """Every table holding a title's rows, as (table, column naming the title), children before
    parents, the titles table last: every table of the schema but `titles` starts its key with
    `title_id` (docs/architecture.md), so a domain's new tables are covered without a step."""
    from overworld.migrations.schema import metadata

    tables = [(t.name, "title_id") for t in reversed(metadata.sorted_tables) if t.name != "titles"]
    missing = [name for name, _ in tables if "title_id" not in metadata.tables[name].c]
    if missing:  # pragma: no cover - tests/server/test_cli.py keeps this from happening
        raise RuntimeError(f"tables without title_id: {missing}")
    return [*tables, ("titles", "id")]


async def _delete_redis_keys(settings: Settings, title_id: str) -> int:
    """A title's keys in Redis: every key of the deployment's prefix that names the title's id (a
    UUID, so no other title's key matches)."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(settings.redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{settings.redis_prefix}:*{title_id}*", count=1000)]
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start : start + 500])
        return len(keys)
    finally:
        await client.aclose()


def _title_delete(args: argparse.Namespace) -> int:
    from overworld.titles.service import TitleService

    settings = _settings(args)

    async def run() -> None:
        async with _title_database(settings) as db:
            title = await TitleService(db).find_by_name(args.name)
            if title is None:
                raise CommandError(f"no title named {args.name!r} in database {_database(settings)}")
            if not args.yes:
                raise CommandError(
                    f"deleting title {title.name!r} removes its accounts and every row of its data "
                    "for good: run again with --yes to do it"
                )
            deleted: dict[str, int] = {}
            async with db.transaction() as tx:
                for table, column in title_tables():
                    deleted[table] = await tx.execute(f"DELETE FROM {table} WHERE {column} = $1", title.id)  # nosec B608 # table and column names from the schema's own list; the id bound as $1
        rows = sum(n for table, n in deleted.items() if table != "titles")
        print(f"deleted title {title.name} ({title.id}) and its {rows} rows from {_database(settings)}")
        if settings.cluster:
            print(f"and its {await _delete_redis_keys(settings, title.id)} Redis keys")
        if title.name == settings.default_title:
            print("it is the default title: the server creates it anew, empty, at its next start")

    asyncio.run(run())
    return 0


@asynccontextmanager
async def _account_node(settings: Settings, title_name: str) -> AsyncIterator[tuple[Any, Any]]:
    """A node of the deployment (its database, and in a cluster its Redis, so the other nodes
    hear of what it does) and the title named, for an account command (closed afterwards)."""
    from overworld.node import Node
    from overworld.ops import logging as ow_logging

    ow_logging.configure(settings.log_level, settings.log_format)  # on stderr: stdout is the answer
    _existing_database(settings)
    node = await Node.start(settings)
    try:
        title = await node.titles.find_by_name(title_name)
        if title is None:
            raise CommandError(f"no title named {title_name!r} in database {_database(settings)}")
        yield node, title
    finally:
        await node.close()


def _account_export(args: argparse.Namespace) -> int:
    settings = _settings(args)
    out = Path(args.output or f"{args.user_id}.zip")

    async def run() -> bytes:
        async with _account_node(settings, args.title) as (node, title):
            data: bytes = await node.privacy.export_zip(title, args.user_id)
            return data

    data = asyncio.run(run())
    out.write_bytes(data)
    print(f"exported {args.user_id} of title {args.title} to {out} ({len(data)} bytes)")
    return 0


def _account_erase(args: argparse.Namespace) -> int:
    import json

    settings = _settings(args)
    if not args.yes:
        raise CommandError(
            f"erasing account {args.user_id} removes every row of its data for good:"
            " run again with --yes to do it"
        )

    async def run() -> None:
        async with _account_node(settings, args.title) as (node, title):
            report = await node.privacy.erase(title, args.user_id)
        print(json.dumps(report, indent=2, sort_keys=True))

    asyncio.run(run())
    return 0


def _workers(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"expected a number of processes (1 or more) or auto, got {value!r}")
    return count


def build_parser() -> argparse.ArgumentParser:
    # --config is accepted before or after the command: a subcommand's copy sets it only if given.
    config_help = "TOML settings file (or OVERWORLD_CONFIG)"
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help=config_help)
    parser = argparse.ArgumentParser(
        prog="overworld",
        description="Overworld game backend. Settings come from OVERWORLD_* environment variables "
        "or a TOML file (see docs/configuration.md).",
    )
    parser.add_argument("--version", action="version", version=f"overworld {__version__}")
    parser.add_argument("--config", help=config_help)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve", parents=[common], help="run the server", description="Run the server."
    )
    serve.add_argument("--port", type=int, help="listen port (OVERWORLD_PORT, default 7350)")
    serve.add_argument(
        "--host", help="listen address (OVERWORLD_HOST, default 127.0.0.1; 0.0.0.0 for every interface)"
    )
    serve.add_argument(
        "--workers",
        type=_workers,
        metavar="N",
        help="processes sharing the port, each a node of a cluster (needs PostgreSQL and Redis); "
        "auto: one per core this process may use (OVERWORLD_WORKERS, default 1)",
    )
    serve.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)  # set by the supervisor
    serve.set_defaults(func=_serve)

    mig = commands.add_parser(
        "migrate",
        parents=[common],
        help="bring the database schema up to date",
        description="Apply database migrations (Alembic) to OVERWORLD_DATABASE_URL or the SQLite file.",
    )
    mig.add_argument("--revision", default="head", help="target revision (default: head)")
    mig.add_argument(
        "--downgrade",
        action="store_true",
        help="allow going back to an older revision (drops the later revisions' tables and columns)",
    )
    mig.set_defaults(func=_migrate)

    title = commands.add_parser(
        "title", parents=[common], help="manage titles (games)", description="Manage titles."
    )
    title_commands = title.add_subparsers(dest="title_command", required=True, metavar="ACTION")
    create = title_commands.add_parser(
        "create",
        parents=[common],
        help="create a title and print its keys",
        description="Create a title and print its keys.",
    )
    create.add_argument("name", help="lower-case name: letters, digits, '-' and '_'")
    create.add_argument("--server-key", help="server key to use (default: random)")
    create.add_argument("--http-key", help="http key to use (default: random)")
    create.add_argument(
        "--region", help="data residency: only nodes with this region setting serve the title"
    )
    create.set_defaults(func=_title_create)
    region = title_commands.add_parser(
        "region",
        parents=[common],
        help="set the region whose nodes serve a title",
        description="Set the data region of a title: only nodes whose region setting is the same serve"
        " it; the others refuse its requests (FAILED_PRECONDITION). An empty region: nodes without one.",
    )
    region.add_argument("name", help="the title's name")
    region.add_argument("region", help="the region label, or '' for none")
    region.set_defaults(func=_title_region)
    rotate = title_commands.add_parser(
        "rotate-keys",
        parents=[common],
        help="give a title new keys; the old ones keep working for a while",
        description="Give a title new keys (random unless given) and print them. The old keys keep"
        " working for --overlap-sec seconds (setting key_rotation_overlap_sec), on every node,"
        " then are refused.",
    )
    rotate.add_argument("name", help="the title's name")
    rotate.add_argument("--overlap-sec", type=int, help="how long the old keys keep working")
    rotate.add_argument("--server-key", help="new server key (default: random)")
    rotate.add_argument("--http-key", help="new http key (default: random)")
    rotate.set_defaults(func=_title_rotate_keys)
    listing = title_commands.add_parser(
        "list", parents=[common], help="list titles", description="List titles."
    )
    listing.set_defaults(func=_title_list)
    delete = title_commands.add_parser(
        "delete",
        parents=[common],
        help="delete a title and all its data",
        description="Delete a title and every row of its data (accounts, storage, leaderboards, ...).",
    )
    delete.add_argument("name", help="the title's name")
    delete.add_argument("--yes", action="store_true", help="confirm: the data cannot be recovered")
    delete.set_defaults(func=_title_delete)

    account = commands.add_parser(
        "account", parents=[common], help="a player's data: export, erase (docs/data-protection.md)",
        description="A player's data (docs/data-protection.md).",
    )  # fmt: skip
    account_commands = account.add_subparsers(dest="account_command", required=True, metavar="ACTION")
    export = account_commands.add_parser(
        "export", parents=[common], help="write everything held about a player to a ZIP of JSON files",
        description="Write everything the title holds about a player to a ZIP archive of JSON files.",
    )  # fmt: skip
    export.add_argument("user_id", help="the player's user id")
    export.add_argument("--title", required=True, help="the title's name")
    export.add_argument("-o", "--output", help="the ZIP file to write (default: USER_ID.zip)")
    export.set_defaults(func=_account_export)
    erase = account_commands.add_parser(
        "erase", parents=[common], help="erase a player: every row removed or anonymised, a tombstone left",
        description="Erase a player from the title: every row in every domain removed (the wallet ledger's"
        " amounts kept without identity), sockets closed on every node, a tombstone left; prints the report.",
    )  # fmt: skip
    erase.add_argument("user_id", help="the player's user id")
    erase.add_argument("--title", required=True, help="the title's name")
    erase.add_argument("--yes", action="store_true", help="confirm: the data cannot be recovered")
    erase.set_defaults(func=_account_erase)

    from overworld.loadtest.command import add_parser as add_loadtest

    add_loadtest(commands)
    keys = commands.add_parser(
        "keys",
        parents=[common],
        help="encryption keys of personal data",
        description="Encryption at rest (docs/data-protection.md).",
    )
    keys_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    generate = keys_commands.add_parser(
        "generate",
        parents=[common],
        help="print a new key, as a keyring entry",
        description="Print a new random 256-bit key as `id:base64`, for the encryption_keys setting.",
    )
    generate.add_argument("--id", default="k1", help="the key's id (default k1)")
    generate.set_defaults(func=_keys_generate)
    rotate_keys = keys_commands.add_parser(
        "rotate",
        parents=[common],
        help="re-encrypt personal fields under each title's newest key",
        description="Re-encrypt every personal field (and recompute its blind index) under each title's"
        " newest key, in batches, with progress. Resumable: a stopped run continues where it got to."
        " Safe while servers run (give them the newest key first: docs/operations.md).",
    )
    rotate_keys.add_argument("--title", help="only this title (default: every title with a key)")
    rotate_keys.add_argument("--batch", type=int, default=500, help="users per batch (default 500)")
    rotate_keys.set_defaults(func=_keys_rotate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        sys.stdout.flush()  # here, so that a reader gone away is seen below
    except BrokenPipeError:
        # The output's reader stopped reading (`overworld title list | head -1`): stop quietly, as
        # a Unix tool killed by SIGPIPE does, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except ConfigError as exc:
        print(f"overworld: configuration error: {exc}", file=sys.stderr)
        return 2
    except CommandError as exc:
        print(f"overworld: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from overworld.errors import ApiError

        if isinstance(exc, ApiError):
            print(f"overworld: {exc.message}", file=sys.stderr)
            return 1
        try:
            line = _database_error(exc, _settings(args))
        except ConfigError:
            line = None
        if line is None:
            raise
        print(f"overworld: {line}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())

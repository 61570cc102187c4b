"""The PostgreSQL backend when the server ends a session: an idle pooled connection that receives
the server's goodbye (`pg_terminate_backend`, a fast shutdown: FATAL 57P01) before the socket's
close reaches the driver is left by asyncpg in a state where its next query fails with
InternalClientError ("cannot switch to state ...; another operation (2) is in progress"). Found
by scripts/chaos (a PostgreSQL restart under load answered some storage writes with HTTP 500).
Such a connection must answer UNAVAILABLE (an outage, HTTP 503), never be handed out again, and
the next query must get a working connection."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from overworld.db.postgres import PostgresDatabase
from overworld.ops.outages import classify

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


class HoldingProxy:
    """A TCP proxy to PostgreSQL that passes every byte on but, when armed (`hold`) and the server
    closes a connection, holds that close back from the client: what the client sees in the
    moment between the server's last message and its end of stream, made to last."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.server_closed = asyncio.Event()
        self.hold = False
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self._writers += [writer, up_writer]
        for task in (self._to_server(reader, up_writer, writer), self._to_client(up_reader, writer)):
            self._tasks.add(asyncio.get_running_loop().create_task(task))

    @staticmethod
    async def _to_server(
        src: asyncio.StreamReader, dst: asyncio.StreamWriter, client: asyncio.StreamWriter
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        dst.close()  # the client closed: close both sides
        client.close()

    async def _to_client(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        if self.hold:  # once: the connection the test has the server end
            self.hold = False
            self.server_closed.set()  # and the client's side stays open
        else:
            dst.close()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()


def through(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = (
        parts.netloc.rpartition("@")[0] + f"@127.0.0.1:{port}" if "@" in parts.netloc else f"127.0.0.1:{port}"
    )
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.mark.parametrize("use", ["query", "transaction"])
async def test_a_connection_the_server_ended_is_unavailable_and_not_reused(pg_database, use):
    parts = urlsplit(pg_database)
    proxy = HoldingProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    db = await PostgresDatabase.connect(through(pg_database, proxy.port), pool_size=1)
    admin = await asyncpg.connect(pg_database)
    try:
        pid = await db.fetchval("SELECT pg_backend_pid()")
        proxy.hold = True
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid) is True
        await asyncio.wait_for(proxy.server_closed.wait(), 10)
        await asyncio.sleep(0.2)  # the driver reads the server's goodbye (already in its socket)

        with pytest.raises(Exception) as raised:
            if use == "query":
                await db.fetchval("SELECT 1")
            else:
                async with db.transaction() as tx:
                    await tx.execute("SELECT 1")
        assert classify(raised.value) == "database", repr(raised.value)

        # That connection is gone from the pool: the next query gets a new one.
        assert await db.fetchval("SELECT pg_backend_pid()") != pid
        async with db.transaction() as tx:
            assert await tx.fetchval("SELECT 2") == 2
    finally:
        await admin.close()
        await db.close()
        await proxy.close()

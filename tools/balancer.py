"""A round-robin TCP balancer on 127.0.0.1 for local clusters: the end-to-end tests' cluster
deployment (tests/deployments.py) and the chaos tool (tools/chaos.py) put their nodes behind it.

Each accepted connection is piped to the next upstream port in turn. An upstream that refuses the
connection (a node that is down or restarting) is skipped for that connection and the next one
is tried, as a balancer with redispatch does; the client's connection is closed only when every
upstream refuses. It runs its own event loop in a thread, so synchronous tests can use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading


class Balancer:
    def __init__(self, upstreams: list[int]) -> None:
        if not upstreams:
            raise ValueError("a balancer needs at least one upstream port")
        self._upstreams = list(upstreams)
        self._turn = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="balancer", daemon=True)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self.connections = 0  # accepted
        self.refused = 0  # upstream connection attempts refused (a node down)
        self.port = 0

    def start(self) -> Balancer:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._accept, "127.0.0.1", 0), self._loop
        ).result()
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def _connect_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in range(len(self._upstreams)):
            port = self._upstreams[self._turn % len(self._upstreams)]
            self._turn += 1
            try:
                return await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                self.refused += 1
        return None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        upstream = await self._connect_upstream()
        if upstream is None:
            writer.close()
            return
        up_reader, up_writer = upstream
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.get_running_loop().create_task(self._pipe(src, dst))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                dst.close()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

"""The round-robin balancer of the local clusters (tools/balancer.py)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support import free_port
from tools.balancer import Balancer


@contextmanager
def named_server(name: bytes) -> Iterator[int]:
    """A TCP server on 127.0.0.1 that answers each connection with `name` and closes it."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(name)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        server.close()


def ask(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        data = b""
        while chunk := conn.recv(64):
            data += chunk
        return data


def test_connections_go_to_the_upstreams_in_turn():
    with named_server(b"a") as a, named_server(b"b") as b:
        balancer = Balancer([a, b]).start()
        try:
            assert [ask(balancer.port) for _ in range(4)] == [b"a", b"b", b"a", b"b"]
        finally:
            balancer.stop()


def test_an_upstream_that_refuses_is_skipped():
    down = free_port()  # nothing listens there: a node that is down
    with named_server(b"a") as a:
        balancer = Balancer([down, a]).start()
        try:
            assert [ask(balancer.port) for _ in range(3)] == [b"a", b"a", b"a"]
            assert balancer.refused >= 1
        finally:
            balancer.stop()


def test_a_connection_is_closed_when_every_upstream_refuses():
    balancer = Balancer([free_port()]).start()
    try:
        assert ask(balancer.port) == b""
    finally:
        balancer.stop()

"""The edge's one-write responses against a real `overworld serve` (uvicorn + httptools).

In-process tests go through an ASGI transport, so only a live server exercises the path that
writes status line, headers and body to uvicorn's transport in one go (`respond` in
overworld/api/uvicorn_direct.py, which the edge's `_respond` calls under a tested uvicorn): the
bytes on the wire, keep-alive, `Connection: close`, HTTP/1.0 and the request metrics. That the
path is taken, and the same requests under an untested uvicorn: tests/api/test_uvicorn_adapter.py.
"""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import orjson
import pytest

from tests.support import basic, running_server, unique

RUNTIME = Path(__file__).resolve().parents[2] / "examples" / "runtime"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("edge")
    env = {"OVERWORLD_DATA_DIR": str(tmp / "data"), "OVERWORLD_RUNTIME_PATH": str(RUNTIME)}
    with running_server(env, tmp) as running:
        yield running


def read_response(sock: socket.socket, buffer: bytearray) -> tuple[str, dict[str, list[str]], bytes]:
    """One HTTP/1.1 response with a Content-Length: status line, headers (all values), body."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before the headers"
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    length = int(headers["content-length"][0])
    body = bytearray(rest)
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before the end of the body"
        body += chunk
    buffer[:] = body[length:]
    return lines[0], headers, bytes(body[:length])


def request(
    method: str, target: str, headers: dict[str, str], body: bytes = b"", version: str = "1.1"
) -> bytes:
    lines = [f"{method} {target} HTTP/{version}", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_answers_on_one_keep_alive_connection(server):
    token = httpx.post(
        server.url + "/v2/account/authenticate/device",
        json={"id": unique("edge-")},
        headers=basic("defaultkey"),
    ).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        buffer = bytearray()
        # Two requests written at once (pipelined), then more on the same connection.
        sock.sendall(
            request("POST", "/v2/rpc/echo", auth, b'"hello"')
            + request("POST", "/v2/rpc/echo", {**auth, "X-Request-Id": "my-id-1"}, b'"again"')
        )
        for payload, rid in (("hello", None), ("again", "my-id-1")):
            status, headers, body = read_response(sock, buffer)
            assert status == "HTTP/1.1 200 OK"
            assert sorted(headers) == [
                "access-control-allow-origin", "cache-control", "content-length", "content-security-policy",
                "content-type", "date", "referrer-policy", "x-content-type-options", "x-frame-options",
                "x-request-id",
            ]  # fmt: skip
            assert headers["access-control-allow-origin"] == ["*"]  # CORS, as Nakama (docs/api.md)
            assert all(len(values) == 1 for values in headers.values())
            assert headers["content-type"] == ["application/json"]
            assert orjson.loads(body) == {"id": "echo", "payload": payload}
            if rid is None:
                assert len(headers["x-request-id"][0]) == 32 and int(headers["x-request-id"][0], 16) >= 0
            else:
                assert headers["x-request-id"] == [rid]
        # unwrap: the request's content type comes back with the raw payload.
        sock.sendall(request("POST", "/v2/rpc/echo?unwrap", {**auth, "Content-Type": "text/x-raw"}, b"a b c"))
        status, headers, body = read_response(sock, buffer)
        assert (status, headers["content-type"], body) == ("HTTP/1.1 200 OK", ["text/x-raw"], b"a b c")
        # Errors are Nakama's error body, on the same connection.
        sock.sendall(request("POST", "/v2/rpc/no_such_rpc", auth, b'"x"'))
        status, headers, body = read_response(sock, buffer)
        assert status == "HTTP/1.1 404 Not Found"
        assert orjson.loads(body) == {
            "error": "RPC function not found",
            "code": 5,
            "message": "RPC function not found",
        }
        # A fast-path route (account fetch) answers through the same writer.
        sock.sendall(request("GET", "/v2/account", auth))
        status, headers, body = read_response(sock, buffer)
        assert status == "HTTP/1.1 200 OK" and "connection" not in headers
        assert orjson.loads(body)["user"]["id"]
        assert buffer == b""


@pytest.mark.parametrize("version, extra", [("1.1", {"Connection": "close"}), ("1.0", {})])
def test_connection_close_is_announced_and_done(server, version, extra):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        buffer = bytearray()
        sock.sendall(request("POST", "/v2/rpc/echo?http_key=defaulthttpkey", extra, b'"bye"', version))
        status, headers, body = read_response(sock, buffer)
        assert status.endswith("200 OK")
        assert headers["connection"] == ["close"]
        assert orjson.loads(body) == {"id": "echo", "payload": "bye"}
        assert sock.recv(1) == b""  # the server closed the connection


def test_head_request_gets_no_body(server):
    # HEAD never takes the one-write path (the framework answers it); the answer must still be
    # headers only, and the connection stay usable for the next request.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request("HEAD", "/v2/account", {}) + request("GET", "/v2/account", {}))
        data = b""
        while data.count(b"HTTP/1.1 ") < 2 or not data.endswith(b"}"):
            chunk = sock.recv(65536)
            assert chunk
            data += chunk
        first, second = data.split(b"HTTP/1.1 ")[1:]
        assert first.startswith(b"405") and first.endswith(b"\r\n\r\n")
        assert second.startswith(b"401") and second.endswith(b'"Auth token required"}')


def test_request_metrics_are_counted(server):
    def count() -> float:
        text = httpx.get(server.url + "/metrics").text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(
                'overworld_requests_total{method="POST",path="/v2/rpc/{id}",status_code="200"}'
            ):
                total += float(line.rsplit(" ", 1)[1])
            if line.startswith("overworld_request_duration_seconds_bucket") and 'path="/v2/rpc/{id}"' in line:
                assert 'le="' in line
        return total

    before = count()
    for _ in range(3):
        assert (
            httpx.post(server.url + "/v2/rpc/echo?http_key=defaulthttpkey", content=b'"x"').status_code == 200
        )
    assert count() == before + 3
    text = httpx.get(server.url + "/metrics").text
    assert "overworld_requests_in_progress" in text
    assert 'overworld_request_duration_seconds_count{method="POST",path="/v2/rpc/{id}"}' in text

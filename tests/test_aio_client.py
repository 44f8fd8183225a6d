"""The client side of pylws_ffi.aio against real peers, named as websockets
names it: additional_headers / user_agent_header, permessage-deflate offered
by default (compression=None: not offered; max_size after inflating),
InvalidStatus with the refused answer's status, headers and body (and the
C function behind it, lws_client_response_head, from a C-style client), and
one core context per event loop for all client connections (descriptors
counted in /proc/self/fd)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from support.net import LOCAL
from support.peer import echo_handler, ws_server
from websockets.exceptions import ConnectionClosed as WsClosed

import pylws_ffi as lws
from pylws_ffi import aio
from pylws_ffi.aio import client as aio_client

# ---- a websockets server that records each opening request ----


class Recorder:
    """websockets handler: keeps each request's headers and the extensions
    negotiated, then echoes."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.extensions: list[list[str]] = []
        self.subprotocols: list[str | None] = []
        self.close_codes: list[int | None] = []

    async def __call__(self, ws: Any) -> None:
        self.requests.append(ws.request.headers)
        self.extensions.append([e.name for e in ws.protocol.extensions])
        self.subprotocols.append(ws.subprotocol)
        try:
            async for message in ws:
                if message == "send big zeros":
                    await ws.send(b"\0" * 300_000)  # a few hundred bytes deflated
                else:
                    await ws.send(message)
        except WsClosed:
            pass
        self.close_codes.append(ws.close_code)


@contextlib.contextmanager
def recording(**kw: Any) -> Iterator[tuple[Recorder, int]]:
    rec = Recorder()
    with ws_server(rec, **kw) as srv:
        yield rec, srv.port


# ---- additional_headers, user_agent_header ----


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer abc", "X-Trace": "1"},
        [("Authorization", "Bearer abc"), ("X-Trace", "1"), ("X-Trace", "2")],
        aio.Headers([("Authorization", "Bearer abc"), ("X-Trace", "1")]),
    ],
    ids=["mapping", "pairs", "Headers"],
)
def test_additional_headers_reach_the_server(run, headers):
    with recording() as (rec, port):

        async def main() -> None:
            async with aio.connect(f"ws://{LOCAL}:{port}/", additional_headers=headers) as conn:
                await conn.send("x")
                assert await conn.recv() == "x"

        run(main())
    got = rec.requests[0]
    assert got["Authorization"] == "Bearer abc"
    want_trace = ["1", "2"] if isinstance(headers, list) else ["1"]
    assert got.get_all("X-Trace") == want_trace
    # the default User-Agent, as websockets' "Python/3.x websockets/..."
    ua = got["User-Agent"]
    assert ua == aio.USER_AGENT
    assert ua.startswith(f"Python/{sys.version_info[0]}.{sys.version_info[1]} pylws_ffi/")


@pytest.mark.parametrize(
    "kw, want",
    [
        ({"user_agent_header": None}, None),
        ({"user_agent_header": "my-app/2"}, "my-app/2"),
        ({"additional_headers": {"user-agent": "from-headers/1"}}, "from-headers/1"),
    ],
    ids=["none", "custom", "in-additional-headers"],
)
def test_user_agent_header(run, kw, want):
    with recording() as (rec, port):

        async def main() -> None:
            async with aio.connect(f"ws://{LOCAL}:{port}/", **kw):
                pass

        run(main())
    assert rec.requests[0].get_all("User-Agent") == ([] if want is None else [want])


@pytest.mark.parametrize(
    "headers",
    [
        {"X-A": "1\r\nX-Injected: yes"},
        {"X-A": "1\nX-Injected: yes"},
        {"X-A\r\nX-Injected": "yes"},
        {"X-A: b": "c"},
        {"": "empty name"},
        {"X-A": "nul\0"},
        [("Host", "evil.example")],
        {"Sec-WebSocket-Key": "x"},
    ],
    ids=["value-crlf", "value-lf", "name-crlf", "name-colon", "name-empty", "nul", "host", "key"],
)
def test_bad_headers_are_refused_at_once(headers):
    with pytest.raises(ValueError):
        aio.connect(f"ws://{LOCAL}:9/", additional_headers=headers)


def test_bad_header_arguments():
    with pytest.raises(ValueError, match="injection"):
        aio.connect(f"ws://{LOCAL}:9/", user_agent_header="ua\r\nX-Injected: 1")
    with pytest.raises(ValueError, match="Origin"):
        aio.connect(f"ws://{LOCAL}:9/", origin="http://a", additional_headers={"Origin": "b"})
    with pytest.raises(TypeError):
        aio.connect(f"ws://{LOCAL}:9/", additional_headers="X-A: 1")
    with pytest.raises(ValueError, match="too large"):
        aio.connect(f"ws://{LOCAL}:9/", additional_headers={"X-Big": "a" * 5000})
    with pytest.raises(ValueError, match="compression"):
        aio.connect(f"ws://{LOCAL}:9/", compression="gzip")
    with pytest.raises(ValueError, match="injection"):
        aio.connect(f"ws://{LOCAL}:9/", origin="http://a\r\nX-Injected: 1")
    for bad in ("a\r\nX-Injected: 1", "a b", ""):
        with pytest.raises(ValueError, match="subprotocol"):
            aio.connect(f"ws://{LOCAL}:9/", subprotocols=["chat", bad])


def test_headers_that_just_fit(run):
    """Headers up to what connect() accepts all arrive (none dropped for
    lack of room in the core's request buffer)."""
    big = {f"X-{i}": "v" * 300 for i in range(10)}  # ~3.1 KiB
    with recording() as (rec, port):

        async def main() -> None:
            async with aio.connect(
                f"ws://{LOCAL}:{port}/p", additional_headers=big, subprotocols=["a", "b"]
            ):
                pass

        run(main())
    assert all(rec.requests[0][name] == value for name, value in big.items())


# ---- compression ----


def test_permessage_deflate_offered_by_default(run):
    with recording() as (rec, port):

        async def main() -> None:
            async with aio.connect(f"ws://{LOCAL}:{port}/") as conn:
                text = "compressible " * 10_000
                await conn.send(text)
                assert await conn.recv() == text
            async with aio.connect(f"ws://{LOCAL}:{port}/", compression=None) as conn:
                await conn.send("plain")
                assert await conn.recv() == "plain"

        run(main())
    assert "permessage-deflate" in rec.requests[0]["Sec-WebSocket-Extensions"]
    assert rec.extensions[0] == ["permessage-deflate"]
    assert "Sec-WebSocket-Extensions" not in rec.requests[1]
    assert rec.extensions[1] == []


def test_max_size_applies_after_inflating(run):
    """300 kB of zeros come deflated to a few hundred bytes; a client with
    max_size=64 KiB closes with 1009 (message too big)."""
    with recording() as (rec, port):

        async def main() -> aio.ConnectionClosed:
            async with aio.connect(f"ws://{LOCAL}:{port}/", max_size=65536) as conn:
                await conn.send("send big zeros")
                with pytest.raises(aio.ConnectionClosedError) as info:
                    await conn.recv()
                assert conn.response is not None
                assert "permessage-deflate" in conn.response.headers["Sec-WebSocket-Extensions"]
                return info.value

        exc = run(main())
        deadline = time.monotonic() + 10
        while not rec.close_codes and time.monotonic() < deadline:
            time.sleep(0.01)
    # the core closed it (its close code is what the server got; the client
    # side does not learn the code the core sent for it)
    assert isinstance(exc, aio.ConnectionClosedError)
    assert rec.close_codes == [1009]


# ---- InvalidStatus ----


class RefusingHttp:
    """A plain HTTP server on the loopback (a thread): every connection gets
    ``answer`` (in ``parts``, ``gap`` seconds apart), then is closed."""

    def __init__(self, parts: list[bytes], gap: float = 0.0) -> None:
        self.parts = parts
        self.gap = gap
        self.sock = socket.create_server((LOCAL, 0))
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        self.sock.settimeout(10)
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                with conn:
                    conn.settimeout(5)
                    head = b""
                    while b"\r\n\r\n" not in head:
                        data = conn.recv(4096)
                        if not data:
                            break
                        head += data
                    self.requests.append(head)
                    for i, part in enumerate(self.parts):
                        if i:
                            time.sleep(self.gap)
                        conn.sendall(part)
                    with contextlib.suppress(OSError):
                        conn.shutdown(socket.SHUT_WR)
                        conn.recv(100)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes accept()
        self.sock.close()
        self.thread.join(10)
        assert not self.thread.is_alive()


def answer(status: str, headers: list[tuple[str, str]], body: bytes, length: bool = True) -> bytes:
    lines = [f"HTTP/1.1 {status}"] + [f"{n}: {v}" for n, v in headers]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.mark.parametrize(
    "status, headers, body",
    [
        ("401 Unauthorized", [("WWW-Authenticate", 'Bearer realm="x"')], b"log in first\n"),
        ("403 Forbidden", [("X-Reason", "banned"), ("X-Reason", "twice")], b'{"error":"no"}'),
        ("404 Not Found", [("Content-Type", "text/plain")], b""),
    ],
    ids=["401", "403", "404"],
)
def test_invalid_status(run, status, headers, body):
    server = RefusingHttp([answer(status, headers, body)])
    try:

        async def main() -> None:
            with pytest.raises(aio.InvalidStatus) as info:
                await aio.connect(f"ws://{LOCAL}:{server.port}/chat", additional_headers={"X": "1"})
            exc = info.value
            assert isinstance(exc, aio.InvalidHandshake)
            code = int(status.split()[0])
            assert str(exc) == f"server rejected WebSocket connection: HTTP {code}"
            response = exc.response
            assert response.status_code == code
            assert response.reason_phrase == status.split(" ", 1)[1]
            for name, value in headers:
                assert value in response.headers.get_all(name)
            assert response.headers["Content-Length"] == str(len(body))
            assert response.body == body

        run(main())
    finally:
        server.close()
    assert server.requests[0].startswith(b"GET /chat HTTP/1.1\r\n")


def test_invalid_status_body_that_comes_later(run):
    """The body comes 0.2 s after the head: the client waits for the
    Content-Length it announces."""
    body = b"x" * 3000
    whole = answer("429 Too Many Requests", [("Retry-After", "5")], body)
    cut = whole.index(b"\r\n\r\n") + 4 + 100
    server = RefusingHttp([whole[:cut], whole[cut:]], gap=0.2)
    try:

        async def main() -> aio.Response:
            with pytest.raises(aio.InvalidStatus) as info:
                await aio.connect(f"ws://{LOCAL}:{server.port}/")
            return info.value.response

        response = run(main())
    finally:
        server.close()
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "5"
    assert response.body == body


def test_invalid_status_without_content_length(run):
    """No Content-Length: the body is what came with the head (the server
    closes after it)."""
    server = RefusingHttp([answer("500 Internal Server Error", [], b"oops", length=False)])
    try:

        async def main() -> aio.Response:
            with pytest.raises(aio.InvalidStatus) as info:
                await aio.connect(f"ws://{LOCAL}:{server.port}/")
            return info.value.response

        response = run(main())
    finally:
        server.close()
    assert (response.status_code, response.reason_phrase) == (500, "Internal Server Error")
    assert response.body == b"oops"


def test_a_101_that_fails_its_checks_is_not_invalid_status(run):
    server = RefusingHttp([b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"])
    try:

        async def main() -> None:
            with pytest.raises(aio.InvalidHandshake) as info:
                await aio.connect(f"ws://{LOCAL}:{server.port}/")
            assert not isinstance(info.value, aio.InvalidStatus)
            assert "Connection: Upgrade" in str(info.value)

        run(main())
    finally:
        server.close()


def test_lws_client_response_head_from_a_c_style_client():
    """lws_client_response_head in CLIENT_CONNECTION_ERROR (the refused
    answer and its body), in CLIENT_ESTABLISHED (the 101, no body), None
    elsewhere."""
    body = b"<h1>forbidden</h1>"
    server = RefusingHttp([answer("403 Forbidden", [("X-Why", "because")], body)])
    seen: dict[str, Any] = {}

    def callback(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
            seen.setdefault("error", []).append(lws.lws_client_response_head(wsi))
        elif reason == lws.LWS_CALLBACK_CLIENT_ESTABLISHED:
            seen["established"] = lws.lws_client_response_head(wsi)
        elif reason == lws.LWS_CALLBACK_CLIENT_RECEIVE:
            seen["receive"] = lws.lws_client_response_head(wsi)
            lws.libwebsocket_close_and_free_session(context, wsi, 1000)
        elif reason == lws.LWS_CALLBACK_CLOSED:
            seen["closed"] = True
        return 0

    ctx = lws.libwebsocket_create_context(
        lws.CONTEXT_PORT_NO_LISTEN, None, [("", callback, 0)], None, None, None, None, -1, -1, 0
    )
    try:
        lws.libwebsocket_client_connect(ctx, LOCAL, server.port, 0, "/", LOCAL, None, None, -1)
        deadline = time.monotonic() + 10
        while "error" not in seen and time.monotonic() < deadline:
            lws.libwebsocket_service(ctx, 50)
        head, got_body = seen["error"][0]
        assert head.startswith(b"HTTP/1.1 403 Forbidden\r\n")
        assert b"\r\nX-Why: because\r\n" in head
        assert head.endswith(b"\r\n\r\n")
        assert got_body == body

        # established: the 101 as received, no body
        with ws_server(echo_handler, compression=None) as srv:
            wsi = lws.libwebsocket_client_connect(
                ctx, LOCAL, srv.port, 0, "/", LOCAL, None, None, -1
            )
            deadline = time.monotonic() + 10
            while "established" not in seen and time.monotonic() < deadline:
                lws.libwebsocket_service(ctx, 50)
            head, got_body = seen["established"]
            assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
            assert b"Sec-WebSocket-Accept: " in head and head.endswith(b"\r\n\r\n")
            assert got_body == b""
            assert lws.lws_client_response_head(wsi) is None  # outside the callbacks
            lws.libwebsocket_write(wsi, b"hi", 2, lws.LWS_WRITE_TEXT)
            deadline = time.monotonic() + 10
            while "closed" not in seen and time.monotonic() < deadline:
                lws.libwebsocket_service(ctx, 50)
            assert seen["receive"] is None
    finally:
        lws.libwebsocket_context_destroy(ctx)
        server.close()


# ---- one shared context per loop ----


def test_per_connection_settings_in_the_shared_context(run):
    """Two connections of one loop share a context, yet each keeps its
    max_size, compression and subprotocol."""
    with recording(subprotocols=["a", "b"]) as (rec, port):

        async def main() -> None:
            url = f"ws://{LOCAL}:{port}/"
            small = await aio.connect(url, max_size=1000, compression=None, subprotocols=["a"])
            large = await aio.connect(url, max_size=None, subprotocols=["b"])
            assert small._endpoint is large._endpoint  # one context
            assert (small.subprotocol, large.subprotocol) == ("a", "b")
            for conn in (large, small):
                await conn.send("y" * 2000)
            assert await large.recv() == "y" * 2000
            with pytest.raises(aio.ConnectionClosedError):
                await small.recv()
            await large.send("still open")
            assert await large.recv() == "still open"
            await large.close()

        run(main())
        deadline = time.monotonic() + 10
        while len(rec.close_codes) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert sorted(rec.extensions) == [[], ["permessage-deflate"]]
    assert sorted(rec.close_codes) == [1000, 1009]


SERVER = """
import asyncio, sys
from websockets.asyncio.server import serve

async def echo(ws):
    async for m in ws:
        await ws.send(m)

async def main():
    async with serve(echo, "127.0.0.1", 0, ping_interval=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(60)

asyncio.run(main())
"""


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_descriptors_per_connection(run):
    """20 client connections of one loop: about one descriptor each (their
    sockets) plus a constant, instead of a context (six descriptors) each;
    all of them gone once the connections are closed.  The server is
    another process, so that only the client's descriptors count here."""
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())

        async def main() -> tuple[int, int, int]:
            await asyncio.sleep(0)
            before = open_fds()
            conns = [await aio.connect(f"ws://{LOCAL}:{port}/") for _ in range(20)]
            for i, conn in enumerate(conns):
                await conn.send(str(i))
                assert await conn.recv() == str(i)
            during = open_fds()
            await asyncio.gather(*(conn.close() for conn in conns))
            await asyncio.sleep(0.05)
            # the context went with its last connection
            assert asyncio.get_running_loop() not in aio_client._shared
            return before, during, open_fds()

        before, during, after = run(main())
    finally:
        proc.kill()
        proc.wait(10)
    print(f"descriptors: {before} before, {during} with 20 connections, {after} after")
    assert during - before <= 20 + 8, (before, during)
    assert after == before


def test_context_reused_and_destroyed_with_its_last_connection(run):
    with ws_server(echo_handler) as srv:

        async def main() -> None:
            url = f"ws://{LOCAL}:{srv.port}/"
            first = await aio.connect(url)
            endpoint = first._endpoint
            second = await aio.connect(url)
            assert second._endpoint is endpoint
            await first.close()
            assert not endpoint.aio.closed  # the second still uses it
            await second.close()
            await asyncio.sleep(0)
            assert endpoint.aio.closed
            third = await aio.connect(url)  # a new one
            assert third._endpoint is not endpoint
            await third.close()

            # a failed and a timed-out connect release it too
            with socket.socket() as idle:
                idle.bind((LOCAL, 0))
                idle.listen()
                with pytest.raises(asyncio.TimeoutError):
                    await aio.connect(f"ws://{LOCAL}:{idle.getsockname()[1]}/", open_timeout=0.2)
            with pytest.raises(aio.InvalidHandshake):
                await aio.connect(f"ws://{LOCAL}:1/")
            await asyncio.sleep(0)
            assert asyncio.get_running_loop() not in aio_client._shared

        run(main())


def test_tls_files_key_the_shared_contexts(run, tls_certs):
    """The core's context holds the TLS files (its client SSL_CTX): wss://
    connections with the same cafile share one, one without cafile gets
    another, whose verification does not know that CA."""
    from websockets.asyncio.server import serve as ws_serve

    async def main() -> None:
        ssl_context = tls_certs.server_context(tls_certs.server)
        async with ws_serve(echo_handler, LOCAL, 0, ssl=ssl_context) as server:
            url = f"wss://{LOCAL}:{server.sockets[0].getsockname()[1]}/"
            a = await aio.connect(url, cafile=tls_certs.ca.cert)
            b = await aio.connect(url, cafile=str(tls_certs.ca.cert))
            assert a._endpoint is b._endpoint
            with pytest.raises(aio.InvalidCertificate):
                await aio.connect(url, open_timeout=10)  # the test CA is not a system one
            c = await aio.connect(url, allow_self_signed=False, cafile=tls_certs.ca.cert)
            assert c._endpoint is a._endpoint
            for conn in (a, b, c):
                await conn.send("over wss")
                assert await conn.recv() == "over wss"
                await conn.close()
            assert a._endpoint.aio.closed
            assert asyncio.get_running_loop() not in aio_client._shared

    run(main())

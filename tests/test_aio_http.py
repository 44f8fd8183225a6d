"""HTTP beside WebSocket on one port, as `websockets` does it: process_request
(plain HTTP answers, a refused upgrade with a real HTTP answer),
process_response and server_header (headers of the 101), static_dir (the
core's serve_http_file path, no traversal), and permessage-deflate by
default with max_size applied after inflating.  Peers: the `websockets`
client, http.client and raw sockets; the C-style lws_add_response_header."""

from __future__ import annotations

import asyncio
import base64
import http.client
import logging
import os
import socket
import zlib
from pathlib import Path
from typing import Any

import pytest
from support.net import free_port
from test_binding import read_all
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosedError, InvalidStatus

import pylws_ffi as lws
from pylws_ffi import aio


async def _echo(conn: aio.Connection) -> None:
    async for message in conn:
        await conn.send(message)


def _get(port: int, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> Any:
    """(status, headers dict lowercased, body) over http.client."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _raw(port: int, request: bytes) -> bytes:
    """Send a raw request, read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def _upgrade_request(path: str = "/", extra: str = "") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()


# ---- process_request ----


def test_process_request_health_page_401_and_403(run: Any) -> None:
    seen: list[tuple[str, str | None, Any]] = []

    def process_request(conn: aio.Connection, request: aio.Request) -> aio.Response | None:
        seen.append((request.path, request.headers.get("X-Probe"), conn.remote_address))
        if request.path == "/healthz":
            return conn.respond(200, "OK\n")
        if request.path == "/page":
            body = b"<h1>hi</h1>"
            headers = aio.Headers([("Content-Type", "text/html")])
            return aio.Response(200, "OK", headers, body)
        if request.path == "/private" and request.headers.get("Authorization") != "Bearer ok":
            response = conn.respond(401, "who are you?\n")
            response.headers["WWW-Authenticate"] = 'Bearer realm="x"'
            return response
        if request.path == "/closed":
            return conn.respond(403, "no upgrade here\n")
        return None

    async def main() -> None:
        async with aio.serve(_echo, "127.0.0.1", 0, process_request=process_request) as server:
            port = server.port
            status, headers, body = await asyncio.to_thread(
                _get, port, "/healthz", headers={"X-Probe": "1"}
            )
            assert (status, body) == (200, b"OK\n")
            assert headers["content-type"] == "text/plain; charset=utf-8"
            assert headers["server"].startswith("pylws_ffi/")
            status, headers, body = await asyncio.to_thread(_get, port, "/page")
            assert (status, body, headers["content-type"]) == (200, b"<h1>hi</h1>", "text/html")
            status, headers, _ = await asyncio.to_thread(_get, port, "/page", "HEAD")
            assert status == 200 and headers["content-length"] == "11"
            status, _, _ = await asyncio.to_thread(_get, port, "/other")
            assert status == 404  # None: the library's 404, as before
            # respond()'s "Connection: close": the server closes after it
            data = await asyncio.to_thread(_raw, port, b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
            assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"\r\n\r\nOK\n")

            # an upgrade refused with a 401 and its header, seen by websockets
            with pytest.raises(InvalidStatus) as info:
                async with ws_connect(f"ws://127.0.0.1:{port}/private"):
                    pass
            assert info.value.response.status_code == 401
            assert info.value.response.headers["WWW-Authenticate"] == 'Bearer realm="x"'
            assert info.value.response.body == b"who are you?\n"
            async with ws_connect(
                f"ws://127.0.0.1:{port}/private",
                additional_headers={"Authorization": "Bearer ok"},
            ) as ws:
                await ws.send("x")
                assert await ws.recv() == "x"
            with pytest.raises(InvalidStatus) as info:
                async with ws_connect(f"ws://127.0.0.1:{port}/closed"):
                    pass
            assert info.value.response.status_code == 403
            assert info.value.response.body == b"no upgrade here\n"
            # the refused upgrade's answer is the only one, then the close
            data = await asyncio.to_thread(_raw, port, _upgrade_request("/closed"))
            assert data.startswith(b"HTTP/1.1 403 Forbidden\r\n")
            assert data.count(b"HTTP/1.1") == 1 and data.endswith(b"no upgrade here\n")

    run(main())
    assert seen[0][0] == "/healthz" and seen[0][1] == "1" and seen[0][2] is not None


def test_process_request_keep_alive_and_coroutine(run: Any) -> None:
    async def process_request(conn: aio.Connection, request: aio.Request) -> aio.Response | None:
        await asyncio.sleep(0)  # awaits that do not suspend
        if request.path.startswith("/n/"):
            return aio.Response(200, "OK", aio.Headers(), request.path[3:].encode())
        return None

    async def main() -> None:
        async with aio.serve(_echo, "127.0.0.1", 0, process_request=process_request) as server:

            def two_on_one() -> list[bytes]:
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
                out = []
                for i in range(2):  # a Response without Connection: close keeps it open
                    conn.request("GET", f"/n/{i}")
                    out.append(conn.getresponse().read())
                conn.close()
                return out

            assert await asyncio.to_thread(two_on_one) == [b"0", b"1"]
            async with ws_connect(f"ws://127.0.0.1:{server.port}/") as ws:
                await ws.send("y")
                assert await ws.recv() == "y"

    run(main())


def test_keep_alive_http_then_upgrade_on_one_connection(run: Any) -> None:
    """An answer of process_request on a kept connection, then an upgrade on
    it: the earlier answer does not count as the filter's own."""

    def process_request(conn: aio.Connection, request: aio.Request) -> aio.Response | None:
        if request.path == "/page":
            return aio.Response(200, "OK", aio.Headers(), b"page")
        return None

    async def main() -> None:
        async with aio.serve(_echo, "127.0.0.1", 0, process_request=process_request) as server:

            def talk() -> bytes:
                with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                    sock.sendall(b"GET /page HTTP/1.1\r\nHost: h\r\n\r\n")
                    data = b""
                    while not data.endswith(b"page"):
                        data += sock.recv(4096)
                    sock.sendall(_upgrade_request())
                    data = b""
                    while b"\r\n\r\n" not in data:
                        chunk = sock.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    return data

            assert (await asyncio.to_thread(talk)).startswith(b"HTTP/1.1 101 ")

    run(main())


def test_the_handler_gets_the_connection_process_request_saw(run: Any) -> None:
    seen: list[Any] = []

    def process_request(conn: aio.Connection, request: aio.Request) -> aio.Response | None:
        seen.append((conn, conn.request is request, conn.closed))
        return None

    async def handler(conn: aio.Connection) -> None:
        seen.append(conn)
        await conn.send(conn.request.path if conn.request else "")

    async def main() -> None:
        async with aio.serve(handler, "127.0.0.1", 0, process_request=process_request) as server:  # noqa: SIM117
            async with ws_connect(f"ws://127.0.0.1:{server.port}/p?q=1") as ws:
                assert await ws.recv() == "/p?q=1"

    run(main())
    assert seen[0][0] is seen[1] and seen[0][1:] == (True, False)


def test_process_request_exception_is_500_and_logged(
    run: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def process_request(conn: aio.Connection, request: aio.Request) -> aio.Response | None:
        raise RuntimeError("boom in process_request")

    async def suspends(conn: aio.Connection, request: aio.Request) -> aio.Response | None:
        await asyncio.sleep(0.01)  # real waiting: refused
        return None

    async def main() -> None:
        async with aio.serve(_echo, "127.0.0.1", 0, process_request=process_request) as server:
            status, _, body = await asyncio.to_thread(_get, server.port, "/")
            assert status == 500 and b"server log" in body
            with pytest.raises(InvalidStatus) as info:
                async with ws_connect(f"ws://127.0.0.1:{server.port}/"):
                    pass
            assert info.value.response.status_code == 500
        async with aio.serve(_echo, "127.0.0.1", 0, process_request=suspends) as server:
            status, _, _ = await asyncio.to_thread(_get, server.port, "/")
            assert status == 500

    with caplog.at_level(logging.ERROR, logger="pylws_ffi.aio"):
        run(main())
    assert "boom in process_request" in caplog.text
    assert "suspended" in caplog.text


# ---- the 101's headers ----


def test_server_header_and_process_response(run: Any) -> None:
    def process_response(
        conn: aio.Connection, request: aio.Request, response: aio.Response
    ) -> aio.Response | None:
        assert response.status_code == 101
        response.headers["Set-Cookie"] = "session=1; HttpOnly"
        response.headers["Sec-WebSocket-Accept"] = "ignored: the core writes it"
        if request.path == "/refuse":
            return conn.respond(403, "late refusal\n")
        return None

    async def main() -> None:
        async with aio.serve(_echo, "127.0.0.1", 0, process_response=process_response) as server:
            async with ws_connect(f"ws://127.0.0.1:{server.port}/") as ws:
                headers = ws.response.headers
                assert headers["Set-Cookie"] == "session=1; HttpOnly"
                assert headers["Server"].startswith("pylws_ffi/")
                assert len(headers.get_all("Sec-WebSocket-Accept")) == 1
                await ws.send("z")
                assert await ws.recv() == "z"
            with pytest.raises(InvalidStatus) as info:
                async with ws_connect(f"ws://127.0.0.1:{server.port}/refuse"):
                    pass
            assert info.value.response.status_code == 403
        async with aio.serve(_echo, "127.0.0.1", 0, server_header=None) as server:  # noqa: SIM117
            async with ws_connect(f"ws://127.0.0.1:{server.port}/") as ws:
                assert "Server" not in ws.response.headers
        async with aio.serve(_echo, "127.0.0.1", 0, server_header="mine/1") as server:  # noqa: SIM117
            async with ws_connect(f"ws://127.0.0.1:{server.port}/") as ws:
                assert ws.response.headers["Server"] == "mine/1"

    run(main())


def test_header_injection_refused(run: Any) -> None:
    with pytest.raises(ValueError):
        aio.serve(_echo, "127.0.0.1", 0, server_header="x\r\nSet-Cookie: evil=1")

    def process_response(
        conn: aio.Connection, request: aio.Request, response: aio.Response
    ) -> aio.Response | None:
        response.headers["X-Bad"] = "a\r\nSet-Cookie: evil=1"
        return None

    async def main() -> None:
        async with aio.serve(_echo, "127.0.0.1", 0, process_response=process_response) as server:
            data = await asyncio.to_thread(_raw, server.port, _upgrade_request())
            assert data.startswith(b"HTTP/1.1 500 ")
            assert b"evil" not in data

    run(main())


def test_lws_add_response_header_c_style() -> None:
    results: list[Any] = []

    def callback(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
            add = lws.lws_add_response_header
            results.append(add(wsi, "X-One", "1"))
            results.append(add(wsi, b"Set-Cookie", b"a=b; Path=/"))
            for name, value in (
                ("X-Bad", "a\r\nX-Evil: 1"),
                ("X-Bad", "a\nb"),
                ("X Bad", "v"),
                ("X-Bad:", "v"),
                ("", "v"),
                ("X-Bad", "a\0b"),
            ):
                ffi_errno = add(wsi, name, value)
                results.append((ffi_errno, lws.ffi.errno))
            results.append(add(wsi, "X-Big", "v" * 5000))
        if reason == lws.LWS_CALLBACK_ESTABLISHED:
            results.append(("est", lws.lws_add_response_header(wsi, "X-Late", "1")))
        return 0

    port = free_port()
    ctx = lws.libwebsocket_create_context(port, None, [("p", callback)])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(_upgrade_request())
            data = read_all(ctx, sock, lambda d: b"\r\n\r\n" in d)
    finally:
        lws.libwebsocket_context_destroy(ctx)
    head = data.split(b"\r\n\r\n")[0]
    assert head.startswith(b"HTTP/1.1 101 ")
    assert b"\r\nX-One: 1\r\nSet-Cookie: a=b; Path=/" in head
    assert b"Evil" not in head and b"X-Bad" not in head and b"X-Big" not in head
    assert results[:2] == [0, 0]
    import errno

    assert results[2:8] == [(-1, errno.EINVAL)] * 6
    assert results[8] == -1
    assert results[9] == ("est", -1)


# ---- static files ----


@pytest.fixture
def www(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_text("<p>index</p>")
    (root / "app.js").write_text("let a = 1;")
    (root / "sub" / "data.json").write_text('{"a": 1}')
    (root / "blob.bin").write_bytes(bytes(range(256)) * 1000)
    (tmp_path / "secret.txt").write_text("secret")
    (root / "link").symlink_to(tmp_path / "secret.txt")
    return root


def test_static_dir(run: Any, www: Path) -> None:
    async def main() -> None:
        async with aio.serve(_echo, "127.0.0.1", 0, static_dir=www) as server:
            port = server.port
            get = lambda path, *a: asyncio.to_thread(_get, port, path, *a)  # noqa: E731
            status, headers, body = await get("/")
            assert (status, body) == (200, b"<p>index</p>")
            assert headers["content-type"].startswith("text/html")
            status, headers, body = await get("/app.js?v=2")
            assert status == 200 and body == b"let a = 1;"
            assert "javascript" in headers["content-type"]
            status, headers, body = await get("/sub/data.json")
            assert (status, headers["content-type"]) == (200, "application/json; charset=utf-8")
            status, headers, body = await get("/blob.bin")
            assert status == 200 and body == bytes(range(256)) * 1000
            assert headers["content-type"] == "application/octet-stream"
            status, headers, body = await get("/blob.bin", "HEAD")
            assert status == 200 and body == b"" and headers["content-length"] == "256000"
            assert (await get("/missing.html"))[0] == 404
            status, headers, _ = await get("/index.html", "DELETE")
            assert status == 405 and headers["allow"] == "GET, HEAD"
            assert (await get("/sub/"))[0] == 404  # no index.html there
            for bad in ("/link", "/%2e%2e/secret.txt", "/sub/%2E%2E/%2e%2e/secret.txt",
                        "/..%2fsecret.txt", "/sub/..%5c..%5csecret.txt", "/a%00b"):  # fmt: skip
                status, _, body = await get(bad)
                assert status == 403, bad
                assert b"secret" not in body
            # what http.client would normalise: raw
            for raw in (b"/../secret.txt", b"/sub/../../secret.txt", b"//etc/passwd"):
                data = await asyncio.to_thread(
                    _raw, port, b"GET " + raw + b" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
                )
                assert data.split(b" ")[1] in (b"403", b"404"), raw
                assert b"secret" not in data and b"root:" not in data
            # the WebSocket still works on the same port
            async with ws_connect(f"ws://127.0.0.1:{port}/") as ws:
                await ws.send("w")
                assert await ws.recv() == "w"

    run(main())


def test_static_dir_must_exist(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        aio.serve(_echo, "127.0.0.1", 0, static_dir=tmp_path / "nope")


# ---- compression ----


def test_compression_default_and_off(run: Any) -> None:
    async def main() -> None:
        async with aio.serve(_echo, "127.0.0.1", 0) as server:  # noqa: SIM117
            async with ws_connect(f"ws://127.0.0.1:{server.port}/") as ws:
                assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
                assert [e.name for e in ws.protocol.extensions] == ["permessage-deflate"]
                await ws.send("a" * 100_000)
                assert await ws.recv() == "a" * 100_000
        async with aio.serve(_echo, "127.0.0.1", 0, compression=None) as server:  # noqa: SIM117
            async with ws_connect(f"ws://127.0.0.1:{server.port}/") as ws:
                assert "Sec-WebSocket-Extensions" not in ws.response.headers
                assert ws.protocol.extensions == []
                await ws.send("b")
                assert await ws.recv() == "b"
        with pytest.raises(ValueError):
            aio.serve(_echo, "127.0.0.1", 0, compression="brotli")

    run(main())


def test_max_size_applies_after_inflating(run: Any) -> None:
    got: list[Any] = []

    async def handler(conn: aio.Connection) -> None:
        try:
            async for message in conn:
                got.append(len(message))
        except aio.ConnectionClosed:
            pass

    payload = b"\0" * 200_000
    comp = zlib.compressobj(wbits=-15)
    deflated = comp.compress(payload) + comp.flush(zlib.Z_SYNC_FLUSH)
    assert deflated.endswith(b"\0\0\xff\xff")
    deflated = deflated[:-4]
    assert len(deflated) < 1000  # far below max_size on the wire

    def frame(data: bytes) -> bytes:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        n = len(data)
        length = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
        return bytes([0x80 | 0x40 | 0x2]) + length + mask + masked  # FIN, RSV1, binary

    async def main() -> None:
        async with aio.serve(handler, "127.0.0.1", 0, max_size=10_000) as server:

            def attack() -> bytes:
                with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                    sock.sendall(
                        _upgrade_request(extra="Sec-WebSocket-Extensions: permessage-deflate\r\n")
                    )
                    data = b""
                    while b"\r\n\r\n" not in data:
                        data += sock.recv(4096)
                    head, _, rest = data.partition(b"\r\n\r\n")
                    assert b"permessage-deflate" in head
                    sock.sendall(frame(deflated))
                    while chunk := sock.recv(65536):
                        rest += chunk
                    return rest

            rest = await asyncio.to_thread(attack)
            # the server's close frame: 1009
            assert rest[0] == 0x88 and rest[2:4] == (1009).to_bytes(2, "big"), rest[:8]
            # a websockets client sees the same
            async with ws_connect(f"ws://127.0.0.1:{server.port}/", max_size=None) as ws:
                await ws.send(payload)
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert info.value.rcvd is not None and info.value.rcvd.code == 1009

    run(main())
    assert got == []


# ---- over TLS ----


def test_http_static_and_compression_over_tls(run: Any, tls_certs: Any, www: Path) -> None:
    def process_request(conn: aio.Connection, request: aio.Request) -> aio.Response | None:
        return conn.respond(200, "OK\n") if request.path == "/healthz" else None

    async def main() -> None:
        async with aio.serve(
            _echo, "127.0.0.1", 0, certfile=tls_certs.server.cert, keyfile=tls_certs.server.key,
            process_request=process_request, static_dir=www,
        ) as server:  # fmt: skip
            ctx = tls_certs.client_context()

            def get(path: str) -> tuple[int, bytes]:
                conn = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=5, context=ctx)
                try:
                    conn.request("GET", path)
                    resp = conn.getresponse()
                    return resp.status, resp.read()
                finally:
                    conn.close()

            assert await asyncio.to_thread(get, "/healthz") == (200, b"OK\n")
            assert await asyncio.to_thread(get, "/blob.bin") == (200, bytes(range(256)) * 1000)
            assert (await asyncio.to_thread(get, "/%2e%2e/secret.txt"))[0] == 403
            async with ws_connect(f"wss://127.0.0.1:{server.port}/", ssl=ctx) as ws:
                assert [e.name for e in ws.protocol.extensions] == ["permessage-deflate"]
                await ws.send("t" * 50_000)
                assert await ws.recv() == "t" * 50_000

    run(main())

"""TLS, both sides, with the test CA of tests/tls_certs.py (made per session
with the openssl command line).

Our server: an in-process context served by a thread of its own (``inproc``:
Python callbacks, the OpenSSL callbacks recorded) and the example servers
started with their TLS options (``c``: examples/echo_server.c and
test-server.c under ASan/UBSan; ``python``: the same examples in Python),
against the ``websockets`` client over an ``ssl.SSLContext``, urllib and
http.client, and raw sockets (plain HTTP and garbage to the TLS port).

Our client: libwebsocket_client_connect with ssl_connection 1 and 2 against
``websockets`` servers over TLS (the test CA loaded through
LOAD_EXTRA_CLIENT_VERIFY_CERTS, whose ``user`` is the client SSL_CTX: the
tests call OpenSSL on it through the binding's cdef), and against the C echo server.

Everything listens on 127.0.0.1; servers in subprocesses are stopped by PID.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import http.client
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections import defaultdict, deque
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from servers import ROOT, asan_build, send_and_receive
from support.net import free_port
from support.raw import frame
from support.served import Echo, capture_log
from tls_certs import Certs, Pair, start_example
from websockets.asyncio.client import connect as aconnect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed, InvalidHandshake

import pylws_ffi as lws
from pylws_ffi import ffi, lib

LOCAL = "127.0.0.1"
MIB = 1 << 20
SIZES = [0, 1, 125, 126, 65535, 65536, MIB, 16 * MIB]
RESOURCES = ROOT / "examples" / "resources"

VERIFY_CLIENT = lws.LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION
LOAD_SERVER = lws.LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS
LOAD_CLIENT = lws.LWS_CALLBACK_OPENSSL_LOAD_EXTRA_CLIENT_VERIFY_CERTS
REQUIRE_CERT = lws.LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT

# what a TLS client sees when the server refuses its handshake (or drops it)
REFUSED = (ssl.SSLError, OSError, EOFError, ConnectionClosed, InvalidHandshake, TimeoutError)


# ====================================================================== OpenSSL


class OpenSSL:
    """The few libssl/libcrypto calls the tests make on the pointers the
    OpenSSL callbacks pass, through the binding's cdef (the libssl the core is
    linked with); pointers are given and returned as addresses (ints)."""

    def SSL_CTX_load_verify_locations(self, ssl_ctx: int, cafile: bytes, capath: Any) -> int:
        ctx = ffi.cast("SSL_CTX *", ssl_ctx)
        return lib.SSL_CTX_load_verify_locations(ctx, cafile, capath or ffi.NULL)

    def SSL_CTX_use_certificate_chain_file(self, ssl_ctx: int, file: bytes) -> int:
        return lib.SSL_CTX_use_certificate_chain_file(ffi.cast("SSL_CTX *", ssl_ctx), file)

    def SSL_CTX_use_PrivateKey_file(self, ssl_ctx: int, file: bytes, kind: int) -> int:
        return lib.SSL_CTX_use_PrivateKey_file(ffi.cast("SSL_CTX *", ssl_ctx), file, kind)

    def SSL_is_server(self, ssl_: int) -> int:
        return lib.SSL_is_server(ffi.cast("SSL *", ssl_))

    def SSL_get_SSL_CTX(self, ssl_: int) -> int:
        return addr(lib.SSL_get_SSL_CTX(ffi.cast("SSL *", ssl_)))

    def X509_STORE_CTX_get_error_depth(self, store_ctx: int) -> int:
        return lib.X509_STORE_CTX_get_error_depth(ffi.cast("X509_STORE_CTX *", store_ctx))

    def subject(self, store_ctx: int) -> str:
        cert = lib.X509_STORE_CTX_get_current_cert(ffi.cast("X509_STORE_CTX *", store_ctx))
        if cert == ffi.NULL:
            return ""
        buf = ffi.new("char[512]")
        lib.X509_NAME_oneline(lib.X509_get_subject_name(cert), buf, len(buf))
        return ffi.string(buf).decode()


@functools.cache
def openssl() -> OpenSSL:
    return OpenSSL()


def addr(cdata: Any) -> int:
    return int(ffi.cast("uintptr_t", cdata))


# ====================================================================== our server, in process


class TLSThreadServer:
    """A TLS context on a free port of 127.0.0.1, served by a thread of its
    own.  protocols[0] echoes (tests/support/served.py's Echo), serves ``files``
    ({uri: (path, content type)}) over HTTP, and records its OpenSSL
    callbacks in ``calls``; ``verify(info) -> int`` answers
    PERFORM_CLIENT_CERT_VERIFICATION and ``load_extra(ssl_ctx) -> int``
    answers LOAD_EXTRA_SERVER_VERIFY_CERTS (both called on that thread)."""

    def __init__(
        self,
        certs: Certs,
        pair: Pair | None = None,
        ca: str | None = None,
        options: int = 0,
        verify: Callable[[dict[str, Any]], int] | None = None,
        load_extra: Callable[[int], int] | None = None,
        files: dict[str, tuple[str, str]] | None = None,
        extensions: Any = None,
        handshake_timeout: int | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"wss://{LOCAL}:{self.port}"
        self.pair = pair or certs.server
        self.ca, self.options = ca, options
        self.verify, self.load_extra = verify, load_extra
        self.files = files or {}
        self.calls: list[dict[str, Any]] = []
        self.established = 0
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(extensions, handshake_timeout), daemon=True
        )
        self.thread.start()
        assert self.ready.wait(20), "the server thread did not start"
        if self.error:
            self.thread.join(10)
            raise self.error

    def _other(self, context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == VERIFY_CLIENT:
            o = openssl()
            info = {
                "reason": reason,
                "wsi": wsi != ffi.NULL,
                "preverify_ok": len_,
                "depth": o.X509_STORE_CTX_get_error_depth(addr(user)),
                "subject": o.subject(addr(user)),
                "is_server": o.SSL_is_server(addr(in_)),
                "ssl_ctx": o.SSL_get_SSL_CTX(addr(in_)),
            }
            self.calls.append(info)
            return self.verify(info) if self.verify else 0
        if reason == LOAD_SERVER:
            self.calls.append(
                {"reason": reason, "wsi": wsi != ffi.NULL, "ssl_ctx": addr(user),
                 "in": in_ != ffi.NULL, "len": len_, "thread": threading.get_ident()}
            )  # fmt: skip
            return self.load_extra(addr(user)) if self.load_extra else 0
        if reason == lws.LWS_CALLBACK_ESTABLISHED:
            self.established += 1
        if reason == lws.LWS_CALLBACK_HTTP:
            uri = lws.payload(in_, len_).decode()
            if uri not in self.files:
                return 1  # 404
            path, content_type = self.files[uri]
            return 1 if lws.libwebsockets_serve_http_file(context, wsi, path, content_type) else 0
        return 0

    def _run(self, extensions: Any, handshake_timeout: int | None) -> None:
        try:
            ctx = lws.libwebsocket_create_context(
                self.port, LOCAL, [("echo", Echo(self._other), 0)], extensions,
                self.pair.cert, self.pair.key, self.ca, -1, -1, self.options,
            )  # fmt: skip
            if handshake_timeout:
                lws.lws_set_handshake_timeout(ctx, handshake_timeout)
        except BaseException as e:
            self.error = e
            self.ready.set()
            return
        self.ready.set()
        try:
            while not self.stop.is_set():
                if lws.libwebsocket_service(ctx, 20) < 0:
                    break
        except BaseException as e:  # reported by close()
            self.error = e
        finally:
            lws.libwebsocket_context_destroy(ctx)

    def alive(self) -> bool:
        return self.thread.is_alive()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(15)
        assert not self.thread.is_alive(), "the server thread did not stop"
        if self.error:
            raise self.error


@contextlib.contextmanager
def tls_server(certs: Certs, **kw: Any) -> Iterator[TLSThreadServer]:
    server = TLSThreadServer(certs, **kw)
    try:
        yield server
    finally:
        server.close()


# ====================================================================== clients of our server


def wss(url: str, ctx: ssl.SSLContext, **kw: Any) -> Any:
    kw.setdefault("max_size", None)
    kw.setdefault("compression", None)
    kw.setdefault("open_timeout", 10)
    kw.setdefault("close_timeout", 10)
    return aconnect(url, ssl=ctx, **kw)


def roundtrip(url: str, ctx: ssl.SSLContext, message: str | bytes, **kw: Any) -> str | bytes:
    async def go() -> str | bytes:
        async with wss(url, ctx, **kw) as ws:
            return await send_and_receive(ws, message)

    return asyncio.run(asyncio.wait_for(go(), 90))


def refused(url: str, ctx: ssl.SSLContext) -> BaseException:
    """Connect and exchange a message; return what made it fail (the test
    fails if it worked)."""

    async def go() -> None:
        async with wss(url, ctx, open_timeout=10) as ws:
            await ws.send("hello?")
            await asyncio.wait_for(ws.recv(), 10)

    try:
        asyncio.run(asyncio.wait_for(go(), 30))
    except REFUSED as e:
        return e
    raise AssertionError("the server accepted the connection")


class Held:
    """A connection of the websockets client kept open in a thread of its own
    while the test does other things; ``echo(data)`` checks it still works."""

    def __init__(self, url: str, ctx: ssl.SSLContext) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.ws = self._call(wss(url, ctx).__aenter__())

    def _call(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def echo(self, data: str | bytes) -> None:
        assert self._call(send_and_receive(self.ws, data, 20)) == data

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._call(self.ws.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@contextlib.contextmanager
def held(url: str, ctx: ssl.SSLContext) -> Iterator[Held]:
    h = Held(url, ctx)
    try:
        yield h
    finally:
        h.close()


def text_of(size: int) -> str:
    """Text of ``size`` UTF-8 bytes or a little less, multi-byte characters."""
    unit = "aé€😀"  # 1 + 2 + 3 + 4 bytes
    return unit * (size // 10) + "a" * (size % 10)


# ====================================================================== echo, every server


@pytest.fixture(scope="module", params=["inproc", "c", "python"])
def echo_tls(request, tls_certs: Certs):
    """A TLS echo server with the test CA's localhost certificate."""
    if request.param == "inproc":
        server = TLSThreadServer(tls_certs, extensions=lws.libwebsocket_internal_extensions)
        yield server
        server.close()
    else:
        server = start_example(
            "echo_server", request.param, "--cert", tls_certs.server.cert,
            "--key", tls_certs.server.key, "--handshake-timeout", "3",
        )  # fmt: skip
        yield server
        assert server.alive()
        server.stop()


@pytest.mark.parametrize("size", SIZES)
def test_binary_echo(echo_tls, tls_certs, size):
    data = os.urandom(size)
    assert roundtrip(echo_tls.url, tls_certs.client_context(), data) == data


@pytest.mark.parametrize("size", SIZES)
def test_text_echo(echo_tls, tls_certs, size):
    text = text_of(size)
    assert roundtrip(echo_tls.url, tls_certs.client_context(), text) == text


def test_by_host_name_with_sni(echo_tls, tls_certs):
    # the certificate's DNS name, the client sending it as SNI
    data = os.urandom(3000)
    assert (
        roundtrip(echo_tls.url, tls_certs.client_context(), data, server_hostname="localhost")
        == data
    )


def test_deflate_over_tls(echo_tls, tls_certs):
    text = "compressible " * 100_000
    assert roundtrip(echo_tls.url, tls_certs.client_context(), text, compression="deflate") == text


def test_many_messages_and_connections(echo_tls, tls_certs):
    ctx = tls_certs.client_context()

    async def one(k: int) -> None:
        async with wss(echo_tls.url, ctx) as ws:
            for i in range(50):
                msg = f"{k}:{i}:" + "x" * (k * 37 % 3000)
                await ws.send(msg)
                assert await asyncio.wait_for(ws.recv(), 20) == msg

    async def go() -> None:
        await asyncio.gather(*(one(k) for k in range(20)))

    asyncio.run(asyncio.wait_for(go(), 90))


def _old_tls_client(tls_certs: Certs) -> ssl.SSLContext:
    """A client that speaks TLS 1.0 and 1.1 only (any cipher, any security level)."""
    ctx = tls_certs.client_context()
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    return ctx


def _tls_handshake(port: int, ctx: ssl.SSLContext) -> str:
    """The TLS version agreed with 127.0.0.1:port, or the handshake's error."""
    with socket.create_connection((LOCAL, port), timeout=10) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                return str(s.version())
        except (ssl.SSLError, OSError) as e:
            return f"refused: {e}"


def test_tls_1_0_and_1_1_are_refused(echo_tls, tls_certs):
    old = _old_tls_client(tls_certs)
    # the control: this client does speak TLS 1.1 to a server that allows it,
    # so a refusal below is our server's doing
    control = tls_certs.server_context(tls_certs.server)
    control.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        control.minimum_version = ssl.TLSVersion.TLSv1
    listener = socket.create_server((LOCAL, 0))
    port = listener.getsockname()[1]

    def accept_one() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with contextlib.suppress(OSError), control.wrap_socket(conn, server_side=True):
                pass

    thread = threading.Thread(target=accept_one, daemon=True)
    thread.start()
    try:
        agreed = _tls_handshake(port, old)
    finally:
        thread.join(10)
        listener.close()
    if agreed != "TLSv1.1":
        pytest.skip(f"this OpenSSL will not speak TLS 1.1 at all ({agreed})")
    port = int(echo_tls.url.rsplit(":", 1)[1])
    assert _tls_handshake(port, old).startswith("refused"), "TLS 1.1 was accepted"
    assert _tls_handshake(port, tls_certs.client_context()) in ("TLSv1.2", "TLSv1.3")


def test_client_trusting_another_ca_refuses_our_server(echo_tls, tls_certs):
    # the client's own check: our server's chain does not lead to this "CA"
    e = refused(echo_tls.url, tls_certs.client_context(ca=tls_certs.self_signed.cert))
    assert isinstance(e, ssl.SSLCertVerificationError), repr(e)


def test_plain_http_and_garbage_to_the_tls_port_are_dropped(echo_tls, tls_certs):
    ctx = tls_certs.client_context()
    with held(echo_tls.url, ctx) as good:
        good.echo("before")
        intruders = [
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\r\n",
            b"\x16\x03\x01\x02\x00" + os.urandom(600),  # a handshake record of garbage
            os.urandom(70_000),
            b"\x00" * 5,
        ]
        for junk in intruders:
            with socket.create_connection((LOCAL, echo_tls.port), timeout=10) as s:
                with contextlib.suppress(OSError):
                    s.sendall(junk)
                got = b""
                with contextlib.suppress(OSError):  # a reset is fine too
                    while chunk := s.recv(65536):
                        got += chunk
                # no plain-text answer; at most a TLS alert record
                assert b"HTTP/" not in got, got[:200]
                assert not got or got[0] == 0x15, got[:20]
            good.echo(junk[:50].hex())
        # a plain WebSocket client is refused too, the good one goes on
        with pytest.raises(REFUSED):
            roundtrip(echo_tls.url.replace("wss:", "ws:"), None, "x", open_timeout=5)  # type: ignore[arg-type]
        good.echo(os.urandom(100_000))
    assert roundtrip(echo_tls.url, ctx, "after") == "after"


def test_stalled_handshakes_time_out(tls_certs):
    # connections that never finish their TLS handshake are dropped after the
    # handshake timeout, and do not hold up anyone else meanwhile
    with tls_server(tls_certs, handshake_timeout=1) as server:
        ctx = tls_certs.client_context()
        silent = [socket.create_connection((LOCAL, server.port), timeout=10) for _ in range(5)]
        half = socket.create_connection((LOCAL, server.port), timeout=10)
        half.sendall(b"\x16\x03\x01\x01\x00\x01\x00\x00\xfc\x03\x03")  # a ClientHello, cut short
        try:
            t0 = time.monotonic()
            assert roundtrip(server.url, ctx, "meanwhile") == "meanwhile"
            for s in [*silent, half]:
                s.settimeout(10)
                with contextlib.suppress(ConnectionResetError):
                    while s.recv(4096):
                        pass
            assert time.monotonic() - t0 < 8
        finally:
            for s in [*silent, half]:
                s.close()
        assert roundtrip(server.url, ctx, "after") == "after"


# ====================================================================== HTTP over TLS


def test_http_files_over_tls(tls_certs, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * MIB + 17))
    small = tmp_path / "small.txt"
    small.write_text("small file\n")
    files = {"/big": (str(big), "application/octet-stream"), "/small": (str(small), "text/plain")}
    ctx = tls_certs.client_context()
    with tls_server(tls_certs, files=files) as server:
        base = f"https://{LOCAL}:{server.port}"
        with urllib.request.urlopen(base + "/big", context=ctx, timeout=30) as r:
            assert r.status == 200
            assert r.headers["Content-Type"] == "application/octet-stream"
            assert r.read() == big.read_bytes()
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(base + "/missing", context=ctx, timeout=30)
        assert info.value.code == 404
        # keep-alive: several requests on one TLS connection
        conn = http.client.HTTPSConnection(LOCAL, server.port, context=ctx, timeout=30)
        try:
            for uri, path in [("/small", small), ("/big", big), ("/small", small)]:
                conn.request("GET", uri)
                r = conn.getresponse()
                assert (r.status, r.read()) == (200, path.read_bytes())
        finally:
            conn.close()
        # and the WebSocket side of the same port
        assert roundtrip(server.url, ctx, "ws too") == "ws too"


@pytest.fixture(scope="module", params=["c", "python"])
def demo_tls(request, tls_certs):
    server = start_example(
        "test-server", request.param, "--ssl", "--cert", tls_certs.server.cert,
        "--key", tls_certs.server.key,
    )  # fmt: skip
    yield server
    assert server.alive()
    server.stop()


def test_demo_serves_its_page_over_https(demo_tls, tls_certs):
    ctx = tls_certs.client_context()
    base = f"https://{LOCAL}:{demo_tls.port}"
    for uri, name, content_type in [
        ("/", "test.html", "text/html; charset=utf-8"),
        ("/pylws.png", "pylws.png", "image/png"),
        ("/favicon.ico", "favicon.ico", "image/x-icon"),
    ]:
        with urllib.request.urlopen(base + uri, context=ctx, timeout=30) as r:
            assert r.headers["Content-Type"] == content_type
            assert r.read() == (RESOURCES / name).read_bytes()
    page = (RESOURCES / "test.html").read_text()
    assert 'location.protocol === "https:" ? "wss://" : "ws://"' in page


def test_demo_protocols_over_wss(demo_tls, tls_certs):
    ctx = tls_certs.client_context()

    async def go() -> None:
        async with wss(demo_tls.url, ctx, subprotocols=["dumb-increment-protocol"]) as dumb:
            numbers = [int(await asyncio.wait_for(dumb.recv(), 5)) for _ in range(5)]
            assert numbers == list(range(numbers[0], numbers[0] + 5))
        mirror = [
            await wss(demo_tls.url, ctx, subprotocols=["lws-mirror-protocol"]).__aenter__()
            for _ in range(2)
        ]
        try:
            await mirror[0].send("d #123456 1 2 3 4;")
            for m in mirror:
                assert await asyncio.wait_for(m.recv(), 5) == "d #123456 1 2 3 4;"
        finally:
            for m in mirror:
                await m.close()

    asyncio.run(asyncio.wait_for(go(), 60))


@pytest.mark.parametrize("kind", ["c", "python"])
@pytest.mark.parametrize("example", ["test-server", "echo_server"])
def test_default_self_signed_certificate(example, kind, tmp_path):
    """--ssl without --cert/--key: a self-signed localhost certificate made
    on first use in $XDG_CACHE_HOME/pylws, said where, and reused."""
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    cert, key = tmp_path / "pylws" / "localhost-cert.pem", tmp_path / "pylws" / "localhost-key.pem"
    server = start_example(example, kind, "--ssl", env=env)
    try:
        assert cert.is_file() and key.is_file()
        assert key.stat().st_mode & 0o077 == 0, oct(key.stat().st_mode)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(str(cert))  # trusted as it is: it is its own issuer
        protocols = ["dumb-increment-protocol"] if example == "test-server" else None
        for host in (None, "localhost"):

            async def go(host: str | None = host) -> Any:
                async with wss(server.url, ctx, subprotocols=protocols, server_hostname=host) as ws:
                    if example == "echo_server":
                        await ws.send("self-signed")
                    return await asyncio.wait_for(ws.recv(), 10)

            got = asyncio.run(go())
            assert got == "self-signed" if example == "echo_server" else got.isdigit()
    finally:
        out = server.stop()
    assert "making a self-signed certificate" in out and str(cert) in out, out
    assert "openssl req -x509" in out
    made = cert.read_bytes()
    # the next start uses it as it is
    server = start_example(example, kind, "--ssl", env=env)
    out = server.stop()
    assert "making" not in out and str(cert) in out, out
    assert cert.read_bytes() == made


@pytest.mark.parametrize("kind", ["c", "python"])
def test_example_bad_certificate_options(kind, tls_certs, tmp_path):
    def run(*args: str) -> subprocess.CompletedProcess:
        if kind == "c":
            argv = [str(asan_build() / "echo_server")]
        else:
            argv = [sys.executable, str(ROOT / "examples" / "echo_server.py")]
        env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path))
        return subprocess.run(
            [*argv, "--port", str(free_port()), "--interface", LOCAL, *args],
            capture_output=True, text=True, timeout=30, env=env,
        )  # fmt: skip

    p = run("--cert", str(tmp_path / "missing.pem"), "--key", tls_certs.server.key)
    assert p.returncode == 1 and "missing.pem" in p.stderr, p.stderr
    p = run("--cert", tls_certs.server.cert, "--key", tls_certs.wrong_key)
    assert p.returncode == 1 and "mismatch" in p.stderr, p.stderr
    p = run("--cert", tls_certs.server.cert)
    assert p.returncode == 2 and "--key" in p.stderr, p.stderr
    p = run("--ssl", "--require-client-cert")
    assert p.returncode == 2 and "--ca" in p.stderr, p.stderr


# ====================================================================== server configuration errors


def create(certs: Certs, cert: Any, key: Any, ca: Any = None, options: int = 0, callback=None):
    return lws.libwebsocket_create_context(
        free_port(), LOCAL, [("echo", callback or Echo(), 0)], None, cert, key, ca, -1, -1, options
    )


@pytest.mark.parametrize(
    "what",
    ["missing cert", "missing key", "no key", "mismatched key", "missing ca", "garbage cert",
     "key as cert"],
)  # fmt: skip
def test_bad_server_tls_configuration_raises_oserror(tls_certs, tmp_path, what):
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n")
    s = tls_certs.server
    cert, key, ca = {
        "missing cert": (str(tmp_path / "nothing.pem"), s.key, None),
        "missing key": (s.cert, str(tmp_path / "nothing.key"), None),
        "no key": (s.cert, None, None),
        "mismatched key": (s.cert, tls_certs.wrong_key, None),
        "missing ca": (s.cert, s.key, str(tmp_path / "no-ca.pem")),
        "garbage cert": (str(garbage), s.key, None),
        "key as cert": (s.key, s.key, None),
    }[what]
    with capture_log() as log, pytest.raises(OSError) as info:
        create(tls_certs, cert, key, ca)
    assert info.value.errno == 22  # EINVAL
    assert re.search(r"ERR: TLS: ", log.text()), log.text()
    # the exception says why, as the log did: every ERR line of the call
    message = str(info.value)
    assert message.startswith("[Errno 22] libwebsocket_create_context (port ")
    assert "failed: Invalid argument: TLS: " in message
    logged = [line.split(" ERR: ", 1)[1] for line in log.text().splitlines() if " ERR: " in line]
    assert logged and all(m in message for m in logged), (logged, message)
    why = {
        "missing cert": [f"TLS: certificate file: {cert}", "No such file or directory"],
        "missing key": [f"TLS: private key file: {key}", "No such file or directory"],
        "no key": ["TLS: private key file: (none given)"],
        "mismatched key": ["TLS: cannot load the private key", "key values mismatch"],
        "missing ca": [f"TLS: CA file: {ca}"],
        "garbage cert": ["TLS: cannot load the server certificate"],
        "key as cert": ["TLS: cannot load the server certificate"],
    }[what]
    assert all(w in message for w in why), message
    # the port was not taken, and a good configuration works after all that
    ctx = create(tls_certs, s.cert, s.key)
    lws.libwebsocket_context_destroy(ctx)


def test_key_without_cert_is_plain(tls_certs):
    # the API doc: the key (and the CA) are ignored without a certificate
    with tls_server(tls_certs, pair=Pair(None, tls_certs.server.key)) as server:  # type: ignore[arg-type]
        assert roundtrip(server.url.replace("wss:", "ws:"), None, "plain") == "plain"  # type: ignore[arg-type]


# ====================================================================== client certificates


def test_client_cert_required_and_present(tls_certs):
    with tls_server(tls_certs, ca=tls_certs.ca.cert, options=REQUIRE_CERT) as server:
        ctx = tls_certs.client_context(cert=tls_certs.client)
        data = os.urandom(MIB)
        assert roundtrip(server.url, ctx, data) == data
        # the callback saw the chain, OpenSSL happy with each certificate
        seen = [c for c in server.calls if c["reason"] == VERIFY_CLIENT]
        assert [c["depth"] for c in seen] == [1, 0], seen
        assert all(c["preverify_ok"] == 1 and c["wsi"] and c["is_server"] == 1 for c in seen)
        assert "CN=pylws test CA" in seen[0]["subject"]
        assert "CN=pylws test client" in seen[1]["subject"]
        # `in` is the connection's SSL, of the server's SSL_CTX (the one
        # LOAD_EXTRA_SERVER_VERIFY_CERTS was given)
        loads = [c for c in server.calls if c["reason"] == LOAD_SERVER]
        assert len(loads) == 1 and seen[1]["ssl_ctx"] == loads[0]["ssl_ctx"]


def test_client_cert_required_and_missing(tls_certs):
    with tls_server(tls_certs, ca=tls_certs.ca.cert, options=REQUIRE_CERT) as server:
        good = tls_certs.client_context(cert=tls_certs.client)
        with held(server.url, good) as other:
            other.echo("before")
            for _ in range(3):
                refused(server.url, tls_certs.client_context())  # no certificate
                other.echo("meanwhile")
            # a certificate from nobody the server trusts, though the callback says 0
            refused(server.url, tls_certs.client_context(cert=tls_certs.rogue_client))
            other.echo(os.urandom(300_000))
        assert roundtrip(server.url, good, "after") == "after"
        # the rogue certificate reached the callback, with preverify_ok 0
        rogue = [c for c in server.calls if "rogue" in c.get("subject", "")]
        assert rogue and all(c["preverify_ok"] == 0 for c in rogue), server.calls
        assert server.established == 2  # the two good ones only


def test_client_cert_verification_callback_can_refuse(tls_certs):
    verdict = {"refuse": True}

    def verify(info: dict[str, Any]) -> int:
        return 1 if verdict["refuse"] and info["depth"] == 0 else 0

    with tls_server(tls_certs, ca=tls_certs.ca.cert, options=REQUIRE_CERT, verify=verify) as server:
        ctx = tls_certs.client_context(cert=tls_certs.client)
        refused(server.url, ctx)
        assert any(c.get("depth") == 0 and c["preverify_ok"] == 1 for c in server.calls)
        assert server.established == 0
        verdict["refuse"] = False
        assert roundtrip(server.url, ctx, "now yes") == "now yes"


def test_client_cert_not_asked_without_the_option(tls_certs):
    # the CA alone does not make a certificate required
    with tls_server(tls_certs, ca=tls_certs.ca.cert) as server:
        assert roundtrip(server.url, tls_certs.client_context(), "no cert") == "no cert"
        assert not [c for c in server.calls if c["reason"] == VERIFY_CLIENT]


def test_load_extra_server_verify_certs(tls_certs):
    """Called once, while the context is made, with the server's SSL_CTX:
    CAs loaded there check client certificates (no ssl_ca_filepath here)."""
    loaded: list[int] = []

    def load_extra(ssl_ctx: int) -> int:
        loaded.append(
            openssl().SSL_CTX_load_verify_locations(ssl_ctx, tls_certs.ca.cert.encode(), None)
        )
        return 0

    with tls_server(tls_certs, options=REQUIRE_CERT, load_extra=load_extra) as server:
        loads = [c for c in server.calls if c["reason"] == LOAD_SERVER]
        assert len(loads) == 1 and loaded == [1]
        assert loads[0]["ssl_ctx"] and not loads[0]["wsi"] and not loads[0]["in"]
        assert loads[0]["len"] == 0 and loads[0]["thread"] == server.thread.ident
        assert roundtrip(server.url, tls_certs.client_context(cert=tls_certs.client), "ok") == "ok"
        refused(server.url, tls_certs.client_context(cert=tls_certs.rogue_client))
        assert len([c for c in server.calls if c["reason"] == LOAD_SERVER]) == 1


def test_load_extra_server_verify_certs_failing_fails_create_context(tls_certs):
    calls = []

    def cb(context, wsi, reason, user, in_, len_):
        if reason == LOAD_SERVER:
            calls.append(addr(user))
            return 1
        return 0

    with capture_log() as log, pytest.raises(OSError) as info:
        create(tls_certs, tls_certs.server.cert, tls_certs.server.key, callback=cb)
    assert info.value.errno == 22 and len(calls) == 1 and calls[0]
    assert "LOAD_EXTRA_SERVER_VERIFY_CERTS" in log.text()
    assert str(info.value).endswith("TLS: LOAD_EXTRA_SERVER_VERIFY_CERTS failed")


def test_bad_certificate_reason_reaches_the_exception_whatever_the_log_level(tls_certs, tmp_path):
    """The reasons are kept for the exception even when the program logs
    nothing at all (level 0), and the level is as it was afterwards."""
    lines: list[str] = []
    lws.lws_set_log_level(0, lines.append)
    try:
        with pytest.raises(OSError) as info:
            create(tls_certs, str(tmp_path / "nothing.pem"), tls_certs.server.key)
        assert info.value.errno == 22
        assert f"TLS: certificate file: {tmp_path / 'nothing.pem'}" in str(info.value)
        with pytest.raises(OSError, match="key values mismatch") as info:
            create(tls_certs, tls_certs.server.cert, tls_certs.wrong_key)
        assert info.value.errno == 22
        lws.lwsl_log(lws.LLL_ERR, "not logged")
        assert lines == []
    finally:
        lws.lws_set_log_level(lws.LLL_ERR | lws.LLL_WARN, lws.lwsl_emit_logging)


def test_load_extra_server_verify_certs_not_called_without_tls():
    calls = []

    def cb(context, wsi, reason, user, in_, len_):
        calls.append(reason)
        return 0

    ctx = lws.libwebsocket_create_context(free_port(), LOCAL, [("p", cb, 0)])
    lws.libwebsocket_context_destroy(ctx)
    assert LOAD_SERVER not in calls and LOAD_CLIENT not in calls


@pytest.fixture(scope="module", params=["c", "python"])
def echo_mutual(request, tls_certs):
    """The echo example with --ca and --require-client-cert."""
    server = start_example(
        "echo_server", request.param, "--cert", tls_certs.server.cert,
        "--key", tls_certs.server.key, "--ca", tls_certs.ca.cert, "--require-client-cert",
    )  # fmt: skip
    yield server
    assert server.alive()
    server.stop()


def test_example_server_client_cert_required(echo_mutual, tls_certs):
    good = tls_certs.client_context(cert=tls_certs.client)
    with held(echo_mutual.url, good) as other:
        refused(echo_mutual.url, tls_certs.client_context())
        refused(echo_mutual.url, tls_certs.client_context(cert=tls_certs.rogue_client))
        other.echo(os.urandom(MIB))
    data = os.urandom(16 * MIB)
    assert roundtrip(echo_mutual.url, good, data) == data


# ====================================================================== our client


class TLSClient:
    """Our client: one context (no listening), every callback recorded;
    ``load_extra(ssl_ctx) -> int`` answers LOAD_EXTRA_CLIENT_VERIFY_CERTS."""

    def __init__(self, load_extra: Callable[[int], int] | None = None) -> None:
        self.load_extra = load_extra
        self.loads: list[dict[str, Any]] = []
        self.established: set[Any] = set()
        self.closed: set[Any] = set()
        self.errors: dict[Any, str] = {}
        self.messages: dict[Any, list[bytes | str]] = defaultdict(list)
        self.pieces: dict[Any, list[bytes]] = defaultdict(list)
        self.outbox: dict[Any, deque[tuple[bytes, int]]] = defaultdict(deque)
        self.problems: list[str] = []
        self.ctx = lws.libwebsocket_create_context(
            lws.CONTEXT_PORT_NO_LISTEN, None, [("test", self.callback, 0)]
        )

    def callback(self, context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == LOAD_CLIENT:
            self.loads.append({"ssl_ctx": addr(user), "wsi": wsi != ffi.NULL, "len": len_})
            return self.load_extra(addr(user)) if self.load_extra else 0
        if reason == lws.LWS_CALLBACK_CLIENT_ESTABLISHED:
            self.established.add(wsi)
        elif reason == lws.LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
            if wsi in self.established or wsi in self.errors:
                self.problems.append("CONNECTION_ERROR after ESTABLISHED or twice")
            self.errors[wsi] = ffi.string(ffi.cast("char *", in_)).decode() if in_ else ""
        elif reason == lws.LWS_CALLBACK_CLOSED:
            self.closed.add(wsi)
        elif reason == lws.LWS_CALLBACK_CLIENT_RECEIVE:
            self.pieces[wsi].append(ffi.buffer(in_, len_)[:] if len_ else b"")
            if lib.libwebsocket_is_final_fragment(wsi):
                data = b"".join(self.pieces.pop(wsi))
                binary = lib.lws_frame_is_binary(wsi)
                self.messages[wsi].append(data if binary else data.decode())
        elif reason == lws.LWS_CALLBACK_CLIENT_WRITEABLE:
            box = self.outbox[wsi]
            while box and not lib.lws_send_pipe_choked(wsi):
                data, kind = box.popleft()
                if lws.libwebsocket_write(wsi, data, len(data), kind) < 0:
                    self.problems.append("libwebsocket_write failed")
                    return -1
            if box:
                lib.libwebsocket_callback_on_writable(self.ctx, wsi)
        return 0

    def connect(self, port: int, ssl_connection: int, host: str | None = None,
                address: str = LOCAL) -> Any:  # fmt: skip
        wsi = lws.libwebsocket_client_connect(
            self.ctx, address, port, ssl_connection, "/", host, None, None, -1
        )
        for table in (self.errors, self.messages, self.pieces, self.outbox):
            table.pop(wsi, None)
        self.established.discard(wsi)
        self.closed.discard(wsi)
        return wsi

    def run(self, until: Callable[[], bool], timeout: float = 15, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            assert lws.libwebsocket_service(self.ctx, 10) >= 0
        assert not self.problems, self.problems

    def open(self, port: int, ssl_connection: int, host: str | None = None) -> Any:
        wsi = self.connect(port, ssl_connection, host)
        self.run(lambda: wsi in self.established or wsi in self.errors, what="the handshake")
        assert wsi not in self.errors, self.errors[wsi]
        return wsi

    def failure(self, port: int, ssl_connection: int, host: str | None = None) -> str:
        wsi = self.connect(port, ssl_connection, host)
        self.run(lambda: wsi in self.established or wsi in self.errors, what="the failure")
        assert wsi not in self.established, "the connection was established"
        assert wsi not in self.closed
        return self.errors[wsi]

    def echo(self, wsi: Any, data: bytes | str, timeout: float = 60) -> None:
        kind = lws.LWS_WRITE_TEXT if isinstance(data, str) else lws.LWS_WRITE_BINARY
        raw = data.encode() if isinstance(data, str) else data
        before = len(self.messages[wsi])
        self.outbox[wsi].append((raw, kind))
        lib.libwebsocket_callback_on_writable(self.ctx, wsi)
        self.run(lambda: len(self.messages[wsi]) > before or wsi in self.closed, timeout, "an echo")
        assert self.messages[wsi][before:] == [data]

    def close(self, wsi: Any) -> None:
        lws.libwebsocket_close_and_free_session(self.ctx, wsi, lws.LWS_CLOSE_STATUS_NORMAL)

    def close_all(self) -> None:
        """Close every connection still open (with a close frame, as a client
        should before its server goes away)."""
        for wsi in list(self.established - self.closed):
            self.close(wsi)

    def destroy(self) -> None:
        if self.ctx is not None:
            lws.libwebsocket_context_destroy(self.ctx)
            self.ctx = None


@pytest.fixture
def trusting_client(tls_certs) -> Iterator[TLSClient]:
    """Our client with the test CA loaded through LOAD_EXTRA_CLIENT_VERIFY_CERTS."""

    def load(ssl_ctx: int) -> int:
        assert (
            openssl().SSL_CTX_load_verify_locations(ssl_ctx, tls_certs.ca.cert.encode(), None) == 1
        )
        return 0

    c = TLSClient(load)
    yield c
    c.destroy()
    assert not c.problems, c.problems


@pytest.fixture
def plain_client() -> Iterator[TLSClient]:
    """Our client with the system CAs only."""
    c = TLSClient()
    yield c
    c.destroy()
    assert not c.problems, c.problems


class WSSServer:
    """A ``websockets`` echo server over TLS on 127.0.0.1, in a thread
    running its loop; ``sni`` lists the server names clients sent."""

    def __init__(self, ctx: ssl.SSLContext | None, **kw: Any) -> None:
        self.sni: list[str | None] = []
        self.peer_certs: list[Any] = []
        if ctx is not None:
            ctx.sni_callback = lambda sslobj, name, c: self.sni.append(name)
        kw.setdefault("compression", None)
        kw.setdefault("max_size", None)
        kw.setdefault("ping_interval", None)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def echo(ws: Any) -> None:
            self.peer_certs.append(ws.transport.get_extra_info("peercert"))
            with contextlib.suppress(ConnectionClosed):
                async for message in ws:
                    await ws.send(message)

        async def start() -> Any:
            return await serve(echo, LOCAL, 0, ssl=ctx, **kw)

        self.server = asyncio.run_coroutine_threadsafe(start(), self.loop).result(20)
        self.port = self.server.sockets[0].getsockname()[1]

    def close(self) -> float:
        """Stop it; return how long its connections took to close."""

        async def stop() -> None:
            self.server.close()
            await self.server.wait_closed()

        start = time.monotonic()
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(20)
        took = time.monotonic() - start
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        return took


@contextlib.contextmanager
def wss_server(certs: Certs, pair: Pair | None, **kw: Any) -> Iterator[WSSServer]:
    server = WSSServer(certs.server_context(pair) if pair else None, **kw)
    try:
        yield server
    finally:
        took = server.close()
    # A connection left open when the server closes makes it wait its close
    # timeout (10 s) for a close frame our client, no longer serviced, never
    # sends: tests close their connections (TLSClient.close_all) first.
    assert took < 5, f"the server took {took:.1f} s to close: a connection was left open"


def test_client_verifies_with_the_ca_loaded_by_the_callback(tls_certs, trusting_client):
    c = trusting_client
    with wss_server(tls_certs, tls_certs.server) as server:
        wsi = c.open(server.port, 1)
        c.echo(wsi, "hello over wss")
        c.echo(wsi, os.urandom(70_000))
        second = c.open(server.port, 1, host="localhost")  # by name: SNI
        c.echo(second, "second")
        c.close(wsi)
        c.close(second)
        # once, for the first wss connection, with the client SSL_CTX
        assert len(c.loads) == 1 and c.loads[0]["ssl_ctx"] and not c.loads[0]["wsi"]
        assert server.sni == [None, "localhost"]  # no SNI for an address


def test_client_load_extra_not_called_for_ws(tls_certs, trusting_client):
    c = trusting_client
    with wss_server(tls_certs, None) as plain:
        wsi = c.open(plain.port, 0)
        c.echo(wsi, "plain")
        c.close_all()
    assert c.loads == []


def test_client_without_the_ca_refuses(tls_certs, plain_client):
    with wss_server(tls_certs, tls_certs.server) as server:
        reason = plain_client.failure(server.port, 1)
    assert reason.startswith("TLS: server certificate refused: "), reason
    assert "local issuer" in reason, reason
    assert len(plain_client.loads) == 1  # called; loaded nothing


@pytest.mark.parametrize(
    ("which", "host", "expected"),
    [
        ("self_signed", None, "self.signed certificate"),
        ("expired", None, "certificate has expired"),
        ("other_host", None, "IP address mismatch"),
        ("other_host", "localhost", "hostname mismatch"),
        ("server", "other.example", "hostname mismatch"),
    ],
)
def test_client_ssl_1_refuses(tls_certs, trusting_client, which, host, expected):
    with wss_server(tls_certs, getattr(tls_certs, which)) as server:
        reason = trusting_client.failure(server.port, 1, host)
        assert re.fullmatch(rf"TLS: server certificate refused: {expected}", reason), reason
        assert server.peer_certs == []  # no WebSocket handshake reached the server
        # the context goes on: a good connection after the refused one
    with wss_server(tls_certs, tls_certs.server) as good:
        wsi = trusting_client.open(good.port, 1)
        trusting_client.echo(wsi, "still fine")
        trusting_client.close_all()


def test_client_ssl_2_accepts_self_signed(tls_certs, plain_client):
    with wss_server(tls_certs, tls_certs.self_signed) as server:
        wsi = plain_client.open(server.port, 2)
        plain_client.echo(wsi, "self-signed is fine")
        plain_client.echo(wsi, os.urandom(MIB))
        # the name is still checked
        reason = plain_client.failure(server.port, 2, host="other.example")
        assert reason == "TLS: server certificate refused: hostname mismatch", reason
        # 1 still refuses it
        reason = plain_client.failure(server.port, 1)
        assert re.fullmatch(r"TLS: server certificate refused: self.signed certificate", reason)
        plain_client.close_all()


def test_client_ssl_2_refuses_what_is_not_self_signed(tls_certs, trusting_client, plain_client):
    # expired, from the CA it trusts
    with wss_server(tls_certs, tls_certs.expired) as server:
        reason = trusting_client.failure(server.port, 2)
    assert reason == "TLS: server certificate refused: certificate has expired", reason
    # from a CA it does not know (the test CA is not loaded in this one)
    with wss_server(tls_certs, tls_certs.server) as server:
        reason = plain_client.failure(server.port, 2)
    assert reason == "TLS: server certificate refused: unable to get local issuer certificate"


def test_client_tls_to_a_plain_server_fails(tls_certs, plain_client):
    with wss_server(tls_certs, None) as plain:
        reason = plain_client.failure(plain.port, 2)
    assert reason.startswith("TLS"), reason


def test_client_tls_to_nothing_fails(plain_client):
    reason = plain_client.failure(free_port(), 1)
    assert reason, "no reason"


def test_client_presents_a_certificate_loaded_by_the_callback(tls_certs):
    """Mutual TLS from our client: LOAD_EXTRA_CLIENT_VERIFY_CERTS may also put
    a client certificate on the SSL_CTX."""
    o = openssl()

    def load(ssl_ctx: int) -> int:
        assert o.SSL_CTX_load_verify_locations(ssl_ctx, tls_certs.ca.cert.encode(), None) == 1
        assert o.SSL_CTX_use_certificate_chain_file(ssl_ctx, tls_certs.client.cert.encode()) == 1
        assert o.SSL_CTX_use_PrivateKey_file(ssl_ctx, tls_certs.client.key.encode(), 1) == 1
        return 0

    server_ctx = tls_certs.server_context(tls_certs.server)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    server_ctx.load_verify_locations(tls_certs.ca.cert)
    server = WSSServer(server_ctx)
    with_cert, without = TLSClient(load), TLSClient()
    try:
        wsi = with_cert.open(server.port, 1)
        with_cert.echo(wsi, "mutual")
        subject = dict(x[0] for x in server.peer_certs[0]["subject"])
        assert subject["commonName"] == "pylws test client"
        # without a certificate the server refuses us (how it shows depends
        # on when the alert arrives: TLS 1.3 sends it after our handshake)
        wsi = without.connect(server.port, 2)
        without.run(lambda: wsi in without.errors or wsi in without.closed, what="the end")
        assert wsi in without.errors or wsi in without.closed
    finally:
        with_cert.destroy()
        without.destroy()
        server.close()
    assert not with_cert.problems and not without.problems


def test_client_echo_16_mib_over_wss(tls_certs, trusting_client):
    c = trusting_client
    with wss_server(tls_certs, tls_certs.server) as server:
        wsi = c.open(server.port, 1, host="localhost")
        c.echo(wsi, os.urandom(16 * MIB), timeout=90)
        c.echo(wsi, text_of(16 * MIB), timeout=90)
        c.close_all()


def test_client_to_our_c_server(tls_certs, trusting_client):
    # both ends ours: our client (ssl_connection 1, the CA from the callback)
    # and the C echo server under ASan
    server = start_example(
        "echo_server", "c", "--cert", tls_certs.server.cert, "--key", tls_certs.server.key
    )
    try:
        c = trusting_client
        wsis = [c.open(server.port, 1, host=h) for h in (None, "localhost", None)]
        for k, wsi in enumerate(wsis):
            c.echo(wsi, f"conn {k}")
        # (4 MiB: see test_our_client_and_server_echo_a_large_message for more)
        c.echo(wsis[0], os.urandom(4 * MIB), timeout=90)
        c.echo(wsis[1], b"")
        for wsi in wsis:
            c.close(wsi)
        c.run(lambda: all(w in c.closed for w in wsis), what="CLOSED")
        reason = c.failure(server.port, 1, host="other.example")
        assert reason == "TLS: server certificate refused: hostname mismatch"
    finally:
        server.stop()


# ============================================ regressions: core bugs found and fixed


def test_c_server_survives_a_tls_close(tls_certs):
    server = start_example(
        "echo_server", "c", "--cert", tls_certs.server.cert, "--key", tls_certs.server.key,
        ignore_sigpipe=False,
    )  # fmt: skip
    try:
        for _ in range(3):
            assert roundtrip(server.url, tls_certs.client_context(), "x") == "x"
        time.sleep(0.2)
        assert server.alive(), f"the server died: exit status {server.proc.returncode}"
    finally:
        server.stop()


def close_notify_after_close(port: int, ctx: ssl.SSLContext) -> bytes:
    """A WebSocket over TLS closed by the client with 1000: what follows the
    server's close frame.  Raises ssl.SSLEOFError when the server ends the
    TCP connection without a TLS close_notify."""
    from support import raw as wsraw

    raw = socket.create_connection((LOCAL, port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname=LOCAL, suppress_ragged_eofs=False) as s:
        s.sendall(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        got = b""
        while b"\r\n\r\n" not in got:
            got += s.recv(4096)
        assert got.startswith(b"HTTP/1.1 101"), got
        s.sendall(wsraw.frame(wsraw.OP_CLOSE, b"\x03\xe8"))
        rest = b""
        while chunk := s.recv(4096):  # b"" only after a close_notify
            rest += chunk
        return rest


@pytest.mark.parametrize("kind", ["inproc", "c"])
def test_server_sends_close_notify(tls_certs, kind):
    if kind == "inproc":
        with tls_server(tls_certs) as server:
            close_notify_after_close(server.port, tls_certs.client_context())
    else:
        server = start_example(
            "echo_server", "c", "--cert", tls_certs.server.cert, "--key", tls_certs.server.key
        )
        try:
            close_notify_after_close(server.port, tls_certs.client_context())
        finally:
            server.stop()


@pytest.mark.parametrize(("ssl_connection", "size"), [(1, 40 * MIB), (0, 40 * MIB)])
def test_our_client_and_server_echo_a_large_message(tls_certs, trusting_client, ssl_connection,
                                                    size):  # fmt: skip
    tls = ["--cert", tls_certs.server.cert, "--key", tls_certs.server.key] if ssl_connection else []
    server = start_example("echo_server", "c", *tls)
    try:
        wsi = trusting_client.open(server.port, ssl_connection)
        trusting_client.echo(wsi, os.urandom(size), timeout=10)
    finally:
        server.stop()


def test_client_ssl_2_failure_reason_after_an_accepted_self_signed_cert(tls_certs, plain_client):
    # the server (self-signed, so accepted by 2) wants a client certificate we
    # do not have; over TLS 1.2 its refusal ends our handshake
    ctx = tls_certs.server_context(tls_certs.self_signed)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(tls_certs.ca.cert)
    server = WSSServer(ctx)
    try:
        reason = plain_client.failure(server.port, 2)
    finally:
        server.close()
    assert "server certificate refused" not in reason, reason


def test_client_wss_host_header_leaves_out_the_default_port(tls_certs, trusting_client):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((LOCAL, 443))
    except OSError as e:
        listener.close()
        pytest.skip(f"cannot listen on 127.0.0.1:443 here: {e}")
    listener.listen(1)
    listener.settimeout(10)
    heads: list[bytes] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with tls_certs.server_context(tls_certs.server).wrap_socket(
                conn, server_side=True
            ) as s:
                s.settimeout(10)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += s.recv(4096)
                heads.append(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        wsi = trusting_client.connect(443, 1, host="localhost")
        trusting_client.run(lambda: bool(heads) or wsi in trusting_client.errors, what="a request")
    finally:
        listener.close()
        thread.join(10)
    assert heads, trusting_client.errors
    assert re.search(rb"(?im)^host: localhost\r$", heads[0]), heads[0]


def test_paused_tls_connection_resumes_with_records_openssl_holds(tls_certs):
    """Reception paused on each message, resumed from another thread: bytes
    OpenSSL already decrypted past our read buffer (a record straddling its
    end) are delivered on resumption, not left until the peer sends more."""
    got: list[int] = []
    parts: list[bytes] = []
    wsis: list[Any] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_ESTABLISHED:
            wsis.append(wsi)
            lws.libwebsocket_rx_flow_control(wsi, 0)
        elif reason == lws.LWS_CALLBACK_RECEIVE:
            parts.append(lws.payload(in_, len_))
            if lws.libwebsocket_is_final_fragment(wsi):
                got.append(len(b"".join(parts)))
                parts.clear()
                lws.libwebsocket_rx_flow_control(wsi, 0)
        return 0

    port = free_port()
    ctx = lws.libwebsocket_create_context(
        port, LOCAL, [("p", cb, 0)],
        ssl_cert_filepath=tls_certs.server.cert, ssl_private_key_filepath=tls_certs.server.key,
    )  # fmt: skip
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            lws.libwebsocket_service(ctx, 20)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        raw = socket.create_connection((LOCAL, port), timeout=10)
        with tls_certs.client_context().wrap_socket(raw, server_hostname="localhost") as c:
            c.sendall(
                f"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\n\r\n".encode()
            )
            head = b""
            while b"\r\n\r\n" not in head:
                head += c.recv(4096)
            assert head.startswith(b"HTTP/1.1 101"), head
            wait_until(lambda: wsis, "ESTABLISHED")
            sizes = [1000, 262130]  # the second ends past the 256 KiB read buffer
            for n in sizes:
                c.sendall(frame(0x2, os.urandom(n)))
            for expect in range(1, len(sizes) + 1):
                time.sleep(0.3)  # all of it decrypted and waiting
                lws.libwebsocket_rx_flow_control(wsis[0], 1)  # from this thread
                wait_until(lambda expect=expect: len(got) == expect, f"message {expect}")
            assert got == sizes
    finally:
        stop.set()
        thread.join(10)
        lws.libwebsocket_context_destroy(ctx)


def wait_until(cond: Callable[[], Any], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)

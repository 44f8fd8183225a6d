""":func:`connect`: one client connection on a context of its own."""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Sequence
from typing import Any
from urllib.parse import urlsplit

from .._pylws_cffi import ffi, lib
from ..client import libwebsocket_client_connect
from .connection import (
    _CLIENT_CONNECTION_ERROR,
    _CLIENT_ESTABLISHED,
    _LOAD_CLIENT_CERTS,
    DEFAULT_MAX_QUEUE,
    DEFAULT_MAX_SIZE,
    Connection,
    _check_keepalive,
    _Endpoint,
)
from .exceptions import _connection_error
from .loop import _running_loop
from .tls import StrPath, _check_readable, load_files

_cast = ffi.cast
_unpack = ffi.unpack
_char_p = ffi.typeof("char *")
_uintptr = ffi.typeof("uintptr_t")

# ---- the client ----


class _Client(_Endpoint):
    """One client connection and the context of its own that serves it."""

    def __init__(
        self,
        max_size: int | None,
        max_queue: int,
        path: str,
        asked: bool,
        tls_files: tuple[Any, Any, Any] = (None, None, None),
    ) -> None:
        super().__init__(max_size, max_queue)
        self.path = path
        self.asked = asked
        self.tls_files = tls_files
        self.opened: asyncio.Future[Connection] | None = None

    def fail(self, exc: BaseException) -> None:
        opened = self.opened
        if opened is not None and not opened.done():
            opened.set_exception(exc)
        self.aio.close()  # deferred: we are inside the library

    def other(self, context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        opened = self.opened
        if reason == _CLIENT_ESTABLISHED:
            conn = Connection(
                self,
                wsi,
                is_client=True,
                subprotocol=self.protocol_name(wsi) if self.asked else None,
                path=self.path,
            )
            self.conns[wsi] = conn
            conn._start_keepalive(self.ping_interval, self.ping_timeout)
            if opened is not None and not opened.done():
                opened.set_result(conn)
            return 0
        if reason == _CLIENT_CONNECTION_ERROR:
            why = _unpack(_cast(_char_p, in_), len_).decode("utf-8", "replace") if len_ else ""
            code = lib.lws_tls_verify_error(wsi) if wsi else 0
            self.fail(_connection_error(why, code))
            return 0
        if reason == _LOAD_CLIENT_CERTS:
            # the client SSL_CTX, made for the first wss:// connection
            cafile, certfile, keyfile = self.tls_files
            try:
                load_files(user, cafile, certfile, keyfile)
            except OSError as e:  # ssl.SSLError
                self.fail(e)
                return 1
            return 0
        return 0

    def closed(self, conn: Connection) -> None:
        self.aio.close()  # the context served only this connection


def connect(
    url: str,
    *,
    subprotocols: Sequence[str] | None = None,
    origin: str | None = None,
    cafile: StrPath | None = None,
    certfile: StrPath | None = None,
    keyfile: StrPath | None = None,
    allow_self_signed: bool = False,
    max_size: int | None = DEFAULT_MAX_SIZE,
    max_queue: int = DEFAULT_MAX_QUEUE,
    open_timeout: float | None = 10.0,
    ping_interval: float | None = 20.0,
    ping_timeout: float | None = 20.0,
    loop: asyncio.AbstractEventLoop | None = None,
) -> _Connecting:
    """Open a WebSocket client connection to ``url`` (``ws://`` or ``wss://``).

    ``await connect(url)`` gives the :class:`Connection` once established;
    ``async with connect(url) as conn`` closes it at the end.
    ``subprotocols``: asked for, in order; ``origin``: the Origin header;
    ``open_timeout``: seconds for the whole opening (None: the library's own
    handshake timeout).  ``ping_interval``/``ping_timeout``: keepalive, as
    for :func:`serve`.

    ``wss://`` verifies the server's certificate against the system's CAs
    plus those in ``cafile`` (PEM) if given, and checks that it is issued for
    the URL's host (a name, also sent as SNI, or an IP address).
    ``allow_self_signed``: also accept a self-signed server certificate (the
    name and dates are still checked).  ``certfile``/``keyfile``: a client
    certificate (PEM; the key by default read from ``certfile``) for servers
    that ask for one.  They are files because the core's OpenSSL reads them;
    an ssl.SSLContext cannot be taken.

    Raises :class:`InvalidCertificate` (an :class:`InvalidHandshake` and an
    ssl.SSLCertVerificationError) when the server's certificate is refused;
    :class:`InvalidHandshake` (a ConnectionError) when the connection fails
    otherwise, with the core's reason; ssl.SSLError when OpenSSL cannot use
    one of the files; TimeoutError (asyncio's) on timeout.  At once:
    ValueError for a URL that is neither ws:// nor wss:// (or TLS options
    with ws://), FileNotFoundError (or another OSError) for a file that
    cannot be read.
    """
    _check_keepalive(ping_interval, ping_timeout)
    connecting = _Connecting(
        url, subprotocols, origin, max_size, max_queue, open_timeout, loop,
        (cafile, certfile, keyfile), allow_self_signed,
    )  # fmt: skip
    connecting.keepalive = (ping_interval, ping_timeout)
    return connecting


class _Connecting:
    def __init__(
        self,
        url: str,
        subprotocols: Sequence[str] | None,
        origin: str | None,
        max_size: int | None,
        max_queue: int,
        open_timeout: float | None,
        loop: asyncio.AbstractEventLoop | None,
        tls_files: tuple[Any, Any, Any] = (None, None, None),
        allow_self_signed: bool = False,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"not a ws:// or wss:// URL: {url!r}")
        tls = parts.scheme == "wss"
        cafile, certfile, keyfile = tls_files
        if not tls and (any(f is not None for f in tls_files) or allow_self_signed):
            raise ValueError("cafile, certfile, keyfile and allow_self_signed are for wss:// URLs")
        if keyfile is not None and certfile is None:
            raise ValueError("keyfile needs certfile")
        _check_readable(cafile=cafile, certfile=certfile, keyfile=keyfile)
        self.tls_files = tls_files
        self.ssl_connection = (2 if allow_self_signed else 1) if tls else 0
        port = parts.port  # ValueError when not a number in 0..65535
        if port == 0:
            raise ValueError(f"port 0 in {url!r}")
        self.port = port if port is not None else (443 if tls else 80)
        # The bare host, an IPv6 address without its brackets: the core makes
        # the Host header of it (brackets for IPv6, ":port" unless the
        # scheme's default) and checks the server's certificate against it.
        self.address = self.host = parts.hostname
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.subprotocols = list(subprotocols or [])
        self.origin = origin
        self.max_size = max_size
        self.max_queue = max_queue
        self.open_timeout = open_timeout
        self.loop = loop
        self.keepalive: tuple[float | None, float | None] = (None, None)
        self._conn: Connection | None = None

    async def _open(self) -> Connection:
        loop = _running_loop(self.loop)
        client = _Client(
            self.max_size, self.max_queue, self.path, bool(self.subprotocols), self.tls_files
        )
        client.ping_interval, client.ping_timeout = self.keepalive
        client.start(lib.CONTEXT_PORT_NO_LISTEN, None, self.subprotocols or [""], loop)
        client.opened = loop.create_future()
        try:
            libwebsocket_client_connect(
                client.aio.context, self.address, self.port, self.ssl_connection, self.path,
                self.host, self.origin, ",".join(self.subprotocols) or None, -1,
            )  # fmt: skip
            if self.open_timeout is None:
                return await client.opened
            return await asyncio.wait_for(asyncio.shield(client.opened), self.open_timeout)
        except BaseException:
            if not client.opened.done():
                client.opened.cancel()
            client.aio.close()
            raise

    def __await__(self) -> Generator[Any, None, Connection]:
        return self._open().__await__()

    async def __aenter__(self) -> Connection:
        self._conn = await self._open()
        return self._conn

    async def __aexit__(self, *exc: object) -> None:
        assert self._conn is not None
        await self._conn.close()

"""connect(): client connections, one core context per event loop (and
set of TLS files) serving all of them."""

from __future__ import annotations

import asyncio
import os
import sys
import weakref
from collections.abc import Generator, Iterable, Mapping, Sequence
from typing import Any, Union
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
    Headers,
    Response,
    _check_keepalive,
    _Endpoint,
)
from .exceptions import InvalidStatus, _connection_error
from .loop import _running_loop, create_context
from .tls import StrPath, _check_readable, load_files

_cast = ffi.cast
_unpack = ffi.unpack
_memmove = ffi.memmove
_char_p = ffi.typeof("char *")
_char_pp = ffi.typeof("char **")
_NULL = ffi.NULL
_CONFIRM_EXT = lib.LWS_CALLBACK_CLIENT_CONFIRM_EXTENSION_SUPPORTED
_APPEND_HEADERS = lib.LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER
#: permessage-deflate, the first of the core's built-in extensions
_DEFLATE = lib.libwebsocket_internal_extensions[0]


def _new_sizes() -> Any:
    return ffi.new("size_t[2]")


# ---- request headers ----

#: what the opening handshake sets itself: refused in additional_headers
_OWN_HEADERS = frozenset(
    ("host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version",
     "sec-websocket-protocol", "sec-websocket-extensions", "content-length",
     "transfer-encoding")
)  # fmt: skip
_TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
#: the room the request leaves for the headers of connect(): the core's
#: request buffer is 4 KiB, its own lines take at most ~300 bytes plus the
#: path, Host, Origin, subprotocols and the extension offer
_REQUEST_ROOM = 4096 - 400


def _user_agent() -> str:
    try:
        from importlib.metadata import version

        ours = version("pylws_ffi")
    except Exception:  # not installed as a distribution
        ours = "0"
    return f"Python/{sys.version_info[0]}.{sys.version_info[1]} pylws_ffi/{ours}"


#: the default User-Agent, as websockets' USER_AGENT ("Python/3.x websockets/15.y")
USER_AGENT = _user_agent()

HeadersLike = Union[Headers, Mapping[str, str], Iterable[tuple[str, str]]]


def _header_lines(
    additional_headers: HeadersLike | None, user_agent_header: str | None, origin: str | None
) -> bytes:
    """The request header lines of additional_headers and the User-Agent
    (websockets' order: a User-Agent in additional_headers wins), CRLF-ended.
    ValueError for a name that is not an HTTP token, a value with CR, LF or
    NUL (header injection), or a header the handshake sets itself."""
    items: list[tuple[str, str]] = []
    if additional_headers is not None:
        if isinstance(additional_headers, Headers):
            pairs: Iterable[Any] = additional_headers.raw_items()
        elif isinstance(additional_headers, Mapping):
            pairs = additional_headers.items()
        elif isinstance(additional_headers, (str, bytes)):
            raise TypeError("additional_headers must be a mapping or (name, value) pairs")
        else:
            pairs = additional_headers
        for pair in pairs:
            try:
                name, value = pair
            except (TypeError, ValueError):
                raise TypeError(
                    f"additional_headers must be a mapping or (name, value) pairs, not {pair!r}"
                ) from None
            items.append((name, value))
    if user_agent_header is not None and not any(n.lower() == "user-agent" for n, _ in items):
        items.append(("User-Agent", user_agent_header))
    out = []
    for name, value in items:
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"header names and values must be str, not {name!r}: {value!r}")
        raw_name = name.encode("utf-8", "surrogateescape")
        if not raw_name or not set(raw_name) <= _TCHAR:
            raise ValueError(f"invalid header name {name!r} (CR, LF or not an HTTP token)")
        if "\r" in value or "\n" in value or "\0" in value:
            raise ValueError(f"invalid value of header {name!r}: CR, LF or NUL (header injection)")
        low = name.lower()
        if low in _OWN_HEADERS or (low == "origin" and origin is not None):
            raise ValueError(f"{name} is set by the handshake itself, not additional_headers")
        out.append(raw_name + b": " + value.strip(" \t").encode() + b"\r\n")
    return b"".join(out)


# ---- the shared client context of a loop ----


class _Pending:
    """What one connection of a shared client context needs, by wsi."""

    __slots__ = ("settings", "opened", "header_lines", "too_long")

    def __init__(self, settings: _Connecting, opened: asyncio.Future[Connection]) -> None:
        self.settings = settings
        self.opened = opened
        self.header_lines = settings.header_lines
        self.too_long = False


class _Client(_Endpoint):
    """One core context serving every aio client connection of a loop (with
    the same TLS files): one timer and resolver descriptor for all of them,
    one socket each.  Made on first use, destroyed when its last connection
    (open or opening) ends, so nothing is left behind when the loop stops.
    Each connection's settings (max_size, max_queue, keepalive, compression,
    headers) are its own: the context's limits are set per wsi."""

    def __init__(self, loop: asyncio.AbstractEventLoop, key: tuple[Any, ...]) -> None:
        super().__init__(None, DEFAULT_MAX_QUEUE)
        self.loop = loop
        self.key = key
        self.tls_files: tuple[Any, Any, Any] = key[:3]
        #: wsi -> its connection's settings, until CLOSED or CONNECTION_ERROR
        self.pending: dict[Any, _Pending] = {}
        self.users = 0  # connections opening or open
        self.reusable = True

    def start_shared(self) -> None:
        self.aio = create_context(
            lib.CONTEXT_PORT_NO_LISTEN, None, [("", self.callback, 0)],
            [_DEFLATE], loop=self.loop, _receivers=self.conns,
        )  # fmt: skip

    def release(self) -> None:
        self.users -= 1
        if self.users <= 0:
            if _shared.get(self.loop, {}).get(self.key) is self:
                del _shared[self.loop][self.key]
                if not _shared[self.loop]:
                    del _shared[self.loop]
            self.aio.close()  # deferred when inside the library

    def fail(self, wsi: Any, exc: BaseException) -> None:
        rec = self.pending.pop(wsi, None)
        if rec is None:
            return
        if not rec.opened.done():
            rec.opened.set_exception(exc)
        self.release()

    def other(self, context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == _CONFIRM_EXT:
            rec = self.pending.get(wsi)
            # the context offers permessage-deflate; compression=None declines it
            return 0 if rec is not None and rec.settings.compression is not None else 1
        if reason == _APPEND_HEADERS:
            rec = self.pending.get(wsi)
            if rec is not None and rec.header_lines:
                lines = rec.header_lines
                if len(lines) > len_:  # no room left: connect() fails
                    rec.too_long = True
                    return 1
                pos = _cast(_char_pp, in_)
                _memmove(pos[0], lines, len(lines))
                pos[0] = pos[0] + len(lines)
            return 0
        if reason == _CLIENT_ESTABLISHED:
            return self.established(wsi)
        if reason == _CLIENT_CONNECTION_ERROR:
            why = _unpack(_cast(_char_p, in_), len_).decode("utf-8", "replace") if len_ else ""
            response = _response(wsi)
            if response is not None and response.status_code != 101:
                exc: BaseException = InvalidStatus(response)
            else:
                exc = _connection_error(why, lib.lws_tls_verify_error(wsi) if wsi else 0)
            self.fail(wsi, exc)
            return 0
        if reason == _LOAD_CLIENT_CERTS:
            # the client SSL_CTX, made for the first wss:// connection
            cafile, certfile, keyfile = self.tls_files
            try:
                load_files(user, cafile, certfile, keyfile)
            except OSError as e:  # ssl.SSLError
                # (wsi is NULL here) every wss:// connection of this context
                # fails; the next connect makes a new context
                self.reusable = False
                for other_wsi, rec in list(self.pending.items()):
                    if rec.settings.ssl_connection:
                        self.fail(other_wsi, e)  # its wsi is closed when established
                return 1
            return 0
        return 0

    def established(self, wsi: Any) -> int:
        rec = self.pending.get(wsi)
        if rec is None:
            return -1
        settings = rec.settings
        if rec.too_long:
            self.fail(wsi, ValueError("the request headers do not fit in the handshake request"))
            return -1  # closes it
        del self.pending[wsi]
        if rec.opened.done():  # cancelled or timed out meanwhile
            self.release()
            return -1
        # the connection's own limits
        max_size = settings.max_size
        lib.lws_set_wsi_max_message_size(wsi, 0 if max_size is None else max_size)
        self.max_size = sys.maxsize if max_size is None else max_size
        self.max_queue = settings.max_queue
        response = _response(wsi)
        subprotocol = None
        if settings.subprotocols and response is not None:
            subprotocol = response.headers.get("Sec-WebSocket-Protocol")
        conn = Connection(self, wsi, is_client=True, subprotocol=subprotocol, path=settings.path)
        conn.response = response
        self.conns[wsi] = conn
        conn._start_keepalive(*settings.keepalive)
        rec.opened.set_result(conn)
        return 0

    def closed(self, conn: Connection) -> None:
        self.release()  # one of its established connections


def _response(wsi: Any) -> Response | None:
    """The server's answer, in CLIENT_CONNECTION_ERROR and CLIENT_ESTABLISHED."""
    size = _new_sizes()
    head = lib.lws_client_response_head(wsi, size, size + 1)
    if head == _NULL:
        return None
    raw = _unpack(_cast(_char_p, head), size[0] + size[1])
    head_bytes, body = raw[: size[0]], raw[size[0] :]
    status_line = head_bytes.split(b"\n", 1)[0].rstrip(b"\r")
    parts = status_line.split(b" ", 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        return None
    reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
    return Response(status, reason, Headers.parse(head_bytes), body)


#: loop -> {(cafile, certfile, keyfile): its shared client context}
_shared: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], _Client]] = (
    weakref.WeakKeyDictionary()
)


def _shared_client(loop: asyncio.AbstractEventLoop, key: tuple[Any, ...]) -> _Client:
    clients = _shared.setdefault(loop, {})
    client = clients.get(key)
    if client is None or client.aio.closed or client.aio._closing or not client.reusable:
        client = _Client(loop, key)
        client.start_shared()
        clients[key] = client
    return client


def connect(
    url: str,
    *,
    origin: str | None = None,
    subprotocols: Sequence[str] | None = None,
    additional_headers: HeadersLike | None = None,
    user_agent_header: str | None = USER_AGENT,
    compression: str | None = "deflate",
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
    ``additional_headers``: more request headers, a mapping or (name, value)
    pairs (Authorization, Cookie...); ``user_agent_header``: the User-Agent
    (None: none is sent; one in additional_headers wins), as websockets.
    ``compression``: "deflate" (the default) offers permessage-deflate, None
    offers nothing; ``max_size`` applies to messages after inflating.
    ``open_timeout``: seconds for the whole opening (None: the library's own
    handshake timeout).  ``ping_interval``/``ping_timeout``: keepalive, as
    for :func:`serve`.  The connection's ``response`` is the server's 101
    answer (status_code, reason_phrase, headers).

    The client connections of one event loop share one core context (one
    per set of TLS files): each costs its socket only.  The context goes
    when its last connection ends.

    ``wss://`` verifies the server's certificate against the system's CAs
    plus those in ``cafile`` (PEM) if given, and checks that it is issued for
    the URL's host (a name, also sent as SNI, or an IP address).
    ``allow_self_signed``: also accept a self-signed server certificate (the
    name and dates are still checked).  ``certfile``/``keyfile``: a client
    certificate (PEM; the key by default read from ``certfile``) for servers
    that ask for one.  They are files because the core's OpenSSL reads them;
    an ssl.SSLContext cannot be taken.

    Raises :class:`InvalidStatus` (an :class:`InvalidHandshake`) when the
    server answers the handshake with another status than 101 (its
    ``response`` has the status code, reason, headers and body);
    :class:`InvalidCertificate` (an :class:`InvalidHandshake` and an
    ssl.SSLCertVerificationError) when the server's certificate is refused;
    :class:`InvalidHandshake` (a ConnectionError) when the connection fails
    otherwise, with the core's reason; ssl.SSLError when OpenSSL cannot use
    one of the files; TimeoutError (asyncio's) on timeout.  At once:
    ValueError for a URL that is neither ws:// nor wss:// (or TLS options
    with ws://), a header name or value with CR or LF (or a name that is not
    an HTTP token, or a header the handshake sets itself; the same for
    ``origin`` and ``subprotocols``), an unknown ``compression``;
    FileNotFoundError (or another OSError) for a file that cannot be read.
    """
    _check_keepalive(ping_interval, ping_timeout)
    if compression not in ("deflate", None):
        raise ValueError(f"unsupported compression: {compression!r}")
    connecting = _Connecting(
        url, subprotocols, origin, max_size, max_queue, open_timeout, loop,
        (cafile, certfile, keyfile), allow_self_signed,
    )  # fmt: skip
    connecting.keepalive = (ping_interval, ping_timeout)
    connecting.compression = compression
    connecting.header_lines = _header_lines(additional_headers, user_agent_header, origin)
    if origin is not None and any(c in origin for c in "\r\n\0"):
        raise ValueError(f"invalid origin {origin!r}: CR, LF or NUL (header injection)")
    for name in connecting.subprotocols:
        if not isinstance(name, str) or not name or not set(name.encode()) <= _TCHAR:
            raise ValueError(f"invalid subprotocol {name!r}: not an HTTP token")
    room = _REQUEST_ROOM - len(connecting.path) - len(connecting.host) - len(origin or "")
    if len(connecting.header_lines) > room - len(",".join(connecting.subprotocols)):
        raise ValueError("the request headers are too large (4 KiB in all)")
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
        if max_size is not None and max_size <= 0:
            raise ValueError("max_size must be > 0 or None")
        if max_queue < 1:
            raise ValueError("max_queue must be >= 1")
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
        self.compression: str | None = "deflate"
        self.header_lines = b""
        self._conn: Connection | None = None

    async def _open(self) -> Connection:
        loop = _running_loop(self.loop)
        key = tuple(None if f is None else os.fspath(f) for f in self.tls_files)
        client = _shared_client(loop, key)
        opened: asyncio.Future[Connection] = loop.create_future()
        client.users += 1
        try:
            wsi = libwebsocket_client_connect(
                client.aio.context, self.address, self.port, self.ssl_connection, self.path,
                self.host, self.origin, ",".join(self.subprotocols) or None, -1,
            )  # fmt: skip
        except BaseException:
            client.release()
            raise
        client.pending[wsi] = _Pending(self, opened)
        try:
            if self.open_timeout is None:
                return await opened
            return await asyncio.wait_for(asyncio.shield(opened), self.open_timeout)
        except BaseException:
            if not opened.done():
                opened.cancel()
                if client.pending.pop(wsi, None) is not None:
                    # still opening: the core reports CONNECTION_ERROR, which
                    # finds nothing to fail any more
                    client.aio.close_connection(wsi, lib.LWS_CLOSE_STATUS_GOINGAWAY)
                    client.release()
            elif not opened.cancelled() and opened.exception() is None:
                await opened.result().close()  # opened just as we gave up
            raise

    def __await__(self) -> Generator[Any, None, Connection]:
        return self._open().__await__()

    async def __aenter__(self) -> Connection:
        self._conn = await self._open()
        return self._conn

    async def __aexit__(self, *exc: object) -> None:
        assert self._conn is not None
        await self._conn.close()

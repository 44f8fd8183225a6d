""":func:`serve` and its :class:`Server`."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Awaitable, Generator, Mapping, Sequence
from typing import Any, Callable

from .._pylws_cffi import ffi, lib
from ..context import (
    lws_context_listen_port,
)
from .connection import (
    _BINARY,
    _ESTABLISHED,
    _FILTER_PROTOCOL,
    _HTTP,
    _TEXT,
    DEFAULT_MAX_QUEUE,
    DEFAULT_MAX_SIZE,
    Connection,
    Headers,
    Request,
    _check_keepalive,
    _Endpoint,
    _new_size,
)
from .exceptions import ConnectionClosed
from .loop import AioContext, _limit_items, _running_loop
from .tls import StrPath, _check_readable, check_files

log = logging.getLogger("pylws_ffi.aio")

_NULL = ffi.NULL
_cast = ffi.cast
_unpack = ffi.unpack

# ---- the server ----

Handler = Callable[[Connection], Awaitable[Any]]


class Server(_Endpoint):
    """A WebSocket server in the loop, made by :func:`serve`.

    ``port``, ``connections`` (the open ones), ``context`` (the
    :class:`AioContext`).  ``close()`` then ``await wait_closed()``, or use it
    as an async context manager.  Plain HTTP requests get a 404.
    """

    def __init__(
        self,
        handler: Handler,
        port: int,
        max_size: int | None,
        max_queue: int,
        close_timeout: float,
    ) -> None:
        super().__init__(max_size, max_queue)
        self.handler = handler
        #: the port listened on (the one the system picked for port 0)
        self.port = port
        #: the listening socket(s): ``server.sockets[0].getsockname()``
        self.sockets: list[_ListeningSocket] = []
        self.close_timeout = close_timeout
        self._tasks: set[asyncio.Task[Any]] = set()
        self._handshake: tuple[Any, str, bool, Headers] | None = None
        self._shutdown: asyncio.Task[None] | None = None

    @property
    def context(self) -> AioContext:
        return self.aio

    @property
    def connections(self) -> set[Connection]:
        return set(self.conns.values())

    def other(self, context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == _FILTER_PROTOCOL:
            # the request's path and whether a subprotocol was asked for;
            # ESTABLISHED follows within the same call when all goes well
            tokens = _cast("struct lws_tokens *", user)
            uri, proto = tokens[lib.WSI_TOKEN_GET_URI], tokens[lib.WSI_TOKEN_PROTOCOL]
            path = (
                _unpack(uri.token, uri.token_len).decode("utf-8", "replace") if uri.token else "/"
            )
            size = _new_size()
            head = lib.lws_request_head(wsi, size)
            raw = ffi.buffer(head, size[0])[:] if head != _NULL else b""
            self._handshake = (wsi, path, proto.token != _NULL, Headers.parse(raw))
            return 0
        if reason == _ESTABLISHED:
            path, asked, headers = "/", False, Headers()
            if self._handshake is not None and self._handshake[0] == wsi:
                _, path, asked, headers = self._handshake
            self._handshake = None
            conn = Connection(
                self,
                wsi,
                is_client=False,
                subprotocol=self.protocol_name(wsi) if asked else None,
                path=path,
                request=Request(path, headers),
            )
            self.conns[wsi] = conn
            conn._start_keepalive(self.ping_interval, self.ping_timeout)
            task = self.aio.loop.create_task(self._run(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return 0
        if reason == _HTTP:
            return 1  # nothing written: the library answers 404
        if reason == lib.LWS_CALLBACK_BROADCAST:
            conn = self.conns.get(wsi)
            if conn is not None and len_ >= 1:  # one kind byte (T/B), the payload
                data = ffi.buffer(_cast("unsigned char *", in_), len_)
                with contextlib.suppress(ConnectionClosed):  # closing: not for it
                    conn._write(wsi, data[1:], _TEXT if data[0:1] == b"T" else _BINARY)
            return 0
        return 0

    def broadcast(self, message: str | bytes | bytearray | memoryview) -> None:
        """Send ``message`` (str: text, bytes-like: binary) to every connection
        of this server and, with ``serve(..., redis=URL)``, of every server
        attached to the same stream (libwebsockets_broadcast: each gets it
        once, in the order this server broadcast).  Raises TypeError for another
        type, ValueError when it is larger than the backplane's limit."""
        if isinstance(message, str):
            data = b"T" + message.encode()
        elif isinstance(message, (bytes, bytearray, memoryview)):
            data = b"B" + bytes(message)
        else:
            raise TypeError(f"message must be str or bytes-like, not {type(message).__name__}")
        from ..server import libwebsockets_broadcast, lws_get_protocols

        protocols = lws_get_protocols(self.aio.context)
        for i in range(len(self.subprotocols)):
            if libwebsockets_broadcast(protocols[i], data, len(data)) < 0:
                raise ValueError(f"broadcast of {len(data) - 1} bytes refused (too large)")

    async def _run(self, conn: Connection) -> None:
        try:
            await self.handler(conn)
        except ConnectionClosed as e:
            if not conn.closed or e.code != conn.close_code:
                log.exception("connection handler failed")
                if not conn.closed:
                    conn._start_close(1011, "")
            # else: raised by the connection itself (async for, recv, send)
            # after it closed with an error: nothing more to do
        except Exception:
            log.exception("connection handler failed")
            if not conn.closed:
                conn._start_close(1011, "")
        except asyncio.CancelledError:
            if not conn.closed:
                conn._start_close(1001, "")
            raise
        if not conn.closed:
            await conn.close(1000, "")

    # ---- closing ----

    def close(self, code: int = 1001, reason: str = "") -> None:
        """Stop: every open connection is sent a close frame (``code``,
        ``reason``); once they have closed (or ``close_timeout`` has passed)
        the context is destroyed (which stops listening) and the handlers are
        awaited.  Returns at once; see :meth:`wait_closed`."""
        if self._shutdown is None:
            for conn in list(self.conns.values()):
                conn._start_close(code, reason)
            self._shutdown = self.aio.loop.create_task(self._close())

    async def _close(self) -> None:
        closing = [c.wait_closed() for c in self.conns.values()]
        if closing:
            await asyncio.wait(
                [asyncio.ensure_future(c) for c in closing], timeout=self.close_timeout
            )
        self.aio.close()  # CLOSED for whatever is left
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.close_timeout)
        for task in list(self._tasks):
            task.cancel()

    async def wait_closed(self) -> None:
        """Wait until :meth:`close` has finished."""
        if self._shutdown is None:
            fut = self.aio.loop.create_future()
            self.aio._on_close.append(lambda: fut.done() or fut.set_result(None))
            if self.aio.closed:
                return
            await fut
            return
        await asyncio.shield(self._shutdown)

    async def serve_forever(self) -> None:
        """Serve until cancelled (then close)."""
        try:
            await self.aio.loop.create_future()
        finally:
            self.close()
            await self.wait_closed()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()


class _ListeningSocket:
    """What ``Server.sockets`` lists: the listening socket's address, as
    ``websockets``' ``server.sockets[0].getsockname()`` gives it."""

    def __init__(self, address: str, port: int) -> None:
        self.family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self._name = (address, port)

    def getsockname(self) -> tuple[str, int]:
        return self._name

    def __repr__(self) -> str:
        return f"<listening socket {self._name[0]} port {self._name[1]}>"


def _listen_address(host: str | None) -> str:
    """The address the core listens on for ``host`` (as context.c picks it)."""
    if host is None:
        return "::"
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:  # an interface name
        return host
    v4 = [i for i in infos if i[0] == socket.AF_INET]
    return str((v4 or infos)[0][4][0])


class _Serving:
    """``await serve(...)`` or ``async with serve(...) as server``."""

    def __init__(self, start: Callable[[], Awaitable[Server]]) -> None:
        self._start = start
        self._server: Server | None = None

    def __await__(self) -> Generator[Any, None, Server]:
        return self._start().__await__()

    async def __aenter__(self) -> Server:
        self._server = await self._start()
        return self._server

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


def serve(
    handler: Handler,
    host: str | None,
    port: int,
    *,
    subprotocols: Sequence[str] | None = None,
    max_size: int | None = DEFAULT_MAX_SIZE,
    max_queue: int = DEFAULT_MAX_QUEUE,
    close_timeout: float = 5.0,
    ping_interval: float | None = 20.0,
    ping_timeout: float | None = 20.0,
    certfile: StrPath | None = None,
    keyfile: StrPath | None = None,
    cafile: StrPath | None = None,
    loop: asyncio.AbstractEventLoop | None = None,
    limits: Mapping[int, int] | None = None,
    redis: str | None = None,
    redis_stream: str = "lws-aio",
) -> _Serving:
    """Serve WebSockets on ``host`` (a host name such as "localhost", an IP
    address or an interface name; None: every interface) and ``port``
    (0: one the system picks, see ``server.port``/``server.sockets``), calling the coroutine
    ``handler(conn)`` for each connection (the connection is closed with 1000
    when it returns, 1011 when it raises).

    ``subprotocols``: the ones served, in order (a client asking for none
    gets the first without a Sec-WebSocket-Protocol answer; one asking only
    for others is refused).  ``max_size``: largest message received (None:
    no limit); ``max_queue``: messages kept unread before reading pauses.
    ``ping_interval``/``ping_timeout`` (seconds, None: off; 20 and 20 as in
    websockets): keepalive pings, and a connection whose peer sends no pong
    within ``ping_timeout`` is closed with 1011.

    TLS (``wss://``): ``certfile``, a PEM file with the server's certificate
    (its chain may follow), and ``keyfile``, its private key (default: read
    from ``certfile``), as for :meth:`ssl.SSLContext.load_cert_chain`; every
    connection on the port is then TLS.  ``cafile`` (PEM) makes a client
    certificate required, one that chains to these CAs
    (LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT).
    These are files because the core's OpenSSL reads them
    (libwebsocket_create_context's ssl_*_filepath): an ssl.SSLContext
    cannot be taken.

    ``limits``: the context's limits, ``{pylws_ffi.LWS_LIMIT_...: value}``
    (see :func:`pylws_ffi.lws_context_set_limit`), e.g. a keepalive:
    ``{LWS_LIMIT_KEEPALIVE_IDLE_SECS: 20, LWS_LIMIT_KEEPALIVE_PONG_SECS: 20}``.

    ``redis`` (``redis://[[user]:password@]host[:port][/db]``): attach to Redis
    so that :meth:`Server.broadcast` reaches the connections of every server
    attached to ``redis_stream`` (lws_context_attach_redis; Redis may be down).

    ``await serve(...)`` gives the :class:`Server`; ``async with serve(...) as
    server`` closes it at the end.  Raises OSError when the port is taken;
    FileNotFoundError (or another OSError) for a TLS file that cannot be
    read; ssl.SSLError (an OSError) for one OpenSSL cannot use, or a key
    that does not match the certificate.
    """
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ValueError(f"port must be 0..65535 (0: one the system picks), not {port!r}")
    if host is not None and not isinstance(host, str):
        raise TypeError(f"host must be a str or None, not {type(host).__name__}")
    names = list(subprotocols) if subprotocols else [""]
    if any(not isinstance(n, str) for n in names):
        raise TypeError("subprotocols must be strings")
    if certfile is None and (keyfile is not None or cafile is not None):
        raise ValueError("keyfile and cafile need certfile (TLS)")
    _check_readable(certfile=certfile, keyfile=keyfile, cafile=cafile)
    tls = (certfile, certfile if keyfile is None else keyfile, cafile)
    _check_keepalive(ping_interval, ping_timeout)
    options = lib.LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT if cafile is not None else 0
    _limit_items(limits)  # a mapping: checked now, its values when applied
    options |= lib.LWS_SERVER_OPTION_REPORT_PONGS  # pongs answer the keepalive pings

    interf = host or None
    c_port = port or lib.LWS_CONTEXT_PORT_ANY

    async def start() -> Server:
        server = Server(handler, port, max_size, max_queue, close_timeout)
        server.ping_interval, server.ping_timeout = ping_interval, ping_timeout
        try:
            server.start(c_port, interf, names, _running_loop(loop), tls, options, limits)
        except OSError as e:
            if certfile is not None and e.errno == errno.EINVAL:
                # the core logged OpenSSL's reasons; say them in the exception
                check_files(certfile, keyfile, cafile)
            raise
        server.port = lws_context_listen_port(server.aio.context)
        server.sockets = [_ListeningSocket(_listen_address(interf), server.port)]
        if redis is not None:
            from ..scaleout import lws_context_attach_redis

            try:
                lws_context_attach_redis(server.aio.context, redis, redis_stream)
            except Exception:
                server.aio.close()
                raise
        return server

    return _Serving(start)

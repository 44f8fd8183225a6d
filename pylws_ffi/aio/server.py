""":func:`serve` and its :class:`Server`."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import errno
import http
import inspect
import logging
import mimetypes
import os
import socket
import urllib.parse
from collections.abc import Awaitable, Generator, Mapping, Sequence
from importlib import metadata
from typing import Any, Callable, Union

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
    Response,
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
_write_unpadded = lib.lws_write_unpadded

# ---- the server ----

Handler = Callable[[Connection], Awaitable[Any]]
#: ``process_request(connection, request)``: None (go on) or a Response
ProcessRequest = Callable[
    [Connection, Request], Union[Response, None, Awaitable[Union[Response, None]]]
]
#: ``process_response(connection, request, response)``: None (send the
#: response, headers possibly changed) or another Response
ProcessResponse = Callable[
    [Connection, Request, Response], Union[Response, None, Awaitable[Union[Response, None]]]
]


def _FAILED() -> Response:
    return respond(
        500, "Failed to open a WebSocket connection.\nSee server log for more information.\n"
    )


def _version() -> str:
    try:
        return metadata.version("pylws_ffi")
    except metadata.PackageNotFoundError:  # pragma: no cover - not installed
        return "unknown"


#: the default ``server_header`` of :func:`serve`, as websockets' "Python/x websockets/y"
SERVER = f"pylws_ffi/{_version()}"

#: headers of the 101 that the core writes itself: process_response may not set them
_CORE_101_HEADERS = frozenset(
    ("upgrade", "connection", "sec-websocket-accept", "sec-websocket-protocol",
     "sec-websocket-extensions", "content-length", "transfer-encoding")
)  # fmt: skip


def respond(status: int | http.HTTPStatus, text: str) -> Response:
    """A plain text HTTP response, as websockets' ``ServerConnection.respond``:
    ``status``, its standard reason phrase, ``text`` as the UTF-8 body, with
    Date, ``Connection: close``, Content-Length and Content-Type headers.
    Also as ``connection.respond(status, text)``."""
    status = http.HTTPStatus(status)
    body = text.encode()
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", "text/plain; charset=utf-8"),
        ]
    )
    return Response(status.value, status.phrase, headers, body)


def _check_line(text: str, what: str) -> bytes:
    data = text.encode("utf-8")
    if any(b < 0x20 and b != 0x09 or b == 0x7F for b in data):
        raise ValueError(f"{what} {text!r} holds a control character (CR, LF...)")
    return data


def _http_answer(response: Response, server_header: str | None) -> tuple[bytes, bool]:
    """The bytes of ``response`` as an HTTP/1.1 answer, and whether the
    connection stays open after it.  Raises ValueError for a status out of
    200..599, a name that is not a token, a value with CR/LF; TypeError for
    a body that is not bytes."""
    if not isinstance(response, Response):
        raise TypeError(f"expected a Response or None, got {type(response).__name__}")
    status = response.status_code
    if not isinstance(status, int) or not 200 <= status <= 599:
        raise ValueError(f"an HTTP answer's status must be 200..599, not {status!r}")
    body = response.body
    if isinstance(body, str):
        body = body.encode()
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError(f"Response.body must be bytes, not {type(body).__name__}")
    body = bytes(body)
    lines = [b"HTTP/1.1 %d " % status + _check_line(str(response.reason_phrase), "reason")]
    keep = True
    names = set()
    for name, value in response.headers.raw_items():
        lname = name.lower()
        if lname in ("content-length", "transfer-encoding"):
            continue  # from the body
        if not name or not all(c.isalnum() or c in "!#$%&'*+-.^_`|~" for c in name):
            raise ValueError(f"header name {name!r} is not an HTTP token")
        if lname == "connection" and "close" in value.lower():
            keep = False
        names.add(lname)
        lines.append(name.encode("ascii") + b": " + _check_line(value, "header value"))
    if server_header is not None and "server" not in names:
        lines.append(b"Server: " + _check_line(server_header, "server_header"))
    lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body, keep


def _call_hook(hook: Callable[..., Any], *args: Any) -> Any:
    """Call a process_request/process_response hook (a function or a
    coroutine function) inside the library's callback.  A coroutine is run to
    its end at once: it may await what completes without waiting (other
    coroutines, ``asyncio.sleep(0)``), not I/O or a timer: one that waits for a
    future is refused with RuntimeError (the request then gets a 500)."""
    result = hook(*args)
    if not inspect.isawaitable(result):
        return result
    step = result.__await__()
    try:
        for _ in range(1000):
            # a bare yield (asyncio.sleep(0)) only lets others run: go on
            if step.send(None) is not None:
                break  # a future: it would wait
    except StopIteration as done:
        return done.value
    step.close()
    raise RuntimeError(
        f"{getattr(hook, '__qualname__', hook)!r} suspended: a process_request/"
        "process_response coroutine runs inside the handshake and may not wait for I/O"
    )


def _static_file(root: str, path: str) -> tuple[int, str]:
    """(200, file) for the request path ``path`` under ``root``; (403, why)
    for a path that could leave it, (404, why) for one that names no file."""
    try:
        target = urllib.parse.unquote(path.split("?", 1)[0].split("#", 1)[0], errors="strict")
    except UnicodeDecodeError:
        return 404, "not UTF-8"
    if "\0" in target or "\\" in target:
        return 403, "bad character in path"
    parts = target.split("/")
    if not target.startswith("/") or any(p in ("..", ".") for p in parts):
        return 403, "path traversal"
    rel = [p for p in parts if p]
    if target.endswith("/") or not rel:
        rel.append("index.html")
    real_root = os.path.realpath(root)
    full = os.path.realpath(os.path.join(real_root, *rel))
    if os.path.commonpath([full, real_root]) != real_root:
        return 403, "outside the static directory"  # a symlink out of it
    if not os.path.isfile(full):
        return 404, "no such file"
    return 200, full


def _content_type(file: str) -> str:
    ctype, encoding = mimetypes.guess_type(file)
    if ctype is None or encoding is not None:
        return "application/octet-stream"
    if ctype.startswith("text/") or ctype in ("application/javascript", "application/json"):
        ctype += "; charset=utf-8"
    return ctype


class Server(_Endpoint):
    """A WebSocket server in the loop, made by :func:`serve`.

    ``port``, ``connections`` (the open ones), ``context`` (the
    :class:`AioContext`).  ``close()`` then ``await wait_closed()``, or use it
    as an async context manager.  Plain HTTP requests get what
    ``process_request`` answers, else a file of ``static_dir``, else a 404.
    """

    def __init__(
        self,
        handler: Handler,
        port: int,
        max_size: int | None,
        max_queue: int,
        close_timeout: float,
        process_request: ProcessRequest | None = None,
        process_response: ProcessResponse | None = None,
        server_header: str | None = SERVER,
        static_dir: str | None = None,
    ) -> None:
        super().__init__(max_size, max_queue)
        self.handler = handler
        self.process_request = process_request
        self.process_response = process_response
        self.server_header = server_header
        self.static_dir = static_dir
        #: the port listened on (the one the system picked for port 0)
        self.port = port
        #: the listening socket(s): ``server.sockets[0].getsockname()``
        self.sockets: list[_ListeningSocket] = []
        self.close_timeout = close_timeout
        self._tasks: set[asyncio.Task[Any]] = set()
        self._handshake: tuple[Any, Connection] | None = None
        self._shutdown: asyncio.Task[None] | None = None

    @property
    def context(self) -> AioContext:
        return self.aio

    @property
    def connections(self) -> set[Connection]:
        return set(self.conns.values())

    def _request(self, wsi: Any, path: str) -> tuple[Connection, Request]:
        size = _new_size()
        head = lib.lws_request_head(wsi, size)
        raw = ffi.buffer(head, size[0])[:] if head != _NULL else b""
        request = Request(path, Headers.parse(raw))
        conn = Connection(self, wsi, is_client=False, subprotocol=None, path=path, request=request)
        return conn, request

    def _answer(self, wsi: Any, response: Response) -> int:
        """Write ``response`` as the HTTP answer (LWS_WRITE_HTTP); the return
        value for the callback: 0 keeps the connection, 1 closes it."""
        try:
            data, keep = _http_answer(response, self.server_header)
        except (TypeError, ValueError):
            log.exception("invalid HTTP response: answering 500")
            data, keep = _http_answer(_FAILED(), self.server_header)
        if _write_unpadded(wsi, data, len(data), lib.LWS_WRITE_HTTP) < 0:
            return 1
        return 0 if keep else 1

    def _process_request(self, conn: Connection, request: Request) -> Response | None:
        if self.process_request is None:
            return None
        try:
            response = _call_hook(self.process_request, conn, request)
        except Exception:
            log.exception("process_request failed: answering 500")
            return _FAILED()
        if response is not None and not isinstance(response, Response):
            log.error("process_request returned %r, not a Response or None: 500", response)
            return _FAILED()
        return response

    def _upgrade(self, wsi: Any, user: Any) -> int:
        """FILTER_PROTOCOL_CONNECTION: process_request, then the 101's headers
        (server_header, process_response) or an HTTP answer refusing it."""
        tokens = _cast("struct lws_tokens *", user)
        uri, proto = tokens[lib.WSI_TOKEN_GET_URI], tokens[lib.WSI_TOKEN_PROTOCOL]
        path = _unpack(uri.token, uri.token_len).decode("utf-8", "replace") if uri.token else "/"
        conn, request = self._request(wsi, path)
        conn.subprotocol = self.protocol_name(wsi) if proto.token != _NULL else None
        response = self._process_request(conn, request)
        if response is not None:
            self._answer(wsi, response)
            return 1  # refused with that answer (the core closes after it)
        headers = Headers()
        if self.server_header is not None:
            headers["Server"] = self.server_header
        response = Response(101, "Switching Protocols", headers, b"")
        if self.process_response is not None:
            try:
                other = _call_hook(self.process_response, conn, request, response)
                if other is not None and not isinstance(other, Response):
                    raise TypeError(f"process_response returned {other!r}, not a Response")
            except Exception:
                log.exception("process_response failed: answering 500")
                other = _FAILED()
            if other is not None and other.status_code != 101:
                self._answer(wsi, other)
                return 1
            if other is not None:
                response = other
        for name, value in response.headers.raw_items():
            if name.lower() in _CORE_101_HEADERS:
                continue  # the core writes them
            if lib.lws_add_response_header(wsi, name.encode(), value.encode()) < 0:
                log.error("header %r of the 101 refused (not a token, CR/LF, too long)", name)
                self._answer(wsi, _FAILED())
                return 1
        conn.response = response
        self._handshake = (wsi, conn)
        return 0

    def _http(self, wsi: Any, in_: Any, len_: int) -> int:
        """LWS_CALLBACK_HTTP: process_request, then static_dir, else 404."""
        path = _unpack(_cast("char *", in_), len_).decode("utf-8", "replace") if len_ else "/"
        if self.process_request is not None:
            conn, request = self._request(wsi, path)
            response = self._process_request(conn, request)
            if response is not None:
                return self._answer(wsi, response)
        if self.static_dir is not None:
            size = _new_size()
            head = lib.lws_request_head(wsi, size)
            method = ffi.buffer(head, min(size[0], 5))[:] if head != _NULL else b""
            if not method.startswith((b"GET ", b"HEAD ")):
                response = respond(405, "Method Not Allowed.\n")
                response.headers["Allow"] = "GET, HEAD"
                return self._answer(wsi, response)
            status, found = _static_file(self.static_dir, path)
            if status == 200:
                ctype = _content_type(found)
                if lib.libwebsockets_serve_http_file(
                    self.aio.context, wsi, found.encode(), ctype.encode()
                ):
                    return 1  # the core answered 404 (it went away) and closes
                return 0
            log.info("static file %r: %d (%s)", path, status, found)
            return self._answer(wsi, respond(status, f"{http.HTTPStatus(status).phrase}.\n"))
        return 1  # nothing written: the library answers 404

    def other(self, context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == _FILTER_PROTOCOL:
            # ESTABLISHED follows within the same call when all goes well
            self._handshake = None
            return self._upgrade(wsi, user)
        if reason == _ESTABLISHED:
            handshake, self._handshake = self._handshake, None
            if handshake is not None and handshake[0] == wsi:
                conn = handshake[1]
            else:  # pragma: no cover - the core always filters first
                conn = Connection(self, wsi, is_client=False, subprotocol=None, path="/")
            self.conns[wsi] = conn
            conn._start_keepalive(self.ping_interval, self.ping_timeout)
            task = self.aio.loop.create_task(self._run(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return 0
        if reason == _HTTP:
            return self._http(wsi, in_, len_)
        if reason == lib.LWS_CALLBACK_BROADCAST:
            target = self.conns.get(wsi)
            if target is not None and len_ >= 1:  # one kind byte (T/B), the payload
                data = ffi.buffer(_cast("unsigned char *", in_), len_)
                with contextlib.suppress(ConnectionClosed):  # closing: not for it
                    target._write(wsi, data[1:], _TEXT if data[0:1] == b"T" else _BINARY)
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
    process_request: ProcessRequest | None = None,
    process_response: ProcessResponse | None = None,
    server_header: str | None = SERVER,
    static_dir: StrPath | None = None,
    compression: str | None = "deflate",
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

    HTTP on the same port, as in websockets: ``process_request(connection,
    request)`` (a function or coroutine function) is called for every
    request, plain HTTP or upgrade, before the handshake (``connection.request``
    is ``request``: path with the query, headers; ``connection.remote_address``).
    It returns None to go on (the upgrade, or for a plain HTTP request the
    file of ``static_dir`` or a 404), or a :class:`Response` that is sent
    instead (``connection.respond(status, text)`` makes a plain text one; a
    Response of your own: status, reason, headers, body).  After an upgrade
    request's answer the connection closes; after a plain request's it stays
    open unless the answer says ``Connection: close`` (respond()'s does).  An
    exception in it gives a 500 (and is logged).  It runs inside the
    library's callback: a coroutine may not wait for I/O (one that suspends
    gets a 500).
    ``process_response(connection, request, response)`` (same kinds) is called
    with the 101 before it is sent: ``response.headers`` holds the header
    lines added to the library's own (Upgrade, Connection,
    Sec-WebSocket-Accept/Protocol/Extensions, which it may not change):
    ``response.headers["Set-Cookie"] = ...`` adds one; returning a Response
    other than a 101 refuses the upgrade with it.  ``server_header``: the
    Server header of the 101 and of process_request's answers (default
    "pylws_ffi/<version>"; None: none).  Header names must be HTTP tokens and
    values may hold no CR/LF (a 500 otherwise: no header injection).

    ``static_dir``: serve the files under this directory to plain GET/HEAD
    requests that process_request left alone (another method gets a 405) (``/`` and ``.../`` give
    index.html), through the core's libwebsockets_serve_http_file (sendfile),
    with a Content-Type from the extension; a path with ``..`` (plain or
    %-encoded), a backslash or NUL, or reaching outside the directory through
    a symlink gets a 403, a missing file a 404.

    ``compression``: "deflate" (the default, as websockets) accepts a client's
    permessage-deflate offer (RFC 7692); None declines every extension.
    ``max_size`` applies to a message after inflating (a small compressed
    frame that inflates past it closes the connection with 1009).

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
    if compression not in ("deflate", None):
        raise ValueError(f"unsupported compression: {compression!r}")
    for what, hook in (
        ("process_request", process_request),
        ("process_response", process_response),
    ):
        if hook is not None and not callable(hook):
            raise TypeError(f"{what} must be callable or None, not {hook!r}")
    if server_header is not None:
        _check_line(server_header, "server_header")
    root = None
    if static_dir is not None:
        root = os.fsdecode(static_dir)
        if not os.path.isdir(root):
            raise NotADirectoryError(errno.ENOTDIR, "static_dir is not a directory", root)
    extensions = [lib.libwebsocket_internal_extensions[0]] if compression else None
    options = lib.LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT if cafile is not None else 0
    _limit_items(limits)  # a mapping: checked now, its values when applied
    options |= lib.LWS_SERVER_OPTION_REPORT_PONGS  # pongs answer the keepalive pings

    interf = host or None
    c_port = port or lib.LWS_CONTEXT_PORT_ANY

    async def start() -> Server:
        server = Server(
            handler, port, max_size, max_queue, close_timeout,
            process_request, process_response, server_header, root,
        )  # fmt: skip
        server.ping_interval, server.ping_timeout = ping_interval, ping_timeout
        try:
            server.start(
                c_port, interf, names, _running_loop(loop), tls, options, limits, extensions
            )
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

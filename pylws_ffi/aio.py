"""pylws_ffi in an asyncio event loop.

Two layers:

* :func:`create_context` runs a context inside an asyncio loop (the default
  one, uvloop, any loop with ``add_reader``/``add_writer``).  It takes the
  arguments of :func:`pylws_ffi.libwebsocket_create_context` and wraps the
  callback of ``protocols[0]``: the four poll reasons
  (LWS_CALLBACK_ADD_POLL_FD / DEL_POLL_FD / SET_MODE_POLL_FD /
  CLEAR_MODE_POLL_FD) become ``loop.add_reader`` / ``remove_reader`` /
  ``add_writer`` / ``remove_writer`` of the descriptor, whose readiness calls
  ``libwebsocket_service_fd`` for it; every other reason goes to your
  callback.  No thread and no periodic call: the library's timer is one of
  the descriptors, so an idle context costs no CPU.

* :func:`serve` and :func:`connect`, a small Pythonic API built on the
  C-style functions: a coroutine ``handler(conn)`` per connection, whole
  messages (``str`` for text, ``bytes`` for binary) by ``async for message in
  conn`` or ``await conn.recv()``, ``await conn.send(data)``,
  ``await conn.close(code, reason)``::

      async def echo(conn):
          async for message in conn:
              await conn.send(message)

      async def main():
          async with pylws_ffi.aio.serve(echo, "127.0.0.1", 8765):
              async with pylws_ffi.aio.connect("ws://127.0.0.1:8765") as conn:
                  await conn.send("hello")
                  assert await conn.recv() == "hello"

  TLS: ``serve(..., certfile=, keyfile=)`` and ``connect("wss://...")``,
  which verifies the server's certificate (system CAs, plus ``cafile=``).

Everything here must be used from the loop's thread.  From other threads only
the functions the C header names thread-safe may be called on a context
(libwebsocket_callback_on_writable(_all_protocol), libwebsockets_broadcast,
libwebsocket_close_and_free_session, libwebsocket_rx_flow_control); the loop
carries their requests out.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import ssl
import struct
import sys
from collections import deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from types import TracebackType
from typing import Any, Callable, Union
from urllib.parse import urlsplit

from . import context as _context_module
from . import dispatch
from ._pylws_cffi import ffi, lib
from .client import libwebsocket_client_connect
from .context import (
    _addr,
    _contexts,
    libwebsocket_context_destroy,
    libwebsocket_create_context,
    lws_context_listen_port,
    lws_context_set_limit,
    lws_set_max_message_size,
)

__all__ = [
    "AioContext",
    "Connection",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "Headers",
    "InvalidCertificate",
    "InvalidHandshake",
    "Request",
    "Server",
    "connect",
    "create_context",
    "serve",
]

log = logging.getLogger("pylws_ffi.aio")

Data = Union[str, bytes]

_POLLIN = lib.POLLIN
_POLLOUT = lib.POLLOUT
_ADD = lib.LWS_CALLBACK_ADD_POLL_FD
_DEL = lib.LWS_CALLBACK_DEL_POLL_FD
_SET = lib.LWS_CALLBACK_SET_MODE_POLL_FD
_CLEAR = lib.LWS_CALLBACK_CLEAR_MODE_POLL_FD
_POLL_REASONS = frozenset((_ADD, _DEL, _SET, _CLEAR))

_service_fd = lib.libwebsocket_service_fd
_NULL = ffi.NULL
_intptr = ffi.typeof("intptr_t")
_cast = ffi.cast


# ---------------------------------------------------------------------------
# the context in a loop
# ---------------------------------------------------------------------------


class AioContext:
    """A libwebsockets context whose descriptors an asyncio loop watches.

    Made by :func:`create_context`.  ``context`` is the context cdata, for
    every C-style function (``None`` once closed); ``loop`` the event loop.
    Close it with :meth:`close` (also as a context manager).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.context: Any = None
        #: fd -> the POLLIN/POLLOUT bits the loop watches it for
        self.watched: dict[int, int] = {}
        # the one pollfd every event is serviced with
        self._pollfd = ffi.new("struct pollfd *")
        self._depth = 0  # > 0 while the library is running callbacks
        self._due_scheduled = False
        self._closing = False
        self._on_close: list[Callable[[], Any]] = []

    # ---- the poll callbacks ----

    def _wrap(self, callback: Any) -> Callable[..., Any]:
        """protocols[0]'s callable: the poll reasons here, the rest to ``callback``
        (a Python callable or a C function pointer cdata)."""
        poll_reasons = _POLL_REASONS
        poll_event = self._poll_event
        cast, intptr = _cast, _intptr

        def protocol0(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> Any:
            if reason in poll_reasons:
                poll_event(reason, int(cast(intptr, user)), len_)
                return 0
            return callback(context, wsi, reason, user, in_, len_)

        protocol0.__wrapped__ = callback  # type: ignore[attr-defined]
        return protocol0

    def _poll_event(self, reason: int, fd: int, bits: int) -> None:
        old = self.watched.get(fd, 0)
        if reason == _ADD:
            new = bits & (_POLLIN | _POLLOUT)
        elif reason == _SET:
            new = old | (bits & (_POLLIN | _POLLOUT))
        elif reason == _CLEAR:
            new = old & ~bits
        else:  # _DEL
            self.watched.pop(fd, None)
            self._unwatch(fd, old)
            return
        self.watched[fd] = new
        loop = self.loop
        if new & _POLLIN and not old & _POLLIN:
            loop.add_reader(fd, self._readable, fd)
        elif old & _POLLIN and not new & _POLLIN:
            loop.remove_reader(fd)
        if new & _POLLOUT and not old & _POLLOUT:
            loop.add_writer(fd, self._writable, fd)
        elif old & _POLLOUT and not new & _POLLOUT:
            loop.remove_writer(fd)

    def _unwatch(self, fd: int, bits: int) -> None:
        # the library announces DEL before it closes the fd; a loop may still
        # object (uvloop, for a descriptor it no longer knows): nothing to undo
        try:
            if bits & _POLLIN:
                self.loop.remove_reader(fd)
            if bits & _POLLOUT:
                self.loop.remove_writer(fd)
        except (OSError, ValueError):
            pass

    # ---- servicing ----

    def _readable(self, fd: int) -> None:
        self._service(fd, _POLLIN)

    def _writable(self, fd: int) -> None:
        self._service(fd, _POLLOUT)

    def _service(self, fd: int, revents: int) -> None:
        context = self.context
        if context is None:
            return
        pollfd = self._pollfd
        pollfd.fd = fd
        pollfd.revents = revents
        self._depth += 1
        try:
            n = _service_fd(context, pollfd)
        finally:
            self._depth -= 1
        if dispatch._pending:
            dispatch.reraise_pending()
        if n < 0:
            log.error("libwebsocket_service_fd failed (%d) for fd %d", n, fd)

    def run_due(self) -> None:
        """Soon (from the loop), let the library run whatever is due or
        deferred: ``libwebsocket_service_fd(context, NULL)``.  Never needed for
        correctness (the library arms its timer descriptor for deferred work,
        even work queued between service calls); useful to have it done at the
        next loop iteration rather than at the timer's.  Calls coalesce."""
        if not self._due_scheduled and self.context is not None:
            self._due_scheduled = True
            self.loop.call_soon(self._service_due)

    def _service_due(self) -> None:
        self._due_scheduled = False
        context = self.context
        if context is None:
            return
        self._depth += 1
        try:
            _service_fd(context, _NULL)
        finally:
            self._depth -= 1
        if dispatch._pending:
            dispatch.reraise_pending()

    def close_connection(self, wsi: Any, code: int) -> None:
        """libwebsocket_close_and_free_session from outside the service
        calls: CLOSED runs inside it, and a callback that closes this context
        then must wait until the library has returned."""
        self._depth += 1
        try:
            lib.libwebsocket_close_and_free_session(self.context, wsi, code)
        finally:
            self._depth -= 1

    # ---- closing ----

    @property
    def closed(self) -> bool:
        """True once the context has been destroyed."""
        return self.context is None

    def close(self) -> None:
        """Destroy the context: every connection gets CLOSED (and a going-away
        close frame), every descriptor is removed from the loop.

        Called from inside one of the context's callbacks, the destruction
        happens as soon as the library has returned (the callback's caller
        still uses the context).  Idempotent.
        """
        if self.context is None or self._closing:
            return
        if self._depth:
            self._closing = True
            self.loop.call_soon(self._destroy)
            return
        self._destroy()

    destroy = close

    def _destroy(self) -> None:
        context = self.context
        if context is None:
            return
        self._closing = True
        try:
            if _addr(context) in _contexts:  # not destroyed behind our back
                libwebsocket_context_destroy(context)
        finally:
            self.context = None
            # the core announced DEL for each; anything left is stale
            for fd, bits in list(self.watched.items()):
                self._unwatch(fd, bits)
            self.watched.clear()
            callbacks, self._on_close = self._on_close, []
            for callback in callbacks:
                callback()

    def __enter__(self) -> AioContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.context is None else f"{len(self.watched)} fds watched"
        return f"<AioContext {state}>"


def _running_loop(loop: asyncio.AbstractEventLoop | None) -> asyncio.AbstractEventLoop:
    if loop is not None:
        return loop
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "no running event loop: call this from a coroutine, or pass loop="
        ) from None


def create_context(
    port: int,
    interf: str | bytes | None,
    protocols: Sequence[Any],
    extensions: Any = None,
    ssl_cert_filepath: Any = None,
    ssl_private_key_filepath: Any = None,
    ssl_ca_filepath: Any = None,
    gid: int = -1,
    uid: int = -1,
    options: int = 0,
    user: Any = None,
    *,
    loop: asyncio.AbstractEventLoop | None = None,
    limits: Mapping[int, int] | None = None,
) -> AioContext:
    """:func:`pylws_ffi.libwebsocket_create_context` served by an asyncio loop.

    Same arguments (``protocols`` as a list of ``(name, callback[,
    per_session_data_size])`` tuples; protocols[0]'s callback may be a Python
    callable or a C function pointer), plus ``loop`` (default: the running
    loop).  protocols[0]'s callback does not see the four poll reasons: they
    register the context's descriptors with the loop.  Callbacks then run in
    the loop's thread, from its readiness callbacks.  ``limits``: ``{LWS_LIMIT_...:
    value}`` set with :func:`pylws_ffi.lws_context_set_limit` once it is made.

    Returns an :class:`AioContext`; its ``context`` is the cdata the C-style
    functions take.  Raises what libwebsocket_create_context raises, and
    RuntimeError when there is no running loop and none is given, and what
    lws_context_set_limit raises for a bad limit (ValueError, TypeError).
    """
    loop = _running_loop(loop)
    limit_items = _limit_items(limits)
    if isinstance(protocols, ffi.CData) or not isinstance(protocols, Sequence) or not protocols:
        raise TypeError(
            "protocols must be a non-empty list of (name, callback, per_session_data_size) "
            "tuples (aio wraps protocols[0]'s callback, which a cdata array does not allow)"
        )
    first = protocols[0]
    if not isinstance(first, tuple) or len(first) not in (2, 3):
        raise TypeError(f"protocols[0] must be a (name, callback[, size]) tuple, not {first!r}")
    callback = first[1]
    if not callable(callback) and not (
        isinstance(callback, ffi.CData) and ffi.typeof(callback).kind == "function"
    ):
        raise TypeError(f"protocols[0] callback must be callable, not {callback!r}")
    if isinstance(callback, ffi.CData) and callback == ffi.NULL:
        raise ValueError("protocols[0] callback is NULL")

    aio = AioContext(loop)
    wrapped = [(first[0], aio._wrap(callback), *first[2:]), *protocols[1:]]
    try:
        aio.context = libwebsocket_create_context(
            port, interf, wrapped, extensions, ssl_cert_filepath, ssl_private_key_filepath,
            ssl_ca_filepath, gid, uid, options, user,
        )  # fmt: skip
    except BaseException:
        # a failed creation announced DEL for what it had added
        for fd, bits in list(aio.watched.items()):
            aio._unwatch(fd, bits)
        aio.watched.clear()
        raise
    try:
        for limit, value in limit_items:
            lws_context_set_limit(aio.context, limit, value)
    except BaseException:
        aio.close()
        raise
    if isinstance(callback, ffi.CData):  # called with wsi objects of its own
        _context_module._foreign.add(aio.context)
    return aio


def _limit_items(limits: Mapping[int, int] | None) -> list[tuple[int, int]]:
    if limits is None:
        return []
    if not isinstance(limits, Mapping):
        raise TypeError(f"limits must be a mapping {{LWS_LIMIT_...: value}}, not {limits!r}")
    return list(limits.items())


# ---------------------------------------------------------------------------
# connections
# ---------------------------------------------------------------------------

_RECEIVE = lib.LWS_CALLBACK_RECEIVE
_CLIENT_RECEIVE = lib.LWS_CALLBACK_CLIENT_RECEIVE
_SERVER_WRITEABLE = lib.LWS_CALLBACK_SERVER_WRITEABLE
_CLIENT_WRITEABLE = lib.LWS_CALLBACK_CLIENT_WRITEABLE
_ESTABLISHED = lib.LWS_CALLBACK_ESTABLISHED
_CLIENT_ESTABLISHED = lib.LWS_CALLBACK_CLIENT_ESTABLISHED
_CLIENT_CONNECTION_ERROR = lib.LWS_CALLBACK_CLIENT_CONNECTION_ERROR
_CLOSED = lib.LWS_CALLBACK_CLOSED
_FILTER_PROTOCOL = lib.LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION
_HTTP = lib.LWS_CALLBACK_HTTP
_LOAD_CLIENT_CERTS = lib.LWS_CALLBACK_OPENSSL_LOAD_EXTRA_CLIENT_VERIFY_CERTS
_RECEIVES = frozenset((_RECEIVE, _CLIENT_RECEIVE))
_WRITEABLES = frozenset((_SERVER_WRITEABLE, _CLIENT_WRITEABLE))

_TEXT = lib.LWS_WRITE_TEXT
_BINARY = lib.LWS_WRITE_BINARY
_WRITE_CLOSE = lib.LWS_WRITE_CLOSE
_WRITE_PING = lib.LWS_WRITE_PING
_PONG = lib.LWS_CALLBACK_CLIENT_RECEIVE_PONG

_write_unpadded = lib.lws_write_unpadded
_choked = lib.lws_send_pipe_choked
_is_final = lib.libwebsocket_is_final_fragment
_is_binary = lib.lws_frame_is_binary
_on_writable = lib.libwebsocket_callback_on_writable
_flow = lib.libwebsocket_rx_flow_control
_from_buffer = ffi.from_buffer


def _new_size() -> Any:
    return ffi.new("size_t *")


_unpack = ffi.unpack
_char_p = ffi.typeof("char *")
_uintptr = ffi.typeof("uintptr_t")

#: default largest message received, as websockets (1 MiB)
DEFAULT_MAX_SIZE = 2**20
#: default count of received messages queued before reading pauses
DEFAULT_MAX_QUEUE = 16


class ConnectionClosed(Exception):
    """The connection is closed (raised by ``recv``/``send`` after the end).

    ``code``/``reason``: as :attr:`Connection.close_code` and
    :attr:`Connection.close_reason`.
    """

    def __init__(self, code: int | None, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"connection closed (code {code}{', ' + reason if reason else ''})")


class ConnectionClosedOK(ConnectionClosed):
    """The connection closed properly, as ``websockets`` defines it: the
    peer's close frame had 1000, 1001 or no code, and this side's (when it
    sent one of its own) 1000 or 1001.  ``async for`` over a connection ends
    quietly for it."""


class ConnectionClosedError(ConnectionClosed):
    """The connection closed with an error: another close code (1011, 1009,
    1002...) either way, or it was dropped without a close frame from the
    peer.  ``async for`` over a connection raises it."""


#: close codes of a proper close (websockets' OK_CLOSE_CODES)
_OK_CODES = (1000, 1001, 1005)


def _closed_exc(
    rcvd: int | None, sent: int | None, code: int | None, reason: str
) -> ConnectionClosed:
    ok = rcvd in _OK_CODES and (sent is None or sent in _OK_CODES)
    return (ConnectionClosedOK if ok else ConnectionClosedError)(code, reason)


class InvalidHandshake(ConnectionError):
    """A client connection failed before it was established; the text says
    why (the CLIENT_CONNECTION_ERROR message of the core)."""


class InvalidCertificate(InvalidHandshake, ssl.SSLCertVerificationError):
    """A ``wss://`` connection failed because the server's certificate was
    refused: not issued by a trusted CA, issued for another name, expired...

    Both an :class:`InvalidHandshake` and an :class:`ssl.SSLCertVerificationError`
    (what the ``ssl`` module and ``websockets`` raise in that case).  The text
    is the core's (``TLS: server certificate refused: hostname mismatch``);
    ``verify_message`` is OpenSSL's reason (``hostname mismatch``) and
    ``verify_code`` the X509_V_ERR_* number it stands for (None if unknown).
    """

    def __init__(self, message: str, verify_message: str) -> None:
        super().__init__(ssl.SSL_ERROR_SSL, message)
        self.verify_message = verify_message
        try:
            self.verify_code = _openssl().verify_code(verify_message)
        except (OSError, AttributeError):  # OpenSSL not reachable through ctypes
            self.verify_code = None

    def __str__(self) -> str:
        return str(self.strerror)


_CERT_REFUSED = "TLS: server certificate refused: "


def _connection_error(why: str) -> InvalidHandshake:
    """The exception for a CLIENT_CONNECTION_ERROR whose message is ``why``."""
    if why.startswith(_CERT_REFUSED):
        return InvalidCertificate(why, why[len(_CERT_REFUSED) :])
    return InvalidHandshake(why or "connection failed")


class Headers(Mapping[str, str]):
    """HTTP headers as received: names compare without case, in order.

    ``headers["Cookie"]`` is the value (several values of one name are
    joined with ", "); ``get_all(name)`` lists them; ``raw_items()`` gives
    every (name, value) pair as sent.  As websockets' ``Headers``, read-only.
    """

    def __init__(self, items: Sequence[tuple[str, str]] = ()) -> None:
        self._items = list(items)
        self._by_name: dict[str, list[str]] = {}
        for name, value in self._items:
            self._by_name.setdefault(name.lower(), []).append(value)

    @classmethod
    def parse(cls, head: bytes) -> Headers:
        """The header lines of a request head (its first line is skipped)."""
        items = []
        for line in head.split(b"\n")[1:]:
            name, sep, value = line.rstrip(b"\r\0").partition(b":")
            if sep and name:
                items.append(
                    (name.decode("latin-1"), value.strip(b" \t").decode("utf-8", "replace"))
                )
        return cls(items)

    def __getitem__(self, name: str) -> str:
        return ", ".join(self._by_name[name.lower()])

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_name

    def get_all(self, name: str) -> list[str]:
        return list(self._by_name.get(name.lower(), []))

    def raw_items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class Request:
    """The opening handshake's request, as websockets' ``conn.request``:
    ``path`` (with the query) and ``headers``."""

    def __init__(self, path: str, headers: Headers) -> None:
        self.path = path
        self.headers = headers

    def __repr__(self) -> str:
        return f"<Request {self.path!r}>"


def _peer_address(wsi: Any) -> Any:
    """getpeername() of the connection's socket, None if unknown."""
    fd = lib.libwebsocket_get_socket_fd(wsi)
    if fd < 0:
        return None
    try:
        with socket.socket(fileno=os.dup(fd)) as sock:
            return sock.getpeername()
    except OSError:
        return None


class Connection:
    """One WebSocket connection, server or client side.

    ``async for message in conn`` yields whole messages (``str`` for text,
    ``bytes`` for binary) until the connection closes; ``await conn.recv()``
    returns the next one; ``await conn.send(data)``; ``await conn.close()``.
    Messages are reassembled from the pieces the library delivers; one larger
    than ``max_size`` closes the connection with 1009.  When ``max_queue``
    messages wait unread, reading from the socket pauses
    (libwebsocket_rx_flow_control) until the handler catches up.
    """

    def __init__(
        self,
        endpoint: _Endpoint,
        wsi: Any,
        *,
        is_client: bool,
        subprotocol: str | None,
        path: str,
        request: Request | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._aio = endpoint.aio
        self._loop = endpoint.aio.loop
        self.wsi: Any = wsi
        self.is_client = is_client
        #: the subprotocol agreed on, None when none was asked for
        self.subprotocol = subprotocol
        #: the request path (server side: what the client asked for)
        self.path = path
        #: server side: the opening request (path, headers); None on a client
        self.request = request
        #: the peer's address, as getpeername() gave it when it opened
        self.remote_address: Any = _peer_address(wsi)
        self.max_size = endpoint.max_size
        self.max_queue = endpoint.max_queue
        self._messages: deque[Data] = deque()
        self._recv_waiter: asyncio.Future[None] | None = None
        self._parts: bytearray | None = None
        self._paused = False
        self._send_lock = asyncio.Lock()
        self._write_waiter: asyncio.Future[None] | None = None
        self._closed = endpoint.aio.loop.create_future()
        self._sent_code: int | None = None
        self._sent_reason = ""
        self._rcvd: tuple[int, str] | None = None
        #: ping payload -> (the future its pong resolves, when it was sent)
        self._pings: dict[bytes, tuple[asyncio.Future[float], float]] = {}
        #: round trip of the last ping answered, in seconds (as websockets)
        self.latency = 0.0
        self._keepalive_task: asyncio.Task[None] | None = None

    # ---- state ----

    @property
    def closed(self) -> bool:
        """True once the library has reported the connection CLOSED."""
        return self.wsi is None

    @property
    def close_code(self) -> int | None:
        """The close code, once closed: the one in the peer's close frame
        (LWS_CALLBACK_CLOSED carries it), else the one this side sent
        (``close()``, 1009 for a too large message, 1011 when a server handler
        raised, 1001 when the server or the context closed it); None while
        open, and when the connection ended with neither (dropped, or a close
        frame without a code)."""
        if self.wsi is not None:
            return None
        if self._rcvd is not None:
            return self._rcvd[0]
        return self._sent_code

    @property
    def close_reason(self) -> str:
        """The close reason that goes with :attr:`close_code` ("" if none)."""
        if self.wsi is not None:
            return ""
        if self._rcvd is not None:
            return self._rcvd[1]
        return self._sent_reason if self._sent_code is not None else ""

    def _exc(self) -> ConnectionClosed:
        """ConnectionClosedOK or ConnectionClosedError, as websockets chooses."""
        rcvd = self._rcvd[0] if self._rcvd is not None else None
        if self.wsi is not None:  # closing: only what this side sent is known
            rcvd = self._sent_code
        return _closed_exc(rcvd, self._sent_code, self.close_code, self.close_reason)

    # ---- receiving ----

    async def recv(self) -> Data:
        """The next message: ``str`` (text) or ``bytes`` (binary).

        Raises :class:`ConnectionClosed` once the connection has closed and
        every message received before has been returned.
        """
        while not self._messages:
            if self.wsi is None:
                raise self._exc()
            waiter = self._recv_waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._recv_waiter = None
        message = self._messages.popleft()
        if self._paused and len(self._messages) <= self.max_queue // 2 and self.wsi is not None:
            self._paused = False
            _flow(self.wsi, 1)  # what is stashed is parsed by deferred work
        return message

    def __aiter__(self) -> AsyncIterator[Data]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Data]:
        while True:
            try:
                yield await self.recv()
            except ConnectionClosedOK:
                return

    def _wake_reader(self) -> None:
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _on_receive(self, wsi: Any, in_: Any, len_: int) -> int:
        parts = self._parts
        if parts is None and _is_final(wsi):
            # the whole message in one piece: the usual case
            data = _unpack(_cast(_char_p, in_), len_) if len_ else b""
        else:
            if parts is None:
                parts = self._parts = bytearray()
            if len(parts) + len_ > self.max_size:
                return self._too_large(wsi)
            if len_:
                parts += ffi.buffer(in_, len_)
            if not _is_final(wsi):
                return 0
            data = bytes(parts)
            self._parts = None
        if len(data) > self.max_size:
            return self._too_large(wsi)
        if _is_binary(wsi):
            message: Data = data
        else:
            try:
                message = data.decode()
            except UnicodeDecodeError:  # the core checks UTF-8; never trust twice
                self._sent_code = lib.LWS_CLOSE_STATUS_INVALID_PAYLOAD
                lib.libwebsocket_close_and_free_session(
                    self._aio.context, wsi, lib.LWS_CLOSE_STATUS_INVALID_PAYLOAD
                )
                return -1
        self._messages.append(message)
        if len(self._messages) >= self.max_queue and not self._paused:
            self._paused = True
            _flow(wsi, 0)
        self._wake_reader()
        return 0

    def _too_large(self, wsi: Any) -> int:
        self._parts = None
        self._sent_code = lib.LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE
        self._sent_reason = ""
        lib.libwebsocket_close_and_free_session(
            self._aio.context, wsi, lib.LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE
        )
        return -1

    # ---- sending ----

    async def send(
        self, data: str | bytes | bytearray | memoryview | Iterable[Data] | AsyncIterable[Data]
    ) -> None:
        """Send one message: ``str`` as text, bytes-like as binary; an
        iterable or async iterable of pieces (all str or all bytes-like) as
        one message in fragments, as websockets does.

        Returns once the library has taken it (it may still be queued for the
        socket).  While the connection's output is choked
        (``lws_send_pipe_choked``), waits for its WRITEABLE callback first;
        concurrent sends go out in the order they were called.  Raises
        :class:`ConnectionClosed` when the connection is closed or closing.
        """
        if isinstance(data, str):
            payload: Any = data.encode()
            kind = _TEXT
        elif isinstance(data, (bytes, bytearray, memoryview)):
            payload = data
            kind = _BINARY
        elif isinstance(data, (Iterable, AsyncIterable)) and not isinstance(data, Mapping):
            await _send_fragments(self, data)  # one message in fragments
            return
        else:
            raise TypeError(f"data must be str or bytes-like, not {type(data).__name__}")
        wsi = self.wsi
        if wsi is not None and not self._send_lock.locked() and not _choked(wsi):
            self._write(wsi, payload, kind)  # the fast path: nobody waits, room now
            return
        async with self._send_lock:
            while self.wsi is not None and _choked(self.wsi):
                await self._writable()
            if self.wsi is None:
                raise self._exc()
            self._write(self.wsi, payload, kind)

    def _write(self, wsi: Any, payload: Any, kind: int) -> None:
        if self._sent_code is not None:
            raise _closed_exc(self._sent_code, self._sent_code, self._sent_code, self._sent_reason)
        buf = _from_buffer(payload)
        if _write_unpadded(wsi, buf, len(buf), kind) < 0:
            raise self._exc()

    async def _writable(self) -> None:
        if self._sent_code is not None or _on_writable(self._aio.context, self.wsi) < 0:
            raise _closed_exc(self._sent_code, self._sent_code, self._sent_code, self._sent_reason)
        waiter = self._write_waiter = self._loop.create_future()
        try:
            await waiter
        finally:
            self._write_waiter = None

    def _on_writeable(self) -> None:
        waiter = self._write_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # ---- pings ----

    async def ping(self, data: str | bytes | None = None) -> asyncio.Future[float]:
        """Send a ping; returns a future that its pong resolves, to the round
        trip in seconds (``await (await conn.ping())``), as in websockets.

        ``data``: the payload (at most 125 bytes; str as UTF-8); None sends 4
        random bytes.  A pong answers its ping and every earlier one.
        Raises :class:`ConnectionClosed` when the connection is closed or
        closing (pending pings fail with it when it closes), ValueError for a
        payload too large, RuntimeError when a ping with this payload is
        already waiting.
        """
        if data is None:
            payload = os.urandom(4)
            while payload in self._pings:
                payload = os.urandom(4)
        else:
            payload = data.encode() if isinstance(data, str) else bytes(data)
            if len(payload) > 125:
                raise ValueError("a ping payload is at most 125 bytes")
            if payload in self._pings:
                raise RuntimeError("a ping with this payload already waits for its pong")
        wsi = self.wsi
        if wsi is None or self._sent_code is not None:
            raise self._exc()
        waiter: asyncio.Future[float] = self._loop.create_future()
        self._pings[payload] = (waiter, self._loop.time())
        if _write_unpadded(wsi, _from_buffer(payload), len(payload), _WRITE_PING) < 0:
            del self._pings[payload]
            raise self._exc()
        return waiter

    def _on_pong(self, in_: Any, len_: int) -> None:
        payload = ffi.buffer(in_, len_)[:] if len_ else b""
        if payload not in self._pings:
            return  # unsolicited, or for a ping already answered
        now = self._loop.time()
        for key in list(self._pings):
            waiter, sent = self._pings.pop(key)
            if not waiter.done():
                waiter.set_result(now - sent)
            if key == payload:
                self.latency = now - sent
                break

    async def _keepalive(self, interval: float, timeout: float | None) -> None:
        """A ping every ``interval`` seconds; no pong within ``timeout``
        closes the connection with 1011 (a frozen peer is found in bounded
        time)."""
        try:
            while True:
                await asyncio.sleep(interval)
                if self.wsi is None or self._sent_code is not None:
                    return
                waiter = await self.ping()
                if timeout is None:
                    continue
                try:
                    await asyncio.wait_for(asyncio.shield(waiter), timeout)
                except asyncio.TimeoutError:
                    wsi = self.wsi
                    if wsi is not None and self._sent_code is None:
                        log.info("no pong within %s s: closing with 1011", timeout)
                        self._sent_code = lib.LWS_CLOSE_STATUS_UNEXPECTED_CONDITION
                        self._sent_reason = "keepalive ping timeout"
                        self._aio.close_connection(wsi, self._sent_code)
                    return
        except ConnectionClosed:
            return

    def _start_keepalive(self, interval: float | None, timeout: float | None) -> None:
        if interval is not None:
            self._keepalive_task = self._loop.create_task(self._keepalive(interval, timeout))

    # ---- closing ----

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close: send a close frame with ``code`` and ``reason`` (UTF-8, at
        most 123 bytes), then wait for the peer's close frame (the library
        gives up after a few seconds).  Idempotent."""
        self._start_close(code, reason)
        await self.wait_closed()

    def _start_close(self, code: int, reason: str) -> None:
        wsi = self.wsi
        if wsi is None or self._sent_code is not None:
            return
        if not (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code < 5000):
            raise ValueError(f"{code} is not a close code that may be sent")
        # at most 123 bytes, cut at a character boundary (else the peer sees
        # invalid UTF-8 and fails the connection with 1007)
        data = reason.encode()
        if len(data) > 123:
            data = data[:123].decode("utf-8", "ignore").encode()
            reason = data.decode()
        payload = struct.pack("!H", code) + data
        self._sent_code, self._sent_reason = code, reason
        if _write_unpadded(wsi, payload, len(payload), _WRITE_CLOSE) < 0:
            self._aio.close_connection(wsi, code)

    async def wait_closed(self) -> None:
        """Wait until the connection has closed."""
        await asyncio.shield(self._closed)

    def _on_closed(self, in_: Any, len_: int) -> None:
        self.wsi = None
        self._parts = None
        if in_ != _NULL and len_ >= 2:  # the peer's close frame: code, reason
            payload = ffi.buffer(in_, len_)[:]
            self._rcvd = (
                struct.unpack("!H", payload[:2])[0],
                payload[2:].decode("utf-8", "replace"),
            )
        elif self._sent_code is None and self._aio._closing:
            self._sent_code = lib.LWS_CLOSE_STATUS_GOINGAWAY  # the context is destroyed
        if not self._closed.done():
            self._closed.set_result(None)
        self._wake_reader()
        pings, self._pings = self._pings, {}
        for pong_waiter, _ in pings.values():
            if not pong_waiter.done():
                pong_waiter.set_exception(self._exc())
                pong_waiter.exception()  # nobody may wait for it: not worth a warning
        task = self._keepalive_task
        if task is not None and task is not asyncio.current_task(self._loop):
            task.cancel()
        waiter = self._write_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(self._exc())

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        side = "client" if self.is_client else "server"
        state = "open" if self.wsi is not None else f"closed {self.close_code}"
        return f"<Connection {side} {self.path!r} {state}>"


# ---------------------------------------------------------------------------
# TLS: certificate files into the core's OpenSSL contexts
# ---------------------------------------------------------------------------

StrPath = Union[str, bytes, "os.PathLike[str]"]


class _OpenSSL:
    """The few OpenSSL calls the TLS options need, made through ctypes on the
    ``SSL_CTX *`` the core hands its callbacks.  They must come from the
    libssl the core is linked with: a ``dlsym`` on the extension module
    searches its dependencies, so that one is used (a libssl found by name
    only if that fails)."""

    def __init__(self) -> None:
        import ctypes
        import ctypes.util

        from . import _pylws_cffi

        try:
            so: Any = ctypes.CDLL(_pylws_cffi.__file__)
            so.SSL_CTX_load_verify_locations  # noqa: B018 - is it reachable?
        except (OSError, AttributeError):
            so = ctypes.CDLL(ctypes.util.find_library("ssl") or "libssl.so.3")
        p, s, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
        ul = ctypes.c_ulong
        for name, restype, argtypes in [
            ("TLS_method", p, []),
            ("SSL_CTX_new", p, [p]),
            ("SSL_CTX_free", None, [p]),
            ("SSL_CTX_load_verify_locations", i, [p, s, s]),
            ("SSL_CTX_use_certificate_chain_file", i, [p, s]),
            ("SSL_CTX_use_PrivateKey_file", i, [p, s, i]),
            ("SSL_CTX_check_private_key", i, [p]),
            ("ERR_get_error", ul, []),
            ("ERR_clear_error", None, []),
            ("ERR_error_string_n", None, [ul, s, ctypes.c_size_t]),
            ("X509_verify_cert_error_string", s, [ctypes.c_long]),
        ]:
            fn = getattr(so, name)
            fn.restype, fn.argtypes = restype, argtypes
            setattr(self, name, fn)
        self._ctypes = ctypes
        self._verify_codes: dict[str, int] | None = None

    def _errors(self) -> str:
        out = []
        buf = self._ctypes.create_string_buffer(256)
        while True:
            e = self.ERR_get_error()  # type: ignore[attr-defined]
            if not e:
                break
            self.ERR_error_string_n(e, buf, len(buf))  # type: ignore[attr-defined]
            out.append(buf.value.decode(errors="replace"))
        return "; ".join(out) or "OpenSSL gave no reason"

    def load(
        self,
        ssl_ctx: int,
        cafile: StrPath | None = None,
        certfile: StrPath | None = None,
        keyfile: StrPath | None = None,
    ) -> None:
        """Load ``cafile`` (PEM CAs to trust), ``certfile`` (PEM certificate
        chain) and ``keyfile`` (its key; default: in ``certfile``) into the
        ``SSL_CTX *`` at ``ssl_ctx``.  Raises ssl.SSLError saying which file
        and why."""
        o: Any = self
        o.ERR_clear_error()

        def fail(what: str, path: StrPath) -> ssl.SSLError:
            return ssl.SSLError(
                ssl.SSL_ERROR_SSL, f"cannot load {what} {os.fspath(path)!r}: {self._errors()}"
            )

        if cafile is not None and o.SSL_CTX_load_verify_locations(
            ssl_ctx, os.fsencode(cafile), None
        ) != 1:  # fmt: skip
            raise fail("the CA file", cafile)
        if certfile is not None:
            if o.SSL_CTX_use_certificate_chain_file(ssl_ctx, os.fsencode(certfile)) != 1:
                raise fail("the certificate", certfile)
            key = certfile if keyfile is None else keyfile
            if o.SSL_CTX_use_PrivateKey_file(ssl_ctx, os.fsencode(key), 1) != 1:  # PEM
                raise fail("the private key", key)
            if o.SSL_CTX_check_private_key(ssl_ctx) != 1:
                raise fail(f"the private key {os.fspath(key)!r} with the certificate", certfile)

    def check(
        self, certfile: StrPath | None, keyfile: StrPath | None, cafile: StrPath | None
    ) -> None:
        """Load the files into a scratch SSL_CTX: raises ssl.SSLError when
        one of them cannot be used."""
        o: Any = self
        ctx = o.SSL_CTX_new(o.TLS_method())
        if not ctx:
            raise ssl.SSLError(ssl.SSL_ERROR_SSL, f"SSL_CTX_new failed: {self._errors()}")
        try:
            self.load(ctx, cafile, certfile, keyfile)
        finally:
            o.SSL_CTX_free(ctx)

    def verify_code(self, message: str) -> int | None:
        """The X509_V_ERR_* code whose text is ``message``."""
        if self._verify_codes is None:
            codes: dict[str, int] = {}
            for code in range(1, 200):
                text = self.X509_verify_cert_error_string(code)  # type: ignore[attr-defined]
                if text:
                    codes.setdefault(text.decode(errors="replace"), code)
            self._verify_codes = codes
        return self._verify_codes.get(message)


_openssl_instance: _OpenSSL | None = None


def _openssl() -> _OpenSSL:
    global _openssl_instance
    if _openssl_instance is None:
        _openssl_instance = _OpenSSL()
    return _openssl_instance


def _check_readable(**paths: StrPath | None) -> None:
    """Open each file given, so a missing or unreadable one raises its
    FileNotFoundError / PermissionError (naming it) before anything starts."""
    for what, path in paths.items():
        if path is None:
            continue
        if not isinstance(path, (str, bytes, os.PathLike)):
            raise TypeError(f"{what} must be a path (str, bytes, os.PathLike), not {path!r}")
        with open(path, "rb"):
            pass


# ---------------------------------------------------------------------------
# what serve() and connect() share: one context and its connections
# ---------------------------------------------------------------------------


class _Endpoint:
    """A context with one callback for all its protocols, mapping each wsi to
    its Connection."""

    def __init__(self, max_size: int | None, max_queue: int) -> None:
        if max_size is not None and max_size <= 0:
            raise ValueError("max_size must be > 0 or None")
        if max_queue < 1:
            raise ValueError("max_queue must be >= 1")
        self.max_size = sys.maxsize if max_size is None else max_size
        self.max_queue = max_queue
        self.aio: AioContext = None  # type: ignore[assignment]
        self.conns: dict[Any, Connection] = {}
        self.subprotocols: list[str] = []
        #: keepalive (serve/connect's ping_interval, ping_timeout): None = off
        self.ping_interval: float | None = None
        self.ping_timeout: float | None = None

    def start(
        self,
        port: int,
        interf: str | None,
        names: list[str],
        loop: Any,
        tls: tuple[Any, Any, Any] = (None, None, None),
        options: int = 0,
        limits: Mapping[int, int] | None = None,
    ) -> None:
        callback = self.callback
        protocols = [(name, callback, 0) for name in names]
        cert, key, ca = tls
        self.aio = create_context(
            port, interf, protocols, None, cert, key, ca, -1, -1, options, loop=loop,
            limits=limits,
        )  # fmt: skip
        self.subprotocols = names
        # the core enforces it too, before a piece of a larger one is delivered
        lws_set_max_message_size(
            self.aio.context, 0 if self.max_size == sys.maxsize else self.max_size
        )

    def callback(self, context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason in _RECEIVES:
            conn = self.conns.get(wsi)
            return conn._on_receive(wsi, in_, len_) if conn is not None else 0
        if reason in _WRITEABLES:
            conn = self.conns.get(wsi)
            if conn is not None:
                conn._on_writeable()
            return 0
        if reason == _PONG:
            conn = self.conns.get(wsi)
            if conn is not None:
                conn._on_pong(in_, len_)
            return 0
        if reason == _CLOSED:
            conn = self.conns.pop(wsi, None)
            if conn is not None:
                conn._on_closed(in_, len_)
                self.closed(conn)
            return 0
        return self.other(context, wsi, reason, user, in_, len_)

    def other(self, context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        return 0

    def closed(self, conn: Connection) -> None:
        pass

    def protocol_name(self, wsi: Any) -> str:
        return ffi.string(lib.libwebsockets_get_protocol(wsi).name).decode()


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
        from .server import libwebsockets_broadcast, lws_get_protocols

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


def _check_keepalive(interval: float | None, timeout: float | None) -> None:
    for what, value in (("ping_interval", interval), ("ping_timeout", timeout)):
        if value is not None and not (isinstance(value, (int, float)) and value > 0):
            raise ValueError(f"{what} must be a number of seconds > 0 or None, not {value!r}")


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
                _openssl().check(certfile, keyfile, cafile)
            raise
        server.port = lws_context_listen_port(server.aio.context)
        server.sockets = [_ListeningSocket(_listen_address(interf), server.port)]
        if redis is not None:
            from .scaleout import lws_context_attach_redis

            try:
                lws_context_attach_redis(server.aio.context, redis, redis_stream)
            except Exception:
                server.aio.close()
                raise
        return server

    return _Serving(start)


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
            self.fail(_connection_error(why))
            return 0
        if reason == _LOAD_CLIENT_CERTS:
            # the client SSL_CTX, made for the first wss:// connection
            cafile, certfile, keyfile = self.tls_files
            try:
                _openssl().load(int(_cast(_uintptr, user)), cafile, certfile, keyfile)
            except (OSError, AttributeError) as e:  # ssl.SSLError, or no OpenSSL by ctypes
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


from .aio_broadcast import broadcast as broadcast  # noqa: E402
from .aio_fragments import send_fragments as _send_fragments  # noqa: E402

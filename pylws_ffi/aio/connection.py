"""One WebSocket connection (:class:`Connection`), its request and headers,
and :class:`_Endpoint`: what serve() and connect() share (one context, the
callback of all its protocols, each wsi's Connection)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
import sys
from collections import deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    Sequence,
)
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Union

from .._pylws_cffi import ffi, lib
from ..context import (
    lws_set_max_message_size,
)
from .exceptions import ConnectionClosed, ConnectionClosedOK, _closed_exc
from .loop import AioContext, create_context

log = logging.getLogger("pylws_ffi.aio")

Data = Union[str, bytes]

_NULL = ffi.NULL

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
_write_unless_choked = lib._pylws_aio_write  # _CHOKED: nothing written
_CHOKED = lib.PYLWS_CHOKED
_RECEIVED_BINARY = lib.PYLWS_RECEIVED_BINARY
_RECEIVED_FINAL = lib.PYLWS_RECEIVED_FINAL
_on_writable = lib.libwebsocket_callback_on_writable
_flow = lib.libwebsocket_rx_flow_control
_from_buffer = ffi.from_buffer
_buffer = ffi.buffer
_whole_messages = lib.lws_set_whole_messages


def _new_size() -> Any:
    return ffi.new("size_t *")


_unpack = ffi.unpack
_uintptr = ffi.typeof("uintptr_t")

#: default largest message received, as websockets (1 MiB)
DEFAULT_MAX_SIZE = 2**20
#: default count of received messages queued before reading pauses
DEFAULT_MAX_QUEUE = 16


class Headers(MutableMapping[str, str]):
    """HTTP headers: names compare without case, in order.

    ``headers["Cookie"]`` is the value (several values of one name are
    joined with ", "); ``get_all(name)`` lists them; ``raw_items()`` gives
    every (name, value) pair as sent.  As in websockets' ``Headers``,
    ``headers[name] = value`` adds a line (a response's, e.g. in
    ``process_response``) and ``del headers[name]`` removes every line of
    that name.
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

    def __setitem__(self, name: str, value: str) -> None:
        self._items.append((name, value))
        self._by_name.setdefault(name.lower(), []).append(value)

    def __delitem__(self, name: str) -> None:
        key = name.lower()
        del self._by_name[key]
        self._items = [(n, v) for n, v in self._items if n.lower() != key]

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


class Response:
    """A server's answer to the opening handshake, as websockets' ``Response``:
    ``status_code``, ``reason_phrase``, ``headers`` and ``body`` (what came of
    it: see :func:`pylws_ffi.lws_client_response_head`).  A client
    connection's ``response`` (the 101), and :class:`InvalidStatus`'s."""

    def __init__(self, status_code: int, reason_phrase: str, headers: Headers, body: bytes) -> None:
        self.status_code = status_code
        self.reason_phrase = reason_phrase
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"<Response {self.status_code} {self.reason_phrase!r}>"


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


class _Messages:
    """``async for message in conn``: recv() until the connection closes
    (ConnectionClosedOK ends the loop, ConnectionClosedError is raised), in
    one coroutine per message (no async generator around recv())."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def __aiter__(self) -> _Messages:
        return self

    async def __anext__(self) -> Data:
        conn = self._conn
        messages = conn._messages
        while not messages:
            if conn.wsi is None:
                exc = conn._exc()
                if isinstance(exc, ConnectionClosedOK):
                    raise StopAsyncIteration
                raise exc
            waiter = conn._new_recv_waiter()
            try:
                await waiter
            finally:
                conn._recv_waiter = None
        message = messages.popleft()
        if conn._paused:
            conn._resume()
        return message


class Connection:
    """One WebSocket connection, server or client side.

    ``async for message in conn`` yields whole messages (``str`` for text,
    ``bytes`` for binary) until the connection closes; ``await conn.recv()``
    returns the next one; ``await conn.send(data)``; ``await conn.close()``.
    The library gathers each message from its fragments
    (lws_set_whole_messages; with ``max_size=None`` the pieces are joined
    here); one larger than ``max_size`` closes the connection with 1009.
    When ``max_queue`` messages wait unread, reading from the socket pauses
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
        #: client side: the server's 101 answer (headers...); None on a server
        self.response: Response | None = None
        #: the peer's address, as getpeername() gave it when it opened
        self.remote_address: Any = _peer_address(wsi)
        self.max_size = endpoint.max_size
        self.max_queue = endpoint.max_queue
        self._messages: deque[Data] = deque()
        self._recv_waiter: asyncio.Future[None] | None = None
        self._parts: bytearray | None = None
        self._paused = False
        self._send_lock = asyncio.Lock()
        #: coroutines waiting for _send_lock or holding it (_sending): while
        #: any, send() takes no fast path, so no message overtakes one that
        #: waits (Lock.locked() is False between a release and the next
        #: waiter taking the lock)
        self._senders = 0
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
        # the core gathers each message (lws_set_whole_messages) up to the
        # message size limit, which is max_size; without a limit, pieces are
        # joined here (the core's bound would be 64 MiB)
        self._whole = self.max_size != sys.maxsize
        if self._whole:
            _whole_messages(wsi, 1)

    def respond(self, status: int, text: str) -> Response:
        """A plain text HTTP response for ``process_request`` to return, as
        websockets' ``ServerConnection.respond``: ``status`` with its reason
        phrase, ``text`` as the UTF-8 body (Date, ``Connection: close``,
        Content-Length, Content-Type headers)."""
        from .server import respond

        return respond(status, text)

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
        every message received before has been returned, and RuntimeError
        while another coroutine waits for the next message (websockets raises
        its ConcurrencyError, a RuntimeError, there).  Cancelling it loses no
        message: the message stays queued for the next call.
        """
        messages = self._messages
        while not messages:
            if self.wsi is None:
                raise self._exc()
            waiter = self._new_recv_waiter()
            try:
                await waiter
            finally:
                self._recv_waiter = None
        message = messages.popleft()
        if self._paused:
            self._resume()
        return message

    def _new_recv_waiter(self) -> asyncio.Future[None]:
        # one reader at a time: a second one would take the first one's
        # wake-up, and the first would wait forever
        if self._recv_waiter is not None:
            raise RuntimeError(
                "recv() or async for: another coroutine is already waiting for the next message"
            )
        waiter = self._recv_waiter = self._loop.create_future()
        return waiter

    def _resume(self) -> None:
        if len(self._messages) <= self.max_queue // 2 and self.wsi is not None:
            self._paused = False
            _flow(self.wsi, 1)  # what is stashed is parsed by deferred work

    def __aiter__(self) -> AsyncIterator[Data]:
        return _Messages(self)

    def _wake_reader(self) -> None:
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _on_receive(self, in_: Any, len_: int, flags: int) -> int:
        # one message, or a piece of one, from dispatch._pylws_receive_callback:
        # in_ is a char *, flags its PYLWS_RECEIVED_* bits
        wsi = self.wsi
        if self._whole:
            # the whole message, checked against max_size by the core
            if flags & _RECEIVED_BINARY:
                message: Data = _unpack(in_, len_) if len_ else b""
            else:
                try:  # one copy: straight from the core's buffer to str
                    message = str(_buffer(in_, len_), "utf-8") if len_ else ""
                except UnicodeDecodeError:  # the core checks UTF-8; never trust twice
                    return self._bad_text(wsi)
        else:
            parts = self._parts
            if parts is None and flags & _RECEIVED_FINAL:
                # the whole message in one piece: the usual case
                data = _unpack(in_, len_) if len_ else b""
            else:
                if parts is None:
                    parts = self._parts = bytearray()
                if len(parts) + len_ > self.max_size:
                    return self._too_large(wsi)
                if len_:
                    parts += _buffer(in_, len_)
                if not flags & _RECEIVED_FINAL:
                    return 0
                data = bytes(parts)
                self._parts = None
            if len(data) > self.max_size:
                return self._too_large(wsi)
            if flags & _RECEIVED_BINARY:
                message = data
            else:
                try:
                    message = data.decode()
                except UnicodeDecodeError:  # the core checks UTF-8; never trust twice
                    return self._bad_text(wsi)
        messages = self._messages
        messages.append(message)
        if len(messages) >= self.max_queue and not self._paused:
            self._paused = True
            _flow(wsi, 0)
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return 0

    def _bad_text(self, wsi: Any) -> int:
        self._sent_code = lib.LWS_CLOSE_STATUS_INVALID_PAYLOAD
        lib.libwebsocket_close_and_free_session(
            self._aio.context, wsi, lib.LWS_CLOSE_STATUS_INVALID_PAYLOAD
        )
        return -1

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
        socket, or, while more received messages wait to be read, gathered
        with the answers to them and sent together at the latest at the next
        loop iteration).  While the connection's output is choked
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
            from .fragments import send_fragments

            await send_fragments(self, data)  # one message in fragments
            return
        else:
            raise TypeError(f"data must be str or bytes-like, not {type(data).__name__}")
        wsi = self.wsi
        if wsi is not None and self._sent_code is None and not self._senders:
            # the fast path: nobody waits; written unless the output is
            # choked.  While more received messages wait, the handler is
            # likely to answer them too: the core gathers the writes and
            # sends them together, after the last one (or at the next loop
            # iteration at the latest).
            buf = payload if type(payload) is bytes else _from_buffer(payload)
            aio = self._aio
            if self._messages:
                if aio.gathering is not wsi:
                    aio.gather(wsi)
                rc = _write_unless_choked(wsi, buf, len(buf), kind)
            else:
                rc = _write_unless_choked(wsi, buf, len(buf), kind)
                if aio.gathering is wsi:
                    aio.flush()
            if rc >= 0:
                return
            if rc != _CHOKED:
                raise self._exc()
        async with self._sending():
            while self.wsi is not None and _choked(self.wsi):
                await self._writable()
            if self.wsi is None:
                raise self._exc()
            self._write(self.wsi, payload, kind)

    @asynccontextmanager
    async def _sending(self) -> AsyncIterator[None]:
        """Hold the send lock, counted in _senders from the moment we wait."""
        self._senders += 1
        try:
            async with self._send_lock:
                yield
        finally:
            self._senders -= 1

    def _write(self, wsi: Any, payload: Any, kind: int) -> None:
        if self._sent_code is not None:
            raise _closed_exc(self._sent_code, self._sent_code, self._sent_code, self._sent_reason)
        buf = payload if type(payload) is bytes else _from_buffer(payload)
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

    def _on_closed(self, in_: Any, len_: int, sent: int = 0) -> None:
        self.wsi = None
        self._parts = None
        if self._sent_code is None and sent > 0:
            # a close the core sent itself: 1009 past max_size, 1007, 1002...
            self._sent_code, self._sent_reason = sent, ""
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
        extensions: Any = None,
    ) -> None:
        callback = self.callback
        protocols = [(name, callback, 0) for name in names]
        cert, key, ca = tls
        self.aio = create_context(
            port, interf, protocols, extensions, cert, key, ca, -1, -1, options, loop=loop,
            limits=limits, _receivers=self.conns,
        )  # fmt: skip
        self.subprotocols = names
        # the core enforces it too, before a piece of a larger one is delivered
        lws_set_max_message_size(
            self.aio.context, 0 if self.max_size == sys.maxsize else self.max_size
        )

    def callback(self, context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason in _RECEIVES:
            # a message reaches here only for a wsi not in self.conns (the
            # others go straight to _on_receive): nobody to give it to
            return 0
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
                conn._on_closed(in_, len_, lib.lws_close_status_sent(wsi))
                self.closed(conn)
            return 0
        return self.other(context, wsi, reason, user, in_, len_)

    def other(self, context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        return 0

    def closed(self, conn: Connection) -> None:
        pass

    def protocol_name(self, wsi: Any) -> str:
        return ffi.string(lib.libwebsockets_get_protocol(wsi).name).decode()


def _check_keepalive(interval: float | None, timeout: float | None) -> None:
    for what, value in (("ping_interval", interval), ("ping_timeout", timeout)):
        if value is not None and not (isinstance(value, (int, float)) and value > 0):
            raise ValueError(f"{what} must be a number of seconds > 0 or None, not {value!r}")

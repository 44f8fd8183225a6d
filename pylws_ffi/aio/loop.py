"""The context in an event loop: :class:`AioContext` and :func:`create_context`.

The four poll reasons of protocols[0] become the loop's add_reader /
add_writer of each descriptor; readiness calls libwebsocket_service_fd."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Callable

from .. import registry
from .._pylws_cffi import ffi, lib
from ..context import (
    _create_context,
    libwebsocket_context_destroy,
    lws_context_set_limit,
)

log = logging.getLogger("pylws_ffi.aio")

_POLLIN = lib.POLLIN
_POLLOUT = lib.POLLOUT
_ADD = lib.LWS_CALLBACK_ADD_POLL_FD
_DEL = lib.LWS_CALLBACK_DEL_POLL_FD
_SET = lib.LWS_CALLBACK_SET_MODE_POLL_FD
_CLEAR = lib.LWS_CALLBACK_CLEAR_MODE_POLL_FD
_POLL_REASONS = frozenset((_ADD, _DEL, _SET, _CLEAR))

_service_fd = lib.libwebsocket_service_fd
_gather_writes = lib.lws_gather_writes
_gather_flush = lib.lws_gather_flush
_pending = registry.pending  # exceptions to re-raise after a service call (one list)
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
        #: the wsi whose writes the core gathers (lws_gather_writes), or None
        self.gathering: Any = None

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
        # _service(fd, POLLIN), inlined: it runs once per wake-up of every fd
        context = self.context
        if context is None:
            return
        self.gathering = None  # the service call sends it first
        pollfd = self._pollfd
        pollfd.fd = fd
        pollfd.revents = _POLLIN
        self._depth += 1
        try:
            n = _service_fd(context, pollfd)
        finally:
            self._depth -= 1
        if _pending:
            registry.reraise_pending()
        if n < 0:
            log.error("libwebsocket_service_fd failed (%d) for fd %d", n, fd)

    def _writable(self, fd: int) -> None:
        self._service(fd, _POLLOUT)

    # ---- gathered writes ----

    def gather(self, wsi: Any) -> None:
        """Let the core gather wsi's writes (and send what another connection
        had gathered): the handler of a connection with more messages to
        answer sends them with one system call.  :meth:`flush` sends them; it
        runs at the next loop iteration at the latest, and before every
        service call."""
        if self.gathering is None:
            self.loop.call_soon(self.flush)
        _gather_writes(wsi)
        self.gathering = wsi

    def flush(self) -> None:
        """Send what the core gathered (a no-op when nothing is)."""
        if self.gathering is not None:
            self.gathering = None
            if self.context is not None:
                _gather_flush(self.context)

    def _service(self, fd: int, revents: int) -> None:
        context = self.context
        if context is None:
            return
        self.gathering = None  # the service call sends it first
        pollfd = self._pollfd
        pollfd.fd = fd
        pollfd.revents = revents
        self._depth += 1
        try:
            n = _service_fd(context, pollfd)
        finally:
            self._depth -= 1
        if _pending:
            registry.reraise_pending()
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
        self.gathering = None  # the service call sends it first
        self._depth += 1
        try:
            _service_fd(context, _NULL)
        finally:
            self._depth -= 1
        if registry.pending:
            registry.reraise_pending()

    def close_connection(self, wsi: Any, code: int) -> None:
        """libwebsocket_close_and_free_session from outside the service
        calls: CLOSED runs inside it, and a callback that closes this context
        then must wait until the library has returned."""
        self.flush()
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
        self.flush()
        self._closing = True
        try:
            if registry.addr(context) in registry.contexts:  # not destroyed behind our back
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
    _receivers: Mapping[Any, Any] | None = None,
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
        # _receivers (the asyncio layer's wsi -> Connection): each message of
        # a connection found there goes straight to its _on_receive
        # (dispatch._pylws_receive_callback), not through the callbacks
        aio.context = _create_context(
            port, interf, wrapped, extensions, ssl_cert_filepath, ssl_private_key_filepath,
            ssl_ca_filepath, gid, uid, options, user, _receivers,
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
        registry.foreign.add(aio.context)
    return aio


def _limit_items(limits: Mapping[int, int] | None) -> list[tuple[int, int]]:
    if limits is None:
        return []
    if not isinstance(limits, Mapping):
        raise TypeError(f"limits must be a mapping {{LWS_LIMIT_...: value}}, not {limits!r}")
    return list(limits.items())

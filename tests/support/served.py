"""A pylws_ffi context on a free port, served by a thread of its own (its
callbacks run there): the in-process server of the server-side tests.

:class:`ServedContext` wraps each protocol callback to check the life cycle
of every connection (ESTABLISHED and CLOSED pair up; with ``check_order``,
RECEIVE and SERVER_WRITEABLE come only in between) and to record a callback
that raises; :meth:`ServedContext.check` asserts all of it at teardown.
``call(fn)`` runs fn in the service thread between two service calls,
``call_later(delay, fn)`` likewise later, ``tick`` (if set) after every
service call.  :func:`serving` is the body of a ``serve`` fixture.

:class:`ThreadServer` is the bare form (no wrapping, no checks) for a given
``protocols``/``extensions``; :class:`Echo` is an echoing protocol callback;
:func:`capture_log` keeps the library's log lines while a test runs.
"""

from __future__ import annotations

import contextlib
import errno
import queue
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from typing import Any, Callable

import pylws_ffi as lws
from pylws_ffi import ffi
from support.net import LOCAL, free_port

Callback = Callable[[Any, Any, int, Any, Any, int], Any]


def addr(p: Any) -> int:
    return int(ffi.cast("uintptr_t", p))


class ServedContext:
    """``libwebsocket_create_context`` on a free port (retried if another
    process takes it first), ``libwebsocket_service(ctx, 20)`` in a thread."""

    def __init__(
        self,
        protocols: list[tuple[str, Callback, int]],
        *,
        interf: str | None = None,
        options: int = 0,
        check_order: bool = False,
    ) -> None:
        self.errors: list[str] = []  # tracebacks of callbacks that raised
        self.expect_errors = False
        self.check_order = check_order
        self.lifecycle_errors: list[str] = []
        self.open: dict[int, str] = {}  # wsi address -> protocol name
        self.established: Counter[str] = Counter()
        self.closed: Counter[str] = Counter()
        self.thread_error: BaseException | None = None
        self.tick: Callable[[], None] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._calls: queue.Queue[tuple[Callable[[], Any], queue.Queue[Any] | None]] = queue.Queue()
        self._timers: list[tuple[float, Callable[[], Any]]] = []
        self._timers_lock = threading.Lock()

        wrapped = [(name, self._wrap(name, cb), size) for name, cb, size in protocols]
        for _ in range(10):
            port = free_port()
            try:
                self.ctx = lws.libwebsocket_create_context(port, interf, wrapped, options=options)
            except OSError as e:  # raced for the port
                if e.errno != errno.EADDRINUSE:
                    raise
                continue
            break
        else:
            raise AssertionError("no free port")
        self.port = port
        self.url = f"ws://{LOCAL}:{port}"
        self.protocols = lws.lws_get_protocols(self.ctx)
        self.start()
        assert self._thread is not None
        self.thread_id = self._thread.native_id

    # ---- the life cycle recorder
    def _wrap(self, name: str, cb: Callback) -> Callback:
        def wrapped(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> Any:
            if reason == lws.LWS_CALLBACK_ESTABLISHED:
                key = addr(wsi)
                if key in self.open:
                    self.lifecycle_errors.append(f"ESTABLISHED twice for {key:#x}")
                self.open[key] = name
                self.established[name] += 1
            elif reason == lws.LWS_CALLBACK_CLOSED:
                key = addr(wsi)
                if self.open.pop(key, None) is None:
                    self.lifecycle_errors.append(
                        f"CLOSED for {key:#x} ({name}): twice, or without ESTABLISHED"
                    )
                self.closed[name] += 1
            elif (
                self.check_order
                and reason in (lws.LWS_CALLBACK_RECEIVE, lws.LWS_CALLBACK_SERVER_WRITEABLE)
                and self.open.get(addr(wsi)) != name
            ):
                self.lifecycle_errors.append(
                    f"reason {reason} for {addr(wsi):#x} ({name}) outside ESTABLISHED..CLOSED"
                )
            try:
                return cb(ctx, wsi, reason, user, in_, len_)
            except Exception:
                self.errors.append(traceback.format_exc())
                raise

        return wrapped

    # ---- the service thread
    def start(self) -> None:
        assert self._thread is None
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="lws-service", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                assert lws.libwebsocket_service(self.ctx, 20) >= 0, "service failed"
                self._run_calls()
                if self.tick:
                    self.tick()
        except BaseException as e:
            self.thread_error = e
            traceback.print_exc()

    def _run_calls(self) -> None:
        while True:
            try:
                fn, box = self._calls.get_nowait()
            except queue.Empty:
                break
            try:
                result = (True, fn())
            except BaseException as e:
                result = (False, e)
            if box is not None:
                box.put(result)
            elif not result[0]:
                self.errors.append(repr(result[1]))
        if self._timers:
            now = time.monotonic()
            with self._timers_lock:
                due = [t for t in self._timers if t[0] <= now]
                self._timers = [t for t in self._timers if t[0] > now]
            for _, fn in due:
                fn()

    def call(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        box: queue.Queue[Any] = queue.Queue()
        self._calls.put((fn, box))
        ok, value = box.get(timeout=timeout)
        if not ok:
            raise value
        return value

    def call_later(self, delay: float, fn: Callable[[], Any]) -> None:
        with self._timers_lock:
            self._timers.append((time.monotonic() + delay, fn))

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(10)
            assert not self._thread.is_alive(), "the service thread did not stop"
            self._thread = None

    def destroy(self) -> None:
        self.stop()
        if self.ctx is not None:
            ctx, self.ctx = self.ctx, None
            lws.libwebsocket_context_destroy(ctx)

    def check(self) -> None:
        assert self.thread_error is None, repr(self.thread_error)
        assert not self.lifecycle_errors, self.lifecycle_errors
        if not self.expect_errors:
            assert not self.errors, "\n".join(self.errors)
        # destroy closed whatever was left: every ESTABLISHED has its CLOSED
        assert not self.open, f"connections never got CLOSED: {self.open}"


def serving(**defaults: Any) -> Iterator[Callable[..., ServedContext]]:
    """The body of a ``serve`` fixture: ``serve(protocols, **kw)`` makes a
    ServedContext (``defaults`` first); each is destroyed, then checked, at
    teardown."""
    made: list[ServedContext] = []

    def make(protocols: list[tuple[str, Callback, int]], **kw: Any) -> ServedContext:
        server = ServedContext(protocols, **{**defaults, **kw})
        made.append(server)
        return server

    yield make
    for server in made:
        server.destroy()
    for server in made:
        server.check()


# ---- the bare form


class ThreadServer:
    """A context listening on a free port, served by a thread of its own."""

    def __init__(self, protocols: Any, extensions: Any) -> None:
        self.port = free_port()
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(protocols, extensions), daemon=True)
        self.thread.start()
        assert self.ready.wait(10), "the server thread did not start"
        if self.error:
            raise self.error

    def _run(self, protocols: Any, extensions: Any) -> None:
        try:
            ctx = lws.libwebsocket_create_context(self.port, "lo", protocols, extensions)
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

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive(), "the server thread did not stop"
        if self.error:
            raise self.error


@contextlib.contextmanager
def thread_server(protocols: Any, extensions: Any) -> Iterator[ThreadServer]:
    server = ThreadServer(protocols, extensions)
    try:
        yield server
    finally:
        server.close()


class Echo:
    """A protocol callback echoing each piece of a message as it arrives, as
    a fragment of the same message (as examples/echo_server.py does);
    ``on_other(context, wsi, reason, user, in_, len_)`` serves the other
    reasons."""

    def __init__(self, on_other: Any = None) -> None:
        self.in_message: set[Any] = set()
        self.on_other = on_other

    def __call__(self, context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int):
        if reason == lws.LWS_CALLBACK_RECEIVE:
            data = lws.payload(in_, len_)
            if wsi in self.in_message:
                kind = lws.LWS_WRITE_CONTINUATION
            else:
                kind = lws.LWS_WRITE_BINARY if lws.lws_frame_is_binary(wsi) else lws.LWS_WRITE_TEXT
            if lws.libwebsocket_is_final_fragment(wsi):
                self.in_message.discard(wsi)
            else:
                kind |= lws.LWS_WRITE_NO_FIN
                self.in_message.add(wsi)
            return -1 if lws.libwebsocket_write(wsi, data, len(data), kind) < 0 else 0
        if reason == lws.LWS_CALLBACK_CLOSED:
            self.in_message.discard(wsi)
        if self.on_other is not None:
            return self.on_other(context, wsi, reason, user, in_, len_)
        return 0


# ---- the library's log


class LogCapture:
    """The library's log lines, kept while the test runs (and still shown)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        sys.stderr.write(line + "\n")

    def text(self) -> str:
        return "\n".join(self.lines)


@contextlib.contextmanager
def capture_log() -> Iterator[LogCapture]:
    """The library's errors and warnings go to a LogCapture meanwhile (and
    to stderr, as before)."""
    cap = LogCapture()
    lws.lws_set_log_level(lws.LLL_ERR | lws.LLL_WARN, cap)
    try:
        yield cap
    finally:
        lws.lws_set_log_level(lws.LLL_ERR | lws.LLL_WARN, lws.lwsl_emit_logging)

"""In-process servers for tests: a pylws context on a free port served by a
thread of its own (its callbacks run there), and a capture of the library's
log."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import Any

from servers import free_port

import pylws_ffi as lws


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
        lws.lws_set_log_level(
            lws.LLL_ERR | lws.LLL_WARN, lambda line: sys.stderr.write(line + "\n")
        )


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

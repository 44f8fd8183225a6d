"""The demo servers on their own poll loops (examples/test-server-extpoll.c
under ASan/UBSan, and test-server-extpoll.py): the same checks as
tests/test_demo.py, plus what an external poll loop relies on.

Every test of test_demo.py runs here again against the extpoll servers: the
tests that take the ``demo``/``demo_measured`` fixtures get this module's
fixtures, and the others get this module's ``demo_argv`` and ``start_demo``
(each is the same function with those globals rebound), so a check added
there is made here too.
"""

from __future__ import annotations

import os
import select
import socket
import sys
import threading
import time
import types
from collections.abc import Iterator
from typing import Any, Callable

import pytest
import test_demo
from servers import ROOT, Server, asan_build
from support.net import free_port

# ---- the extpoll servers ----


def demo_argv(kind: str) -> tuple[list[str], dict[str, str]]:
    """The extpoll server of ``kind`` and its environment (C: sanitized)."""
    env = dict(os.environ)
    if kind == "c":
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=99"
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:exitcode=98"
        return [str(asan_build() / "test-server-extpoll")], env
    return [sys.executable, str(ROOT / "examples" / "test-server-extpoll.py")], env


def start_extpoll(
    kind: str, *args: str, asan_options: str = "", env_extra: dict[str, str] | None = None
) -> Server:
    """servers.start_demo for the extpoll servers (``env_extra`` added to
    their environment)."""
    argv, env = demo_argv(kind)
    env.update(env_extra or {})
    if asan_options and kind == "c":
        env["ASAN_OPTIONS"] += ":" + asan_options
    port = free_port()
    return Server(f"extpoll-{kind}", [*argv, "--port", str(port), *args], port, env)


@pytest.fixture(scope="module", params=["c", "python"])
def demo(request: pytest.FixtureRequest) -> Iterator[Server]:
    server = start_extpoll(request.param)
    yield server
    server.stop()  # exit status 0: every ADD_POLL_FD had its DEL_POLL_FD


@pytest.fixture(params=["c", "python"])
def demo_measured(request: pytest.FixtureRequest) -> Iterator[Server]:
    server = start_extpoll(request.param, asan_options="quarantine_size_mb=1")
    yield server
    server.stop()


# ---- test_demo.py's tests, against these servers ----


def _rebind(test: Callable[..., Any]) -> Callable[..., Any]:
    """``test`` starting the extpoll servers: its demo_argv and start_demo
    globals rebound (its fixtures come from this module)."""
    clone = types.FunctionType(
        test.__code__,
        {**test.__globals__, "demo_argv": demo_argv, "start_demo": start_extpoll},
        test.__name__,
        test.__defaults__,
        test.__closure__,
    )
    clone.__dict__.update(test.__dict__)  # pytest marks (parametrize)
    clone.__doc__ = test.__doc__
    clone.__module__ = __name__
    return clone


for _name, _test in vars(test_demo).copy().items():
    if _name.startswith("test_") and isinstance(_test, types.FunctionType):
        globals()[_name] = _rebind(_test)
del _name, _test


# ---- the core as an external loop sees it ----


class PollLoop:
    """A minimal external loop over select.poll(), fed by the POLL_FD reasons
    of protocols[0]; other reasons go to ``hook`` (if any) and are recorded as
    (reason, wsi)."""

    def __init__(self, port: int = 0, hook: Callable[..., Any] | None = None) -> None:
        import pylws_ffi as lws

        self.lws = lws
        self.hook = hook
        self.poller = select.poll()
        self.watched: dict[int, int] = {}
        self.events: list[tuple[int, Any]] = []
        self.context = lws.libwebsocket_create_context(
            port, "127.0.0.1" if port else None, [("x", self.callback, 0)]
        )

    def callback(self, context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        lws = self.lws
        if lws.LWS_CALLBACK_ADD_POLL_FD <= reason <= lws.LWS_CALLBACK_CLEAR_MODE_POLL_FD:
            fd = int(lws.ffi.cast("intptr_t", user))
            if reason == lws.LWS_CALLBACK_ADD_POLL_FD:
                assert fd not in self.watched, f"fd {fd} added twice"
                self.watched[fd] = len_
                self.poller.register(fd, len_)
            elif reason == lws.LWS_CALLBACK_DEL_POLL_FD:
                del self.watched[fd]
                self.poller.unregister(fd)
            else:
                if reason == lws.LWS_CALLBACK_SET_MODE_POLL_FD:
                    self.watched[fd] |= len_
                else:
                    self.watched[fd] &= ~len_
                self.poller.modify(fd, self.watched[fd])
            return 0
        self.events.append((reason, wsi))
        if self.hook is not None:
            self.hook(context, wsi, reason, user, in_, len_)
        return 0

    def seen(self, reason: int) -> list[Any]:
        return [wsi for r, wsi in self.events if r == reason]

    def run(self, seconds: float, until: Callable[[], Any]) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if until():
                return True
            for fd, revents in self.poller.poll(50):
                if fd in self.watched:
                    assert self.lws.libwebsocket_service_fd(self.context, fd, revents=revents) == 0
        return bool(until())

    def destroy(self) -> None:
        self.lws.libwebsocket_context_destroy(self.context)
        assert self.watched == {}, f"left in the poll set after destroy: {self.watched}"


def ws_handshake(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(
        b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    return s


def test_every_descriptor_announced_and_removed():
    """create_context announces its descriptors, destroy removes every one,
    and only descriptors of the process are announced."""
    loop = PollLoop(free_port())
    try:
        fds = dict(loop.watched)
        assert len(fds) >= 3  # listener, timer, wake (and broadcast sockets)
        for fd in fds:
            os.fstat(fd)
    finally:
        loop.destroy()


def test_timeout_armed_in_a_callback_fires():
    """A timeout set inside a callback is served by the external loop alone."""
    import pylws_ffi as lws

    def hook(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> None:
        if reason == lws.LWS_CALLBACK_ESTABLISHED:
            lws.libwebsocket_set_timeout(wsi, lws.PENDING_TIMEOUT_AWAITING_PING, 1)

    port = free_port()
    loop = PollLoop(port, hook)
    try:
        with ws_handshake(port):
            assert loop.run(5, lambda: loop.seen(lws.LWS_CALLBACK_ESTABLISHED))
            start = time.monotonic()
            assert loop.run(5, lambda: loop.seen(lws.LWS_CALLBACK_CLOSED))
            assert 0.5 < time.monotonic() - start < 3.5
    finally:
        loop.destroy()


def test_timeout_armed_between_service_calls_fires():
    """libwebsocket_set_timeout from the loop's thread but outside a callback
    (e.g. from a timer of the program): the external loop must be woken."""
    import pylws_ffi as lws

    port = free_port()
    loop = PollLoop(port)
    try:
        with ws_handshake(port):
            assert loop.run(5, lambda: loop.seen(lws.LWS_CALLBACK_ESTABLISHED))
            wsi = loop.seen(lws.LWS_CALLBACK_ESTABLISHED)[0]
            lws.libwebsocket_set_timeout(wsi, lws.PENDING_TIMEOUT_AWAITING_PING, 1)
            assert loop.run(4, lambda: loop.seen(lws.LWS_CALLBACK_CLOSED)), "never timed out"
    finally:
        loop.destroy()


def test_client_connect_failing_at_once_is_reported():
    """A connect that fails inside libwebsocket_client_connect (here EACCES:
    the broadcast address) reports CLIENT_CONNECTION_ERROR to an external
    loop that only services the descriptors it was given."""
    import pylws_ffi as lws

    loop = PollLoop()
    try:
        lws.libwebsocket_client_connect(loop.context, "255.255.255.255", 9, 0, "/", "h")
        reported = loop.run(3, lambda: loop.seen(lws.LWS_CALLBACK_CLIENT_CONNECTION_ERROR))
        assert reported, "CLIENT_CONNECTION_ERROR never came"
    finally:
        loop.destroy()


def test_flow_control_resumed_between_service_calls_delivers_stashed_input():
    """Reception paused in a RECEIVE callback (bytes after the frame are
    stashed), resumed from outside a callback: the stashed frame arrives."""
    import pylws_ffi as lws

    def hook(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> None:
        if reason == lws.LWS_CALLBACK_RECEIVE:
            lws.libwebsocket_rx_flow_control(wsi, 0)

    port = free_port()
    loop = PollLoop(port, hook)
    try:
        with ws_handshake(port) as s:
            assert loop.run(5, lambda: loop.seen(lws.LWS_CALLBACK_ESTABLISHED))
            frame = bytes([0x81, 0x80 | 1, 0, 0, 0, 0]) + b"a"  # masked "a", zero mask
            s.sendall(frame + frame)  # one read: the second is stashed
            assert loop.run(5, lambda: loop.seen(lws.LWS_CALLBACK_RECEIVE))
            loop.run(0.3, lambda: False)
            assert len(loop.seen(lws.LWS_CALLBACK_RECEIVE)) == 1
            wsi = loop.seen(lws.LWS_CALLBACK_ESTABLISHED)[0]
            lws.libwebsocket_rx_flow_control(wsi, 1)
            assert loop.run(3, lambda: len(loop.seen(lws.LWS_CALLBACK_RECEIVE)) == 2)
    finally:
        loop.destroy()


def test_wake_from_another_thread_reaches_the_external_loop():
    """callback_on_writable from another thread wakes a loop blocked in
    poll() on the announced descriptors only."""
    import pylws_ffi as lws

    port = free_port()
    loop = PollLoop(port)
    try:
        with ws_handshake(port):
            assert loop.run(5, lambda: loop.seen(lws.LWS_CALLBACK_ESTABLISHED))
            wsi = loop.seen(lws.LWS_CALLBACK_ESTABLISHED)[0]
            timer = threading.Timer(0.3, lws.libwebsocket_callback_on_writable, (loop.context, wsi))
            timer.start()
            start = time.monotonic()
            assert loop.run(5, lambda: loop.seen(lws.LWS_CALLBACK_SERVER_WRITEABLE))
            assert time.monotonic() - start < 2
            timer.join()
    finally:
        loop.destroy()


def test_c_tls_client_closing_first_does_not_kill_the_server(tmp_path):
    """An HTTPS client that closes as soon as it has the page (urllib does):
    the server's TLS close_notify meets a closed socket.  The C server must
    survive it (Python programs ignore SIGPIPE anyway).  Its self-signed
    certificate is made in a temporary $XDG_CACHE_HOME, not ~/.cache."""
    import ssl
    import urllib.request

    server = start_extpoll("c", "--ssl", env_extra={"XDG_CACHE_HOME": str(tmp_path)})
    try:
        tls = ssl.create_default_context()
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
        url = f"https://127.0.0.1:{server.port}/"
        for _ in range(3):
            with urllib.request.urlopen(url, context=tls, timeout=10) as answer:
                assert answer.status == 200 and answer.read()  # all of it, then close
            time.sleep(0.3)
            assert server.alive(), f"the server died: {server.proc.returncode} (-13: SIGPIPE)"
        assert (tmp_path / "pylws" / "localhost-cert.pem").is_file()
    finally:
        if server.alive():
            server.stop()  # and the sanitizers' verdict
        else:
            server._log.close()

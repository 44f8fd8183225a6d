"""A wsi kept after its connection ended: every wrapper taking a wsi raises
pylws_ffi.WsiClosedError (a ValueError) instead of crashing the process or
reading freed memory, also once a new connection got the same address.

The scenarios run in a subprocess (under ``-X dev``), so a crash fails the
test instead of killing pytest."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_binding import WSI_CALLS

import pylws_ffi as lws

TESTS = Path(__file__).resolve().parent

SCRIPT = r"""
import socket, sys, time
import pylws_ffi as lws
from pylws_ffi import ffi
from support.net import free_port
from test_binding import WSI_CALLS, http_get, serve_until, ws_connect

kept = []      # every wsi a callback got, as a chat server's room set would keep it
http_kept = []

def callback(ctx, wsi, reason, user, in_, len_):
    if reason == lws.LWS_CALLBACK_ESTABLISHED:
        kept.append(wsi)
    elif reason == lws.LWS_CALLBACK_HTTP:
        http_kept.append(wsi)
        answer = b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
        lws.libwebsocket_write(wsi, answer, len(answer), lws.LWS_WRITE_HTTP)
        return -1
    return 0

def all_calls_fail(ctx, wsi, what):
    for name, make_args in WSI_CALLS:
        try:
            getattr(lws, name)(*make_args(ctx, wsi))
        except lws.WsiClosedError as e:
            assert isinstance(e, ValueError) and isinstance(e, lws.LwsError)
            assert str(e).startswith(name + ": this wsi is not a live connection"), e
        else:
            raise AssertionError(f"{what}: {name} did not raise")
    print("ok", what, flush=True)

port = free_port()
ctx = lws.libwebsocket_create_context(port, None, [("http", callback), ("chat", callback)])
alive = lambda: lws.libwebsocket_service(ctx, 10) >= 0

# a WebSocket connection that the peer closes: CLOSED, then the wsi is kept
sock = ws_connect(ctx, port, "chat")
serve_until(ctx, lambda: len(kept) == 1)
old = kept[0]
assert lws.libwebsocket_get_socket_fd(old) >= 0  # live: works
sock.close()
for _ in range(20):
    lws.libwebsocket_service(ctx, 10)
all_calls_fail(ctx, old, "after CLOSED")

# a batch of connections closed, then new ones until one gets an address of
# the old ones (calloc does not reuse the chunks glibc's tcache keeps: more
# than its 7 of a size must be freed first)
socks = [ws_connect(ctx, port, "chat") for _ in range(24)]
serve_until(ctx, lambda: len(kept) == 25)
olds = set(kept)
for x in socks:
    x.close()
for _ in range(20):
    lws.libwebsocket_service(ctx, 10)
for attempt in range(48):
    s = ws_connect(ctx, port, "chat")
    serve_until(ctx, lambda: len(kept) == 26 + attempt)
    new = kept[-1]
    if new in olds:
        break
    socks.append(s)
else:
    raise AssertionError("no new connection reused an old address")
old = next(o for o in olds if o == new)
assert new is not old
all_calls_fail(ctx, old, "after the address was reused")
assert lws.libwebsocket_get_socket_fd(new) >= 0  # the new connection works
assert lws.libwebsocket_write(new, b"hi", 2, lws.LWS_WRITE_TEXT) == 2
closed_at = len(kept)

# the server closes it itself: after the call (CLOSED ran inside it) the wsi is dead
lws.libwebsocket_close_and_free_session(ctx, new, lws.LWS_CLOSE_STATUS_NORMAL)
all_calls_fail(ctx, new, "after close_and_free_session")
s.close()
for x in socks:
    x.close()

# an HTTP connection (never a WebSocket, no CLOSED) that ended
assert http_get(ctx, port).startswith(b"HTTP/1.1 204")
for _ in range(20):
    lws.libwebsocket_service(ctx, 10)
all_calls_fail(ctx, http_kept[0], "after an HTTP connection ended")

# a client connection that failed (nothing listens on the port)
errors = []
def client_cb(c, wsi, reason, user, in_, len_):
    if reason == lws.LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        errors.append(wsi)
    return 0
cctx = lws.libwebsocket_create_context(lws.CONTEXT_PORT_NO_LISTEN, None, [("c", client_cb)])
dead_port = free_port()
cwsi = lws.libwebsocket_client_connect(cctx, "127.0.0.1", dead_port, 0, "/", None, None, "c")
assert lws.libwebsocket_get_socket_fd(cwsi) >= -1  # live until it fails
serve_until(cctx, lambda: bool(errors))
assert errors[0] is cwsi  # the callbacks get the object connect returned
for _ in range(5):
    lws.libwebsocket_service(cctx, 10)
all_calls_fail(cctx, cwsi, "after CLIENT_CONNECTION_ERROR")

# a live connection when its context is destroyed
s = ws_connect(ctx, port, "chat")
serve_until(ctx, lambda: len(kept) > closed_at)
last = kept[-1]
lws.libwebsocket_context_destroy(ctx)
all_calls_fail(cctx, last, "after context_destroy")
s.close()

# a pointer the library never handed out
all_calls_fail(cctx, ffi.cast("struct libwebsocket *", 0x1000), "made with ffi.cast")
lws.libwebsocket_context_destroy(cctx)
print("done", flush=True)
"""


def test_every_wsi_wrapper_is_covered() -> None:
    """WSI_CALLS names every public function with a ``wsi`` parameter, so a
    new wrapper cannot be left out of the scenarios below."""
    taking_wsi = {
        name
        for name in lws.__all__
        if callable(obj := getattr(lws, name, None)) and not isinstance(obj, type) and _has_wsi(obj)
    }
    assert taking_wsi == {name for name, _ in WSI_CALLS}


def _has_wsi(func: object) -> bool:
    try:
        return "wsi" in inspect.signature(func).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def test_stale_wsi_raises_instead_of_crashing() -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "dev", "-c", textwrap.dedent(SCRIPT)],
        cwd=TESTS,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = proc.stdout
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{proc.stderr[-3000:]}"
    for what in (
        "after CLOSED",
        "after the address was reused",
        "after close_and_free_session",
        "after an HTTP connection ended",
        "after CLIENT_CONNECTION_ERROR",
        "after context_destroy",
        "made with ffi.cast",
    ):
        assert f"ok {what}" in out, out
    assert out.rstrip().endswith("done"), out


@pytest.mark.parametrize("name", sorted({n for n, _ in WSI_CALLS}))
def test_null_and_foreign_wsi(name: str) -> None:
    make_args = dict(WSI_CALLS)[name]
    ctx = lws.libwebsocket_create_context(lws.CONTEXT_PORT_NO_LISTEN, None, [("p", _noop)])
    try:
        with pytest.raises(lws.WsiClosedError):
            getattr(lws, name)(*make_args(ctx, lws.ffi.cast("struct libwebsocket *", 64)))
        with pytest.raises(ValueError, match=rf"^{name}: wsi is NULL"):
            getattr(lws, name)(*make_args(ctx, lws.ffi.NULL))
        for wrong in ("not a wsi", lws.ffi.new("struct libwebsocket_protocols *")):
            with pytest.raises(TypeError, match=rf"^{name}: wsi must be"):
                getattr(lws, name)(*make_args(ctx, wrong))
    finally:
        lws.libwebsocket_context_destroy(ctx)


def _noop(*args: object) -> int:
    return 0


def test_c_function_callback_wsi() -> None:
    """A protocol whose callback is a C function pointer (here an
    ffi.callback): its wsi objects are not the binding's, the core is asked."""
    from support.net import free_port
    from test_binding import serve_until, ws_connect

    kept: list[object] = []

    @lws.ffi.callback("callback_function *")
    def c_callback(context: object, wsi: object, reason: int, *rest: object) -> int:
        if reason == lws.LWS_CALLBACK_ESTABLISHED:
            kept.append(wsi)
            assert lws.libwebsocket_get_socket_fd(wsi) >= 0
        return 0

    port = free_port()
    ctx = lws.libwebsocket_create_context(port, None, [("c", c_callback)])
    try:
        sock = ws_connect(ctx, port)
        serve_until(ctx, lambda: bool(kept))
        assert lws.libwebsocket_get_socket_fd(kept[0]) >= 0
        sock.close()
        for _ in range(20):
            lws.libwebsocket_service(ctx, 10)
        with pytest.raises(lws.WsiClosedError):
            lws.libwebsocket_get_socket_fd(kept[0])
    finally:
        lws.libwebsocket_context_destroy(ctx)

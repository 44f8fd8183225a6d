"""Extensions from Python: the ``extensions`` list of create_context (Python
callables mixed with the built-ins), the extension trampoline, the payload
helpers (lws_tokens_payload / lws_tokens_replace), and the x-pylws-rot13
example (examples/ext_rot13.py) between our client and our server, against
peers that do not offer it, and with an extension that raises.

In-process servers run their service loop in a thread of their own (the
callbacks run there); clients are raw sockets (tests/support/raw.py), the
``websockets`` library, or our own client context served in the test thread.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from servers import Server
from support.net import free_port, wait_for
from support.raw import OP_BINARY, OP_TEXT, RawWS, frame
from support.served import LogCapture, capture_log, thread_server
from websockets.sync.client import connect

import pylws_ffi as lws
from pylws_ffi import ffi, registry

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ext_rot13.py"
ROT13 = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    b"NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm",
)


def rot13(data: bytes) -> bytes:
    return data.translate(ROT13)


# ====================================================================== helpers


@pytest.fixture
def log() -> Iterator[LogCapture]:
    with capture_log() as cap:
        yield cap


def echo_callback(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
    """Echo each piece as it arrives (enough for the single-frame messages here)."""
    if reason == lws.LWS_CALLBACK_RECEIVE:
        data = lws.payload(in_, len_)
        kind = lws.LWS_WRITE_BINARY if lws.lws_frame_is_binary(wsi) else lws.LWS_WRITE_TEXT
        return -1 if lws.libwebsocket_write(wsi, data, len(data), kind) < 0 else 0
    return 0


def passthrough(context: Any, ext: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int):
    return 0


# ====================================================================== the list


def test_python_extension_gets_context_construct_and_destruct():
    seen: list[tuple[int, bool]] = []

    def ext_cb(context, ext, wsi, reason, user, in_, len_):
        seen.append((reason, wsi == ffi.NULL))
        assert ffi.string(ext.name) == b"x-test"
        return 0

    ctx = lws.libwebsocket_create_context(
        lws.CONTEXT_PORT_NO_LISTEN, None, [("p", echo_callback, 0)], [("x-test", ext_cb, 16)]
    )
    assert seen == [(lws.LWS_EXT_CALLBACK_CLIENT_CONTEXT_CONSTRUCT, True)]
    assert len(registry.by_ext) >= 1
    before = len(registry.by_ext)
    lws.libwebsocket_context_destroy(ctx)
    assert seen[-1] == (lws.LWS_EXT_CALLBACK_CLIENT_CONTEXT_DESTRUCT, True)
    assert len(registry.by_ext) == before - 1

    seen.clear()
    port = free_port()
    ctx = lws.libwebsocket_create_context(
        port, "lo", [("p", echo_callback, 0)], [("x-test", ext_cb)]
    )
    lws.libwebsocket_context_destroy(ctx)
    assert seen == [
        (lws.LWS_EXT_CALLBACK_SERVER_CONTEXT_CONSTRUCT, True),
        (lws.LWS_EXT_CALLBACK_SERVER_CONTEXT_DESTRUCT, True),
    ]


@pytest.mark.parametrize(
    "make,deflate",
    [
        (lambda: lws.libwebsocket_internal_extensions, True),  # the raw cdata, as in C
        (lambda: [lws.libwebsocket_internal_extensions], True),  # the whole array in a list
        (lambda: [lws.libwebsocket_internal_extensions[0]], True),  # one entry of it
        (lambda: [("x-a", passthrough, 0), lws.libwebsocket_internal_extensions], True),
        (lambda: [lws.libwebsocket_internal_extensions[0], ("x-a", passthrough)], True),
        (lambda: [("x-a", passthrough)], False),
        (lambda: [], False),
        (lambda: None, False),
    ],
    ids=[
        "cdata",
        "list-array",
        "list-entry",
        "python-then-builtin",
        "builtin-then-python",
        "python-only",
        "empty",
        "none",
    ],
)
def test_extension_list_forms_work(make, deflate):
    with (
        thread_server([("echo", echo_callback, 0)], make()) as srv,
        connect(f"ws://127.0.0.1:{srv.port}", compression="deflate", open_timeout=10) as ws,
    ):
        answered = ws.response.headers.get("Sec-WebSocket-Extensions")
        assert answered == ("permessage-deflate" if deflate else None)
        ws.send("hello " * 100)
        assert ws.recv(timeout=5) == "hello " * 100


def test_raw_cdata_array_with_python_built_entries():
    """A cdata array built by hand from C function pointers still works."""
    arr = ffi.new("struct libwebsocket_extension[2]")
    name = ffi.new("char[]", b"permessage-deflate")
    arr[0].name = name
    arr[0].callback = lws.libwebsocket_internal_extensions[0].callback
    arr[0].per_session_data_size = lws.libwebsocket_internal_extensions[0].per_session_data_size
    with (
        thread_server([("echo", echo_callback, 0)], arr) as srv,
        connect(f"ws://127.0.0.1:{srv.port}", compression="deflate", open_timeout=10) as ws,
    ):
        assert ws.response.headers.get("Sec-WebSocket-Extensions") == "permessage-deflate"
        ws.send(b"\0" * 1000)
        assert ws.recv(timeout=5) == b"\0" * 1000
    del name


@pytest.mark.parametrize(
    "extensions,exc",
    [
        ("permessage-deflate", TypeError),
        (b"x", TypeError),
        (42, TypeError),
        ([42], TypeError),
        ([("x-a",)], TypeError),
        ([("x-a", passthrough, 0, None)], TypeError),
        ([(1, passthrough)], TypeError),
        ([("x-a", 5)], TypeError),
        ([ffi.new("int *")], TypeError),
        ([("", passthrough)], ValueError),
        ([("x a", passthrough)], ValueError),
        ([("x,a", passthrough)], ValueError),
        ([("x;a", passthrough)], ValueError),
        ([("x=a", passthrough)], ValueError),
        ([("é", passthrough)], ValueError),
        ([("x-a", passthrough, -1)], ValueError),
        ([("x-a", passthrough, True)], ValueError),
        ([("x-a", passthrough), ("X-A", passthrough)], ValueError),
        ([("permessage-deflate", passthrough), lws.libwebsocket_internal_extensions], ValueError),
        ([("x-a", ffi.NULL)], ValueError),
        ([ffi.cast("struct libwebsocket_extension *", 0)], ValueError),
        ([lws.libwebsocket_internal_extensions[4]], ValueError),  # the terminator
    ],
)
def test_malformed_extension_lists_raise(extensions, exc):
    before = (len(registry.by_ext), len(registry.by_entry))
    with pytest.raises(exc):
        lws.libwebsocket_create_context(
            lws.CONTEXT_PORT_NO_LISTEN, None, [("p", echo_callback, 0)], extensions
        )
    assert (len(registry.by_ext), len(registry.by_entry)) == before


def test_unterminated_pointer_raises():
    arr = ffi.new("struct libwebsocket_extension[100]")
    for i in range(100):
        arr[i].callback = lws.libwebsocket_internal_extensions[0].callback
        arr[i].name = lws.libwebsocket_internal_extensions[0].name
    with pytest.raises(ValueError, match="NULL callback"):
        lws.libwebsocket_create_context(
            lws.CONTEXT_PORT_NO_LISTEN,
            None,
            [("p", echo_callback, 0)],
            [ffi.cast("struct libwebsocket_extension *", arr)],
        )


def test_callables_kept_alive_by_the_context():
    calls: list[int] = []

    def make() -> Callable[..., Any]:
        def ext_cb(context, ext, wsi, reason, user, in_, len_):
            calls.append(reason)

        return ext_cb

    ctx = lws.libwebsocket_create_context(
        lws.CONTEXT_PORT_NO_LISTEN, None, [("p", echo_callback, 0)], [("x-gc", make(), 8)]
    )
    gc.collect()
    lws.libwebsocket_context_destroy(ctx)
    assert calls == [
        lws.LWS_EXT_CALLBACK_CLIENT_CONTEXT_CONSTRUCT,
        lws.LWS_EXT_CALLBACK_CLIENT_CONTEXT_DESTRUCT,
    ]


def test_exception_in_context_construct_is_logged(log):
    def ext_cb(context, ext, wsi, reason, user, in_, len_):
        raise RuntimeError("construct went wrong")

    ctx = lws.libwebsocket_create_context(
        lws.CONTEXT_PORT_NO_LISTEN, None, [("p", echo_callback, 0)], [("x-bad", ext_cb)]
    )
    lws.libwebsocket_context_destroy(ctx)
    text = log.text()
    assert "extension 'x-bad'" in text and "construct went wrong" in text
    assert "Traceback" in text


def test_return_value_that_is_not_an_int_is_an_error(log):
    def ext_cb(context, ext, wsi, reason, user, in_, len_):
        return "yes"

    ctx = lws.libwebsocket_create_context(
        lws.CONTEXT_PORT_NO_LISTEN, None, [("p", echo_callback, 0)], [("x-str", ext_cb)]
    )
    lws.libwebsocket_context_destroy(ctx)
    text = log.text()
    assert "extension callback" in text and "an integer is required" in text


# ====================================================================== lws_tokens


def test_tokens_helpers():
    original = ffi.new("char[]", b"original")
    tok = ffi.new("struct lws_tokens *")
    tok.token, tok.token_len = original, 8
    in_ = ffi.cast("void *", tok)
    assert lws.lws_tokens_payload(in_) == b"original"
    keep: list[Any] = ["stale"]
    assert lws.lws_tokens_replace(in_, b"replaced!", keep) == 9
    assert len(keep) == 1 and keep[0] != "stale"
    assert lws.lws_tokens_payload(in_) == b"replaced!"
    # the copy has the padding around it that a received payload has
    base = ffi.cast("char *", keep[0])
    assert tok.token - base == lws.LWS_SEND_BUFFER_PRE_PADDING
    assert ffi.sizeof(keep[0]) == (
        lws.LWS_SEND_BUFFER_PRE_PADDING + 9 + lws.LWS_SEND_BUFFER_POST_PADDING
    )
    assert lws.lws_tokens_replace(in_, "é", keep) == 2
    assert lws.lws_tokens_payload(in_) == "é".encode()
    assert lws.lws_tokens_replace(in_, memoryview(bytearray(b"xyz")), keep) == 3
    assert lws.lws_tokens_replace(in_, b"", keep) == 0
    assert lws.lws_tokens_payload(in_) == b""
    with pytest.raises(TypeError):
        lws.lws_tokens_replace(in_, b"x", ())
    with pytest.raises(TypeError):
        lws.lws_tokens_replace(in_, 12, keep)
    with pytest.raises(TypeError):
        lws.lws_tokens_payload(b"x")
    with pytest.raises(ValueError):
        lws.lws_tokens_payload(ffi.NULL)


# ====================================================================== rot13


def start_rot13(*args: str) -> Server:
    port = free_port()
    argv = [sys.executable, str(EXAMPLE), "server", "--port", str(port), *args]
    return Server("rot13", argv, port, {})


@pytest.fixture
def rot13_server() -> Iterator[Server]:
    import os

    port = free_port()
    argv = [sys.executable, str(EXAMPLE), "server", "--port", str(port)]
    server = Server("rot13", argv, port, dict(os.environ))
    yield server
    server.stop()


def run_client(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE), "client", "--port", str(port), *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_rot13_our_client_to_our_server(rot13_server):
    messages = ["Hello, World", "ünïcödé Zz € 😀", "x" * 70000]
    out = run_client(rot13_server.port, *messages)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[-1] == "x-pylws-rot13: negotiated"
    assert lines[:-1] == [f"<- echo: {m}" for m in messages]


def test_rot13_on_the_wire_both_ways(rot13_server):
    """A raw client offering it sees rot13 on the wire in both directions:
    it sends rot13(text), the server reads the text, its answer is rot13'd."""
    with RawWS(rot13_server.port, extensions="x-pylws-rot13", protocol="rot13-echo") as c:
        assert c.status == 101
        assert c.extensions == "x-pylws-rot13"
        c.send_frame(OP_TEXT, rot13(b"Hello, World"))
        op, rsv, parts = c.recv_message()
        assert (op, rsv, b"".join(parts)) == (OP_TEXT, 0, rot13(b"echo: Hello, World"))
        # binary too: rot13 undoes itself
        blob = bytes(range(256)) * 10
        c.send_frame(OP_BINARY, rot13(blob))
        op, _, parts = c.recv_message()
        assert (op, b"".join(parts)) == (OP_BINARY, rot13(blob))
        # a fragmented message: each piece is transformed where it is
        c.send_frame(OP_TEXT, rot13(b"Frag"), fin=False)
        c.send_frame(0, rot13(b"mented"), fin=True)
        _, _, parts = c.recv_message()
        assert b"".join(parts) == rot13(b"echo: Fragmented")


def test_rot13_with_parameters_is_declined(rot13_server):
    with RawWS(rot13_server.port, extensions="x-pylws-rot13; shift=3", protocol="rot13-echo") as c:
        assert c.status == 101 and c.extensions is None
        c.send_frame(OP_TEXT, b"Plain")
        assert b"".join(c.recv_message()[2]) == b"echo: Plain"


def test_peer_not_offering_rot13_is_unaffected(rot13_server):
    url = f"ws://127.0.0.1:{rot13_server.port}"
    with connect(url, subprotocols=["rot13-echo"], compression=None, open_timeout=10) as ws:
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        ws.send("Hello")
        assert ws.recv(timeout=5) == "echo: Hello"
    with RawWS(rot13_server.port, protocol="rot13-echo") as c:
        assert c.extensions is None
        c.send_frame(OP_TEXT, b"Hello")
        assert b"".join(c.recv_message()[2]) == b"echo: Hello"
    # and our client without it
    out = run_client(rot13_server.port, "--no-rot13", "Hello")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["<- echo: Hello", "x-pylws-rot13: not negotiated"]


def test_rot13_client_against_a_server_that_does_not_know_it():
    """Our client offers x-pylws-rot13 to the `websockets` library, which
    declines it: the client talks plain text."""
    import asyncio

    from websockets.asyncio.server import serve

    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def handler(ws: Any) -> None:
        holder["offer"] = ws.request.headers.get("Sec-WebSocket-Extensions")
        async for msg in ws:
            await ws.send("echo: " + msg)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            holder["port"] = server.sockets[0].getsockname()[1]
            holder["stop"] = asyncio.get_running_loop().create_future()
            ready.set()
            await holder["stop"]

    loop = asyncio.new_event_loop()
    t = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    t.start()
    try:
        assert ready.wait(10)
        out = run_client(holder["port"], "Hello")
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == ["<- echo: Hello", "x-pylws-rot13: not negotiated"]
        assert holder["offer"] == "x-pylws-rot13"
    finally:
        loop.call_soon_threadsafe(lambda: holder["stop"].set_result(None))
        t.join(10)
        loop.close()


def test_rot13_and_deflate_together():
    server = start_rot13("--deflate")
    try:
        with RawWS(
            server.port, extensions="x-pylws-rot13, permessage-deflate", protocol="rot13-echo"
        ) as c:
            assert c.extensions == "x-pylws-rot13, permessage-deflate"
            # listed order is the order of operations (RFC 6455 9.1): rot13, then deflate
            from support.raw import RSV1, Deflater, Inflater

            d, i = Deflater(), Inflater()
            c.send_frame(OP_TEXT, d.message(rot13(b"Hello")), rsv=RSV1)
            op, rsv, parts = c.recv_message(timeout=5)
            assert rsv == RSV1
            assert rot13(i.message(b"".join(parts))) == b"echo: Hello"
        out = run_client(server.port, "--deflate", "Hello")
        assert out.stdout.splitlines() == ["<- echo: Hello", "x-pylws-rot13: negotiated"]
    finally:
        server.stop()


# ====================================================================== failures


class Exploding:
    """An extension that raises on payloads holding a trigger word."""

    def __init__(self, rx_word: bytes = b"boom", tx_word: bytes = b"txboom") -> None:
        self.rx_word, self.tx_word = rx_word, tx_word
        self.destroyed = 0
        self.constructed = 0

    def __call__(self, context, ext, wsi, reason, user, in_, len_):
        if reason == lws.LWS_EXT_CALLBACK_CONSTRUCT:
            self.constructed += 1
        elif reason == lws.LWS_EXT_CALLBACK_DESTROY:
            self.destroyed += 1
        elif reason == lws.LWS_EXT_CALLBACK_PACKET_RX_PREPARSE:
            data = lws.lws_tokens_payload(in_)
            if self.rx_word in data and self.tx_word not in data:
                raise ValueError("cannot take " + data.decode())
        elif reason == lws.LWS_EXT_CALLBACK_PACKET_TX_PRESEND and (
            self.tx_word in lws.lws_tokens_payload(in_)
        ):
            raise ValueError("cannot send that")
        return 0


@pytest.mark.parametrize("where", ["rx", "tx"])
def test_exception_closes_that_connection_only(log, where):
    ext = Exploding()
    with thread_server([("echo", echo_callback, 0)], [("x-explode", ext, 4)]) as srv:
        clients = [RawWS(srv.port, extensions="x-explode") for _ in range(3)]
        try:
            for c in clients:
                assert c.extensions == "x-explode"
            victim = clients[1]
            victim.send_frame(OP_TEXT, b"boom" if where == "rx" else b"txboom")
            code = victim.close_code(timeout=5)
            # rx: the core fails the message with 1007; tx: the write fails,
            # the echo callback returns -1 and the connection closes
            assert code == (1007 if where == "rx" else 1005), code
            assert victim.tcp_closed(5)
            for c in (clients[0], clients[2]):
                c.send_frame(OP_TEXT, b"still here")
                assert b"".join(c.recv_message()[2]) == b"still here"
            # a new connection works too
            with RawWS(srv.port, extensions="x-explode") as late:
                late.send_frame(OP_TEXT, b"late")
                assert b"".join(late.recv_message()[2]) == b"late"
        finally:
            for c in clients:
                c.close()
    text = log.text()
    assert "exception in extension 'x-explode'" in text
    assert "ValueError: cannot" in text and "Traceback" in text
    assert ext.destroyed == ext.constructed == 4


def test_exception_in_construct_declines_the_offer(log):
    def ext_cb(context, ext, wsi, reason, user, in_, len_):
        if reason == lws.LWS_EXT_CALLBACK_CONSTRUCT:
            raise KeyError("no")
        return 0

    with (
        thread_server([("echo", echo_callback, 0)], [("x-no", ext_cb)]) as srv,
        RawWS(srv.port, extensions="x-no") as c,
    ):
        assert c.status == 101 and c.extensions is None
        c.send_frame(OP_TEXT, b"works")
        assert b"".join(c.recv_message()[2]) == b"works"
    assert "KeyError: 'no'" in log.text()


def test_extension_sees_the_lifecycle_and_its_user_area():
    events: list[tuple[int, str]] = []
    areas: dict[Any, int] = {}

    def ext_cb(context, ext, wsi, reason, user, in_, len_):
        if reason in (lws.LWS_EXT_CALLBACK_SERVER_CONTEXT_CONSTRUCT,
                      lws.LWS_EXT_CALLBACK_SERVER_CONTEXT_DESTRUCT):  # fmt: skip
            events.append((reason, ""))
        elif reason == lws.LWS_EXT_CALLBACK_CONSTRUCT:
            events.append((reason, ffi.string(ffi.cast("char *", in_), len_).decode()))
            area = ffi.cast("unsigned char *", user)
            assert bytes(ffi.buffer(area, 32)) == bytes(32)  # zeroed
            area[31] = 7
            areas[wsi] = int(ffi.cast("uintptr_t", user))
        elif reason == lws.LWS_EXT_CALLBACK_HANDSHAKE_REPLY_TX:
            pos = ffi.cast("char **", in_)
            text = b"; x=1"
            assert len_ > len(text)
            ffi.memmove(pos[0], text + b"\0", len(text) + 1)
            pos[0] += len(text)
            events.append((reason, ""))
        elif reason == lws.LWS_EXT_CALLBACK_ANY_WSI_ESTABLISHED:
            events.append((reason, ""))
        elif reason == lws.LWS_EXT_CALLBACK_PACKET_RX_PREPARSE:
            assert int(ffi.cast("uintptr_t", user)) == areas[wsi]
            assert ffi.cast("unsigned char *", user)[31] == 7
            events.append((reason, lws.lws_tokens_payload(in_).decode()))
        elif reason == lws.LWS_EXT_CALLBACK_DESTROY:
            events.append((reason, ""))
        return 0

    with thread_server([("echo", echo_callback, 0)], [("x-life", ext_cb, 32)]) as srv:
        with RawWS(srv.port, extensions="x-life; a; b=2") as c:
            assert c.extensions == "x-life; x=1"
            c.send_frame(OP_TEXT, b"one")
            assert b"".join(c.recv_message()[2]) == b"one"
            c.send_raw(frame(8, b"\x03\xe8"))
            assert c.close_code() == 1000
        deadline = time.monotonic() + 5
        while (lws.LWS_EXT_CALLBACK_DESTROY, "") not in events:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    reasons = [r for r, _ in events]
    assert reasons == [
        lws.LWS_EXT_CALLBACK_SERVER_CONTEXT_CONSTRUCT,
        lws.LWS_EXT_CALLBACK_CONSTRUCT,
        lws.LWS_EXT_CALLBACK_HANDSHAKE_REPLY_TX,
        lws.LWS_EXT_CALLBACK_ANY_WSI_ESTABLISHED,
        lws.LWS_EXT_CALLBACK_PACKET_RX_PREPARSE,
        lws.LWS_EXT_CALLBACK_DESTROY,
        lws.LWS_EXT_CALLBACK_SERVER_CONTEXT_DESTRUCT,
    ], events
    assert events[1] == (lws.LWS_EXT_CALLBACK_CONSTRUCT, "a;b=2")
    assert events[4] == (lws.LWS_EXT_CALLBACK_PACKET_RX_PREPARSE, "one")


def test_client_side_extension_offer_and_construct():
    """Our client offers a Python extension with a parameter
    (CHECK_OK_TO_PROPOSE_EXTENSION) and gets CLIENT_CONSTRUCT with the
    server's answer; a server extension that rewrites payloads both ways."""
    server_seen: list[str] = []
    client_seen: list[str] = []

    def server_ext(context, ext, wsi, reason, user, in_, len_):
        if reason == lws.LWS_EXT_CALLBACK_CONSTRUCT:
            server_seen.append(ffi.string(ffi.cast("char *", in_), len_).decode())
        elif reason == lws.LWS_EXT_CALLBACK_HANDSHAKE_REPLY_TX:
            pos = ffi.cast("char **", in_)
            ffi.memmove(pos[0], b"; level=2\0", 10)
            pos[0] += 9
        return 0

    keep: dict[Any, list[Any]] = {}

    def client_ext(context, ext, wsi, reason, user, in_, len_):
        if reason == lws.LWS_EXT_CALLBACK_CHECK_OK_TO_PROPOSE_EXTENSION:
            pos = ffi.cast("char **", in_)
            ffi.memmove(pos[0], b"; level=1\0", 10)
            pos[0] += 9
        elif reason == lws.LWS_EXT_CALLBACK_CLIENT_CONSTRUCT:
            client_seen.append(ffi.string(ffi.cast("char *", in_), len_).decode())
        elif reason == lws.LWS_EXT_CALLBACK_PACKET_TX_PRESEND:
            data = lws.lws_tokens_payload(in_)
            lws.lws_tokens_replace(in_, data.upper(), keep.setdefault(wsi, []))
        elif reason == lws.LWS_EXT_CALLBACK_DESTROY:
            keep.pop(wsi, None)
        return 0

    got: list[bytes] = []
    state = {"closed": False}

    def client_cb(context, wsi, reason, user, in_, len_):
        if reason == lws.LWS_CALLBACK_CLIENT_ESTABLISHED:
            lws.libwebsocket_write(wsi, b"shout", 5, lws.LWS_WRITE_TEXT)
        elif reason == lws.LWS_CALLBACK_CLIENT_RECEIVE:
            got.append(lws.payload(in_, len_))
            return -1
        elif reason in (lws.LWS_CALLBACK_CLOSED, lws.LWS_CALLBACK_CLIENT_CONNECTION_ERROR):
            state["closed"] = True
        return 0

    with thread_server([("echo", echo_callback, 0)], [("x-level", server_ext)]) as srv:
        ctx = lws.libwebsocket_create_context(
            lws.CONTEXT_PORT_NO_LISTEN, None, [("echo", client_cb, 0)], [("x-level", client_ext)]
        )
        try:
            lws.libwebsocket_client_connect(ctx, "127.0.0.1", srv.port, 0, "/", None, None, None)
            deadline = time.monotonic() + 10
            while not state["closed"]:
                assert time.monotonic() < deadline, "no answer"
                lws.libwebsocket_service(ctx, 20)
        finally:
            lws.libwebsocket_context_destroy(ctx)
    assert server_seen == ["level=1"]
    assert client_seen == ["level=2"]
    assert got == [b"SHOUT"]
    assert not keep


def test_periodic_and_close_notifications():
    reasons: list[int] = []

    def ext_cb(context, ext, wsi, reason, user, in_, len_):
        if wsi != ffi.NULL:
            reasons.append(reason)
        return 0

    closing = lws.LWS_EXT_CALLBACK_DESTROY_ANY_WSI_CLOSING
    with thread_server([("echo", echo_callback, 0)], [("x-notes", ext_cb)]) as srv:
        with RawWS(srv.port, extensions="x-notes") as c:
            c.send_frame(OP_TEXT, b"hi")
            assert b"".join(c.recv_message()[2]) == b"hi"
            time.sleep(2.3)
            c.send_raw(frame(8, b"\x03\xe8"))
            assert c.close_code() == 1000
        wait_for(lambda: lws.LWS_EXT_CALLBACK_DESTROY in reasons)
        # closing comes to the extension, then its own DESTROY
        assert reasons[-2:] == [closing, lws.LWS_EXT_CALLBACK_DESTROY]
        # a connection without the extension: DESTROY_ANY_WSI_CLOSING only
        with RawWS(srv.port) as plain:
            plain.send_frame(OP_TEXT, b"plain")
            assert b"".join(plain.recv_message()[2]) == b"plain"
            plain.send_raw(frame(8, b"\x03\xe8"))
            assert plain.close_code() == 1000
        wait_for(lambda: reasons.count(closing) == 2)
        assert reasons[-1] == closing
    assert lws.LWS_EXT_CALLBACK_1HZ in reasons
    assert lws.LWS_EXT_CALLBACK_CHECK_OK_TO_REALLY_CLOSE in reasons


def test_request_on_writeable_then_is_writeable():
    reasons: list[int] = []

    def ext_cb(context, ext, wsi, reason, user, in_, len_):
        if reason in (
            lws.LWS_EXT_CALLBACK_REQUEST_ON_WRITEABLE,
            lws.LWS_EXT_CALLBACK_IS_WRITEABLE,
        ):
            reasons.append(reason)
        return 0

    def cb(context, wsi, reason, user, in_, len_):
        if reason == lws.LWS_CALLBACK_RECEIVE:
            lws.libwebsocket_callback_on_writable(context, wsi)
            lws.libwebsocket_callback_on_writable(context, wsi)  # already asked: once
        elif reason == lws.LWS_CALLBACK_SERVER_WRITEABLE:
            lws.libwebsocket_write(wsi, b"turn", 4, lws.LWS_WRITE_TEXT)
        return 0

    with (
        thread_server([("p", cb, 0)], [("x-notes", ext_cb)]) as srv,
        RawWS(srv.port, extensions="x-notes") as c,
    ):
        c.send_frame(OP_TEXT, b"go")
        assert b"".join(c.recv_message()[2]) == b"turn"
    assert reasons == [
        lws.LWS_EXT_CALLBACK_REQUEST_ON_WRITEABLE,
        lws.LWS_EXT_CALLBACK_IS_WRITEABLE,
    ]

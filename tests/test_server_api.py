"""The server-side API behaves as documented, against real peers.

A pylws_ffi context runs in this process, served by a background thread
(``libwebsocket_service(ctx, 20)`` in a loop until a stop flag; the binding
releases the GIL while it waits), and is always destroyed at teardown.  The
peers are the ``websockets`` library (sync and asyncio clients) and raw
sockets, on the loopback only.

Every callback goes through a recorder that checks the connection life cycle
as it happens: LWS_CALLBACK_CLOSED exactly once per established connection,
never without ESTABLISHED, and no RECEIVE/SERVER_WRITEABLE outside it.  A
callback that raises unexpectedly fails the test at teardown.

Callbacks only record what they see; the assertions run in the test thread.
The test thread calls the library only while no service thread runs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import struct
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from support.net import free_port, wait_for
from support.raw import LOCAL, MIB, RawWs, addr, close_code, frame, ipv6_loopback, read_to_eof
from support.served import ServedContext, serving
from websockets.asyncio.client import connect as aconnect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as sync_connect

import pylws_ffi as lws
from pylws_ffi import ffi

Callback = Callable[[Any, Any, int, Any, Any, int], Any]

#: the external poll loop announcements (to protocols[0]): not about the session
POLL_REASONS = (
    lws.LWS_CALLBACK_ADD_POLL_FD,
    lws.LWS_CALLBACK_DEL_POLL_FD,
    lws.LWS_CALLBACK_SET_MODE_POLL_FD,
    lws.LWS_CALLBACK_CLEAR_MODE_POLL_FD,
)


# ====================================================================== helpers


def ip_port(address: Any) -> tuple[str, int]:
    """(host, port) of a socket address, an IPv4-mapped IPv6 host as IPv4
    (with no interface the server listens dual-stack)."""
    host, port = address[0], address[1]
    if host.startswith("::ffff:"):
        host = host[len("::ffff:") :]
    return host, port


def ws_client(url: str, **kw: Any) -> Any:
    """A websockets sync client with no compression, no proxy, bounded waits."""
    kw.setdefault("compression", None)
    kw.setdefault("proxy", None)
    kw.setdefault("open_timeout", 10)
    kw.setdefault("close_timeout", 5)
    return sync_connect(url, **kw)


#: the in-process server (support/served.py), checking the order of events too
Server = ServedContext


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """serve(protocols, **kw) -> Server; destroyed (and checked) at teardown."""
    yield from serving(check_order=True)


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """The library's log (ERR and WARN) gathered into a list for one test."""
    lines: list[str] = []
    lws.lws_set_log_level(lws.LLL_ERR | lws.LLL_WARN, lines.append)
    yield lines
    lws.lws_set_log_level(lws.LLL_ERR | lws.LLL_WARN, lws.lwsl_emit_logging)


def echo_cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
    if reason == lws.LWS_CALLBACK_RECEIVE:
        kind = lws.LWS_WRITE_BINARY if lws.lws_frame_is_binary(wsi) else lws.LWS_WRITE_TEXT
        data = lws.payload(in_, len_)
        assert lws.libwebsocket_write(wsi, data, len(data), kind) == len(data)
    return 0


# ---------------------------------------------------------------- raw sockets


def read_http_response(sock: socket.socket, buf: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response with a Content-Length from sock (leftover kept in buf)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(f"EOF inside a response head: {bytes(buf)!r}")
        buf += chunk
    head, _, _ = bytes(buf).partition(b"\r\n\r\n")
    del buf[: len(head) + 4]
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    n = int(headers.get("content-length", "0"))
    while len(buf) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("EOF inside a response body")
        buf += chunk
    body = bytes(buf[:n])
    del buf[:n]
    return status, headers, body


def http_page(body: bytes, close: bool = False) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s" % (
        len(body),
        b"Connection: close\r\n" if close else b"",
        body,
    )


# ============================================ 1. callback_on_writable / WRITEABLE


def test_callback_on_writable_gives_exactly_one_writeable_per_request(serve: Any) -> None:
    writeable: list[float] = []
    returned: list[int] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_ESTABLISHED:
            # two requests before the service loop runs again: still one callback
            returned.append(lws.libwebsocket_callback_on_writable(ctx, wsi))
            returned.append(lws.libwebsocket_callback_on_writable(ctx, wsi))
        elif reason == lws.LWS_CALLBACK_RECEIVE:
            returned.append(lws.libwebsocket_callback_on_writable(ctx, wsi))
        elif reason == lws.LWS_CALLBACK_SERVER_WRITEABLE:
            writeable.append(time.monotonic())
        return 0

    server = serve([("p", cb, 0)])
    with ws_client(server.url) as ws:
        wait_for(lambda: len(writeable) >= 1, what="the first WRITEABLE")
        time.sleep(0.3)  # many service passes: nothing more comes unasked
        assert len(writeable) == 1
        ws.send("one more, please")
        wait_for(lambda: len(writeable) >= 2, what="the second WRITEABLE")
        time.sleep(0.3)
        assert len(writeable) == 2
    assert all(r >= 0 for r in returned), returned
    wait_for(lambda: server.closed["p"] == 1)


def test_one_message_per_writeable_streams_every_message_in_order(serve: Any) -> None:
    count = 3000
    state = {"sent": 0, "writeable": 0, "bad_writes": []}

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_ESTABLISHED:
            lws.libwebsocket_callback_on_writable(ctx, wsi)
        elif reason == lws.LWS_CALLBACK_SERVER_WRITEABLE:
            state["writeable"] += 1
            i = state["sent"]
            msg = f"message {i:05d} " + "x" * (i % 200)
            n = lws.libwebsocket_write(wsi, msg, len(msg), lws.LWS_WRITE_TEXT)
            if n != len(msg):
                state["bad_writes"].append((i, n))
            state["sent"] += 1
            if state["sent"] < count:
                lws.libwebsocket_callback_on_writable(ctx, wsi)
        return 0

    server = serve([("stream", cb, 0)])
    with ws_client(server.url) as ws:
        got = [ws.recv(timeout=10) for _ in range(count)]
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.3)  # nothing after the last one
    assert got == [f"message {i:05d} " + "x" * (i % 200) for i in range(count)]
    assert state["writeable"] == count
    assert state["bad_writes"] == []


# ========================================== 2. large writes and a slow reader


def test_large_writes_to_a_slow_reader_arrive_whole_in_order_and_choke_the_pipe(
    serve: Any,
) -> None:
    count = 40
    base = os.urandom(MIB)

    def message(i: int) -> bytes:  # every message different, every shift visible
        k = (i * 4099) % MIB
        return base[k:] + base[:k]

    rec: dict[str, Any] = {"writes": [], "choked_after": [], "late_choked": None}

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_RECEIVE:
            text = lws.payload(in_, len_)
            if text == b"go":
                for i in range(count):
                    rec["writes"].append(lws.libwebsocket_write(wsi, message(i), MIB, 1))
                    rec["choked_after"].append(lws.lws_send_pipe_choked(wsi))
                # issued while choked: must queue behind the 40 MiB
                rec["after_go"] = lws.libwebsocket_write(wsi, b"after-go", 8, 0)
                # WRITEABLE comes when the socket takes output again
                lws.libwebsocket_callback_on_writable(ctx, wsi)
            elif text == b"late":
                rec["late_choked"] = lws.lws_send_pipe_choked(wsi)
                lws.libwebsocket_write(wsi, b"late-reply", 10, lws.LWS_WRITE_TEXT)
            elif text == b"status":
                s = str(lws.lws_send_pipe_choked(wsi)).encode()
                lws.libwebsocket_write(wsi, s, len(s), lws.LWS_WRITE_TEXT)
        elif reason == lws.LWS_CALLBACK_SERVER_WRITEABLE:
            rec["writeable_choked"] = lws.lws_send_pipe_choked(wsi)
            lws.libwebsocket_write(wsi, b"writeable", 9, lws.LWS_WRITE_TEXT)
        return 0

    server = serve([("bulk", cb, 0)])
    client = RawWs.connect(server.port, timeout=20)
    client.send(0x1, b"go")
    # slow at first: small reads with pauses, the server's pipe fills up
    for i in range(80):
        client.read_some(4096)
        time.sleep(0.008)
        if i == 40:
            client.send(0x1, b"late")  # read by the server once it drains
    assert not client.eof
    frames = []
    while len(frames) < count + 3:
        f = client.next_frame()
        assert f is not None, f"EOF after {len(frames)} frames"
        frames.append(f)

    assert rec["writes"] == [MIB] * count
    assert any(rec["choked_after"]), "lws_send_pipe_choked never became nonzero"
    assert rec["choked_after"][-1] == 1
    assert rec["after_go"] == 8
    assert rec["writeable_choked"] == 0
    for i in range(count):
        first, payload = frames[i]
        assert first == 0x82, (i, hex(first))
        assert len(payload) == MIB, (i, len(payload))
        assert payload == message(i), f"message {i} corrupted or out of order"
    assert frames[count] == (0x81, b"after-go")
    assert sorted(frames[count + 1 :]) == [(0x81, b"late-reply"), (0x81, b"writeable")]

    client.send(0x1, b"status")
    assert client.next_frame() == (0x81, b"0"), "still choked with everything delivered"
    client.send(0x8, struct.pack("!H", 1000))
    assert client.next_frame() == (0x88, struct.pack("!H", 1000))
    client.close()
    wait_for(lambda: server.closed["bulk"] == 1)


def test_fragmented_message_written_while_choked_is_not_interleaved(serve: Any) -> None:
    big = os.urandom(16 * MIB)
    rec: dict[str, Any] = {}

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_RECEIVE and lws.payload(in_, len_) == b"go":
            rec["big"] = lws.libwebsocket_write(wsi, big, len(big), lws.LWS_WRITE_BINARY)
            rec["choked"] = lws.lws_send_pipe_choked(wsi)
            nofin = lws.LWS_WRITE_TEXT | lws.LWS_WRITE_NO_FIN
            rec["frag"] = [
                lws.libwebsocket_write(wsi, b"one,", 4, nofin),
                lws.libwebsocket_write(wsi, b"p", 1, lws.LWS_WRITE_PING),
                lws.libwebsocket_write(wsi, b"two,", 4, lws.LWS_WRITE_CONTINUATION | 0x40),
                lws.libwebsocket_write(wsi, b"three", 5, lws.LWS_WRITE_CONTINUATION),
            ]
        return 0

    server = serve([("p", cb, 0)])
    client = RawWs.connect(server.port, timeout=20)
    client.send(0x1, b"go")
    time.sleep(0.3)  # the server writes everything while we do not read
    frames = [client.next_frame() for _ in range(5)]
    assert rec["big"] == len(big) and rec["choked"] == 1
    assert rec["frag"] == [4, 1, 4, 5]
    assert frames[0] == (0x82, big)
    assert frames[1:] == [(0x01, b"one,"), (0x89, b"p"), (0x00, b"two,"), (0x80, b"three")]
    client.close()


# =========================================== 3. close_and_free_session from a callback


@pytest.mark.parametrize("returns", [0, -1], ids=["returns-0", "returns-nonzero"])
@pytest.mark.parametrize("where", ["receive", "writeable", "established"])
@pytest.mark.parametrize(
    "status, seen",
    [(lws.LWS_CLOSE_STATUS_GOINGAWAY, 1001), (lws.LWS_CLOSE_STATUS_NOSTATUS, 1005)],
    ids=["goingaway", "nostatus"],
)
def test_close_and_free_session_sends_the_close_status_and_closed_comes_once(
    serve: Any, status: int, seen: int, where: str, returns: int
) -> None:
    calls_after: list[int] = []
    done: list[int] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if done and reason != lws.LWS_CALLBACK_CLOSED and reason not in POLL_REASONS:
            calls_after.append(reason)
        trigger = {
            "receive": lws.LWS_CALLBACK_RECEIVE,
            "writeable": lws.LWS_CALLBACK_SERVER_WRITEABLE,
            "established": lws.LWS_CALLBACK_ESTABLISHED,
        }[where]
        if where == "writeable" and reason == lws.LWS_CALLBACK_RECEIVE:
            lws.libwebsocket_callback_on_writable(ctx, wsi)
        if reason == trigger and not done:
            done.append(1)
            lws.libwebsocket_close_and_free_session(ctx, wsi, status)
            return returns
        return 0

    server = serve([("p", cb, 0)])
    with ws_client(server.url) as ws:
        if where != "established":
            ws.send("close me")
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
    assert info.value.rcvd is not None, "no close frame reached the client"
    assert info.value.rcvd.code == seen
    wait_for(lambda: server.closed["p"] == 1)
    time.sleep(0.2)
    assert server.closed["p"] == 1 and server.established["p"] == 1
    assert calls_after == []


def test_close_and_free_session_nostatus_sends_an_empty_close_frame(serve: Any) -> None:
    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_RECEIVE:
            lws.libwebsocket_close_and_free_session(ctx, wsi, lws.LWS_CLOSE_STATUS_NOSTATUS)
        return 0

    server = serve([("p", cb, 0)])
    client = RawWs.connect(server.port)
    client.send(0x1, b"bye")
    assert client.frames_until_eof() == [(0x88, b"")]
    client.close()
    wait_for(lambda: server.closed["p"] == 1)


# ============================================== 4. CLOSED exactly once, every path


def _closing_callback(path: str) -> Callback:
    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if path == "established-returns-nonzero" and reason == lws.LWS_CALLBACK_ESTABLISHED:
            return 1
        if reason == lws.LWS_CALLBACK_RECEIVE:
            if path == "receive-returns-nonzero":
                return -1
            if path == "receive-raises":
                raise RuntimeError("raised on purpose by the test")
            if path == "writeable-returns-nonzero":
                lws.libwebsocket_callback_on_writable(ctx, wsi)
                return 0
            if path == "client-drops-tcp-while-server-choked":
                for _ in range(16):
                    lws.libwebsocket_write(wsi, bytes(MIB), MIB, lws.LWS_WRITE_BINARY)
                assert lws.lws_send_pipe_choked(wsi)
                return 0
            return echo_cb(ctx, wsi, reason, user, in_, len_)
        if path == "writeable-returns-nonzero" and reason == lws.LWS_CALLBACK_SERVER_WRITEABLE:
            return 1
        return 0

    return cb


@pytest.mark.parametrize(
    "path",
    [
        "client-closes-cleanly",
        "client-drops-tcp",
        "client-resets-tcp",
        "client-drops-tcp-while-server-choked",
        "protocol-error",
        "established-returns-nonzero",
        "receive-returns-nonzero",
        "writeable-returns-nonzero",
        "receive-raises",
    ],
)
def test_closed_comes_exactly_once_whatever_ends_the_connection(
    serve: Any, path: str, log_lines: list[str]
) -> None:
    server = serve([("p", _closing_callback(path), 8)])
    server.expect_errors = path == "receive-raises"

    if path == "client-closes-cleanly":
        with ws_client(server.url) as ws:
            ws.send("hello")
            assert ws.recv(timeout=5) == "hello"
        assert ws.close_code == 1000  # the server answered our close
    elif path in ("client-drops-tcp", "client-resets-tcp"):
        client = RawWs.connect(server.port)
        client.send(0x1, b"hello")
        assert client.next_frame() == (0x81, b"hello")
        if path == "client-resets-tcp":
            client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
    elif path == "client-drops-tcp-while-server-choked":
        client = RawWs.connect(server.port)
        client.send(0x1, b"flood me")
        assert client.read_some(4096) > 0
        time.sleep(0.2)  # the server has 16 MiB queued and stopped reading us
        client.close()  # unread data: the kernel resets the connection
    elif path == "protocol-error":
        client = RawWs.connect(server.port)
        client.send(0x3, b"reserved opcode")
        frames = client.frames_until_eof()
        assert [f[0] for f in frames] == [0x88]
        assert close_code(frames[0][1]) == 1002
        client.close()
    else:
        client = RawWs.connect(server.port)
        if path != "established-returns-nonzero":
            client.send(0x1, b"hello")
        frames = client.frames_until_eof()
        # the server ends it with a close frame, then EOF: no status code for a
        # nonzero return (as in C), 1011 for an exception in a Python callback
        expected = b"\x03\xf3" if path == "receive-raises" else b""
        assert frames == [(0x88, expected)], frames
        client.close()

    wait_for(lambda: server.closed["p"] >= 1, what="CLOSED")
    time.sleep(0.2)  # more service passes: no second CLOSED
    assert server.established["p"] == 1
    assert server.closed["p"] == 1
    assert not server.open
    if path == "receive-raises":
        assert len(server.errors) == 1 and "raised on purpose" in server.errors[0]
        assert any("raised on purpose by the test" in line for line in log_lines)
    server.check()


def test_handshake_that_never_completes_gets_no_closed(serve: Any) -> None:
    server = serve([("p", echo_cb, 0)])
    with socket.create_connection((LOCAL, server.port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # half a head
        time.sleep(0.2)
    time.sleep(0.2)
    assert server.established["p"] == 0 and server.closed["p"] == 0


def test_context_destroy_closes_each_connection_once_and_clients_see_going_away(
    serve: Any,
) -> None:
    server = serve([("first", echo_cb, 16), ("second", echo_cb, 0)])
    with contextlib.ExitStack() as stack:
        clients = [
            stack.enter_context(
                ws_client(server.url, subprotocols=["second" if i % 2 else "first"])
            )
            for i in range(6)
        ]
        idle = stack.enter_context(socket.create_connection((LOCAL, server.port), timeout=5))
        for i, ws in enumerate(clients):
            ws.send(f"ping {i}")
            assert ws.recv(timeout=5) == f"ping {i}"
        server.destroy()
        assert server.established == Counter(first=3, second=3)
        assert server.closed == Counter(first=3, second=3)
        assert not server.open
        for ws in clients:
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=5)
            assert info.value.rcvd is not None, "no close frame before the socket closed"
            assert info.value.rcvd.code == 1001
        assert read_to_eof(idle) == b""  # never upgraded: just closed


@pytest.mark.parametrize("who", ["client-closes", "server-closes"])
def test_write_in_closed_fails_and_nothing_follows_the_close_frame(serve: Any, who: str) -> None:
    results: list[int] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_RECEIVE:
            lws.libwebsocket_close_and_free_session(ctx, wsi, lws.LWS_CLOSE_STATUS_GOINGAWAY)
        elif reason == lws.LWS_CALLBACK_CLOSED:
            results.append(lws.libwebsocket_write(wsi, b"after close", 11, lws.LWS_WRITE_TEXT))
        return 0

    server = serve([("p", cb, 0)])
    client = RawWs.connect(server.port)
    if who == "client-closes":
        client.send(0x8, struct.pack("!H", 1000))
        expect = [(0x88, struct.pack("!H", 1000))]
    else:
        client.send(0x1, b"close me")
        expect = [(0x88, struct.pack("!H", 1001))]
    frames = client.frames_until_eof()
    client.close()
    wait_for(lambda: server.closed["p"] == 1)
    assert frames == expect
    assert results == [-1]


def test_set_timeout_closes_with_going_away_and_no_pending_timeout_cancels(
    serve: Any,
) -> None:
    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_ESTABLISHED:
            lws.libwebsocket_set_timeout(wsi, lws.PENDING_TIMEOUT_AWAITING_PING, 1)
        elif reason == lws.LWS_CALLBACK_RECEIVE:
            if lws.payload(in_, len_) == b"cancel":
                lws.libwebsocket_set_timeout(wsi, lws.NO_PENDING_TIMEOUT, 0)
            lws.libwebsocket_write(wsi, b"ok", 2, lws.LWS_WRITE_TEXT)
        return 0

    server = serve([("p", cb, 0)])
    timed = RawWs.connect(server.port)
    kept = RawWs.connect(server.port)
    kept.send(0x1, b"cancel")
    assert kept.next_frame() == (0x81, b"ok")
    t0 = time.monotonic()
    frames = timed.frames_until_eof()
    assert time.monotonic() - t0 < 3
    assert [f[0] for f in frames] == [0x88] and close_code(frames[0][1]) == 1001
    time.sleep(1.5)  # past its timeout: the cancelled one is still served
    kept.send(0x1, b"still there?")
    assert kept.next_frame() == (0x81, b"ok")
    assert server.closed["p"] == 1
    timed.close()
    kept.close()


def test_set_timeout_never_fires_before_the_given_seconds(serve: Any) -> None:
    started: dict[int, float] = {}
    elapsed: list[float] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_ESTABLISHED:
            started[addr(wsi)] = time.monotonic()
            lws.libwebsocket_set_timeout(wsi, lws.PENDING_TIMEOUT_AWAITING_PING, 1)
        elif reason == lws.LWS_CALLBACK_CLOSED:
            elapsed.append(time.monotonic() - started[addr(wsi)])
        return 0

    server = serve([("p", cb, 0)])
    clients = []
    for _ in range(3):  # at different phases of the second
        clients.append(RawWs.connect(server.port))
        time.sleep(0.35)
    for c in clients:
        c.frames_until_eof()
        c.close()
    wait_for(lambda: len(elapsed) == 3)
    assert min(elapsed) >= 0.95, f"a 1 s timeout fired after {sorted(elapsed)} s"


def test_callback_may_write_to_and_close_another_connection(serve: Any) -> None:
    conns: dict[str, Any] = {}

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_RECEIVE:
            data = lws.payload(in_, len_)
            if data.startswith(b"I am "):
                conns[data[5:].decode()] = wsi
                lws.libwebsocket_write(wsi, b"hi", 2, lws.LWS_WRITE_TEXT)
            elif data == b"kick b":
                lws.libwebsocket_close_and_free_session(
                    ctx, conns["b"], lws.LWS_CLOSE_STATUS_POLICY_VIOLATION
                )
            else:
                n = lws.libwebsocket_write(conns["b"], data, len(data), lws.LWS_WRITE_TEXT)
                lws.libwebsocket_write(wsi, str(n), len(str(n)), lws.LWS_WRITE_TEXT)
        return 0

    server = serve([("chat", cb, 0)])
    with ws_client(server.url) as a, ws_client(server.url) as b:
        for name, ws in (("a", a), ("b", b)):
            ws.send(f"I am {name}")
            assert ws.recv(timeout=5) == "hi"
        a.send("for b, from a")
        assert a.recv(timeout=5) == "13"
        assert b.recv(timeout=5) == "for b, from a"
        a.send("kick b")
        with pytest.raises(ConnectionClosed) as info:
            b.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008
        wait_for(lambda: server.closed["chat"] == 1)
        a.send("I am a")
        assert a.recv(timeout=5) == "hi"  # a goes on
    wait_for(lambda: server.closed["chat"] == 2)


def test_data_written_before_returning_nonzero_arrives_before_the_close(serve: Any) -> None:
    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_RECEIVE:
            lws.libwebsocket_write(wsi, b"last words", 10, lws.LWS_WRITE_TEXT)
            lws.libwebsocket_write(wsi, bytes(3 * MIB), 3 * MIB, lws.LWS_WRITE_BINARY)
            return 1
        return 0

    server = serve([("p", cb, 0)])
    client = RawWs.connect(server.port)
    client.send(0x1, b"x")
    frames = client.frames_until_eof()
    client.close()
    assert frames == [(0x81, b"last words"), (0x82, bytes(3 * MIB)), (0x88, b"")]
    wait_for(lambda: server.closed["p"] == 1)


def test_frames_sent_with_the_handshake_are_received(serve: Any) -> None:
    server = serve([("echo", echo_cb, 0)])
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection((LOCAL, server.port), timeout=5) as s:
        s.sendall(
            (
                "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
            + frame(0x1, b"early")
            + frame(0x2, b"bird")
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        head, _, rest = head.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        client = RawWs(s, rest)
        assert [client.next_frame(), client.next_frame()] == [(0x81, b"early"), (0x82, b"bird")]


# ============================================= 5. LWS_SERVER_OPTION_DEFEAT_CLIENT_MASK


def test_defeat_client_mask_accepts_and_echoes_unmasked_frames(serve: Any) -> None:
    server = serve([("echo", echo_cb, 0)], options=lws.LWS_SERVER_OPTION_DEFEAT_CLIENT_MASK)
    client = RawWs.connect(server.port)
    client.send(0x1, b"unmasked text", mask=False)
    assert client.next_frame() == (0x81, b"unmasked text")
    client.send(0x2, b"\x00unmasked\xff" * 1000, mask=False)
    assert client.next_frame() == (0x82, b"\x00unmasked\xff" * 1000)
    client.send(0x2, b"masked still works", mask=True)
    assert client.next_frame() == (0x82, b"masked still works")
    client.send(0x8, struct.pack("!H", 1000), mask=False)
    assert client.frames_until_eof() == [(0x88, struct.pack("!H", 1000))]
    client.close()


def test_unmasked_client_frame_without_the_option_is_closed_with_1002(serve: Any) -> None:
    received: list[bytes] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_RECEIVE:
            received.append(lws.payload(in_, len_))
        return 0

    server = serve([("p", cb, 0)])
    client = RawWs.connect(server.port)
    client.send(0x1, b"unmasked text", mask=False)
    frames = client.frames_until_eof()
    assert [f[0] for f in frames] == [0x88] and close_code(frames[0][1]) == 1002
    assert received == []
    client.close()
    wait_for(lambda: server.closed["p"] == 1)


# ================================================ 6/7. receiving in pieces, RECEIVE helpers


def _receive_recorder(pieces: list[dict[str, Any]]) -> Callback:
    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_RECEIVE:
            final = lws.libwebsocket_is_final_fragment(wsi)
            pieces.append(
                {
                    "data": lws.payload(in_, len_),
                    "remaining": lws.libwebsockets_remaining_packet_payload(wsi),
                    "final": final,
                    "binary": lws.lws_frame_is_binary(wsi),
                    "rsv": lws.libwebsocket_get_reserved_bits(wsi),
                }
            )
            if final:
                lws.libwebsocket_write(wsi, b"done", 4, lws.LWS_WRITE_TEXT)
        return 0

    return cb


def test_large_binary_frame_arrives_in_pieces_with_remaining_payload_counting_down(
    serve: Any,
) -> None:
    pieces: list[dict[str, Any]] = []
    server = serve([("p", _receive_recorder(pieces), 0)])
    payload = os.urandom(5 * MIB)
    client = RawWs.connect(server.port, timeout=20)
    client.send(0x2, payload)  # one frame
    assert client.next_frame() == (0x81, b"done")
    client.close()

    assert len(pieces) > 1, "a 5 MiB frame came in one RECEIVE"
    assert b"".join(p["data"] for p in pieces) == payload
    got = 0
    for p in pieces:
        assert len(p["data"]) > 0
        got += len(p["data"])
        assert p["remaining"] == len(payload) - got
    assert pieces[-1]["remaining"] == 0
    assert [bool(p["final"]) for p in pieces] == [False] * (len(pieces) - 1) + [True]
    assert all(p["binary"] for p in pieces)
    assert all(p["rsv"] == 0 for p in pieces)


def test_fragmented_text_is_final_only_at_the_last_piece_and_never_binary(serve: Any) -> None:
    pieces: list[dict[str, Any]] = []
    server = serve([("p", _receive_recorder(pieces), 0)])
    fragments = [b"Hello, ", "w\u00f6rld ".encode(), b"x" * (2 * MIB)]
    client = RawWs.connect(server.port, timeout=20)
    client.send(0x1, fragments[0], fin=False)
    client.send(0x0, fragments[1], fin=False)
    client.send(0x9, b"ping in between")  # control frames may interleave
    client.send(0x0, fragments[2], fin=True)
    frames = [client.next_frame(), client.next_frame()]
    assert frames == [(0x8A, b"ping in between"), (0x81, b"done")]
    client.close()

    assert b"".join(p["data"] for p in pieces) == b"".join(fragments)
    assert len(pieces) >= 4, "the 2 MiB fragment came in one piece"
    assert [bool(p["final"]) for p in pieces] == [False] * (len(pieces) - 1) + [True]
    assert not any(p["binary"] for p in pieces)
    assert all(p["rsv"] == 0 for p in pieces)
    # each fragment's pieces count down to 0
    at = 0
    for frag in fragments:
        got = 0
        while got < len(frag):
            p = pieces[at]
            got += len(p["data"])
            assert p["remaining"] == len(frag) - got
            at += 1
        assert got == len(frag)


def test_fragmented_binary_message_is_binary_in_every_continuation(serve: Any) -> None:
    pieces: list[dict[str, Any]] = []
    server = serve([("p", _receive_recorder(pieces), 0)])
    with ws_client(server.url) as ws:
        ws.send([b"first part ", b"second part ", b"third part"])  # a fragmented message
        assert ws.recv(timeout=5) == "done"
    # (websockets ends a fragmented message with an empty FIN frame)
    assert b"".join(p["data"] for p in pieces) == b"first part second part third part"
    assert len(pieces) >= 3
    assert [bool(p["final"]) for p in pieces] == [False] * (len(pieces) - 1) + [True]
    assert all(p["binary"] for p in pieces)
    assert [p["remaining"] for p in pieces] == [0] * len(pieces)


def test_reserved_bits_are_zero_for_normal_frames(serve: Any) -> None:
    pieces: list[dict[str, Any]] = []
    server = serve([("p", _receive_recorder(pieces), 0)])
    with ws_client(server.url, max_size=None) as ws:
        for msg in ["text", b"binary", "", b"", ["frag", "mented"], os.urandom(300_000)]:
            ws.send(msg)
            assert ws.recv(timeout=5) == "done"
    assert len(pieces) >= 7
    assert [p["rsv"] for p in pieces] == [0] * len(pieces)


# ============================================================ 8. service timeouts


def test_service_with_nothing_to_do_honours_the_timeout() -> None:
    ctx = lws.libwebsocket_create_context(free_port(), None, [("p", echo_cb, 0)])
    try:
        t0 = time.monotonic()
        for _ in range(20):
            assert lws.libwebsocket_service(ctx, 0) == 0
        assert time.monotonic() - t0 < 0.5, "service(ctx, 0) waited with nothing to do"

        t0 = time.monotonic()
        assert lws.libwebsocket_service(ctx, 300) == 0
        elapsed = time.monotonic() - t0
        assert 0.2 <= elapsed <= 2.0, elapsed
    finally:
        lws.libwebsocket_context_destroy(ctx)


def test_service_returns_before_the_timeout_when_a_connection_arrives() -> None:
    port = free_port()
    ctx = lws.libwebsocket_create_context(port, LOCAL, [("p", echo_cb, 0)])
    try:
        with socket.create_connection((LOCAL, port), timeout=5):
            t0 = time.monotonic()
            assert lws.libwebsocket_service(ctx, 5000) == 0
            assert time.monotonic() - t0 < 2.0, "service did not return on activity"
    finally:
        lws.libwebsocket_context_destroy(ctx)


# ================================================================== 9. interface


def _echo_once(url: str) -> None:
    with ws_client(url) as ws:
        ws.send("over " + url)
        assert ws.recv(timeout=5) == "over " + url


@pytest.mark.parametrize("interf", ["127.0.0.1", "lo"])
def test_interface_by_address_or_name_listens_on_ipv4_loopback(serve: Any, interf: str) -> None:
    server = serve([("echo", echo_cb, 0)], interf=interf)
    _echo_once(f"ws://127.0.0.1:{server.port}")
    if ipv6_loopback():
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("::1", server.port), timeout=5).close()
    assert server.established["echo"] == 1


def test_interface_ipv6_loopback(serve: Any) -> None:
    if not ipv6_loopback():
        pytest.skip("no IPv6 loopback on this host")
    server = serve([("echo", echo_cb, 0)], interf="::1")
    _echo_once(f"ws://[::1]:{server.port}")


def test_no_interface_listens_on_ipv4_and_ipv6_loopback(serve: Any) -> None:
    server = serve([("echo", echo_cb, 0)], interf=None)
    _echo_once(f"ws://127.0.0.1:{server.port}")
    if not ipv6_loopback():
        pytest.skip("no IPv6 loopback on this host (IPv4 was checked)")
    _echo_once(f"ws://[::1]:{server.port}")
    wait_for(lambda: server.closed["echo"] == 2)


# ========================================================= 10. subprotocol dispatch


def test_subprotocol_picks_the_callback_and_its_zeroed_per_session_data(serve: Any) -> None:
    sizes = {"first": 24, "second": 40}
    log: list[tuple[Any, ...]] = []
    counter = iter(range(1, 1000))

    def make(name: str) -> Callback:
        size = sizes[name]

        def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
            if reason == lws.LWS_CALLBACK_ESTABLISHED:
                proto = lws.libwebsockets_get_protocol(wsi)
                log.append(
                    (
                        name,
                        "established",
                        user != ffi.NULL,
                        user == lws.libwebsocket_ensure_user_space(wsi),
                        ffi.buffer(user, size)[:] if user != ffi.NULL else None,
                        ffi.string(proto.name),
                        proto.protocol_index,
                        proto.owning_server == ctx,
                    )
                )
                # a marker unique to this connection, filling the whole area
                mark = f"{name}#{next(counter)}|".encode()
                ffi.buffer(user, size)[:] = (mark * size)[:size]
            elif reason == lws.LWS_CALLBACK_RECEIVE:
                area = ffi.buffer(user, size)[:]  # read back in a later callback
                lws.libwebsocket_write(wsi, area, size, lws.LWS_WRITE_BINARY)
            elif reason not in (lws.LWS_CALLBACK_CLOSED, lws.LWS_CALLBACK_SERVER_WRITEABLE):
                log.append((name, "other", reason))
            return 0

        return cb

    server = serve([("first", make("first"), sizes["first"]), ("second", make("second"), 40)])
    with contextlib.ExitStack() as stack:
        a = stack.enter_context(ws_client(server.url, subprotocols=["second"]))
        b = stack.enter_context(ws_client(server.url))  # asks for none: protocols[0]
        c = stack.enter_context(ws_client(server.url, subprotocols=["unknown", "second"]))
        d = stack.enter_context(ws_client(server.url, subprotocols=["first"]))
        assert (a.subprotocol, b.subprotocol, c.subprotocol, d.subprotocol) == (
            "second",
            None,
            "second",
            "first",
        )
        areas = []
        for ws in (a, b, c, d):
            ws.send("what is in my area?")
            areas.append(ws.recv(timeout=5))

    established = [e for e in log if e[1] == "established"]
    others = [e for e in log if e[1] == "other"]
    # protocols[0] gets the poll and network-filter reasons; "second" sees nothing but
    # its own connections, whose FILTER_PROTOCOL_CONNECTION comes to it (as classically)
    assert all(
        e[0] == "first" or e[2] == lws.LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION for e in others
    ), others
    assert [e[0] for e in others if e[2] == lws.LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION] == [
        "second",
        "first",
        "second",
        "first",
    ]
    assert [e[0] for e in established] == ["second", "first", "second", "first"]
    for name, _, has_user, same, area, pname, index, owner in established:
        assert has_user and same
        assert area == bytes(sizes[name]), f"{name}: user area not zeroed: {area!r}"
        assert pname == name.encode()
        assert index == (0 if name == "first" else 1)
        assert owner
    marks = [area.split(b"|")[0] for area in areas]
    assert marks == [b"second#1", b"first#2", b"second#3", b"first#4"]
    assert [len(area) for area in areas] == [40, 24, 40, 24]
    wait_for(lambda: server.closed == Counter(first=2, second=2))


def test_protocols_array_entries_are_filled_by_the_library(serve: Any) -> None:
    got: dict[str, Any] = {}

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_ESTABLISHED:
            p = lws.libwebsockets_get_protocol(wsi)
            entries = [p - p.protocol_index + i for i in range(3)]
            got["entries"] = [
                (
                    ffi.string(e.name),
                    e.protocol_index,
                    e.owning_server == ctx,
                    e.per_session_data_size,
                )
                for e in entries
            ]
            terminator = p - p.protocol_index + 3
            got["terminator"] = terminator.callback == ffi.NULL
        return 0

    server = serve([("a", cb, 0), ("b", cb, 8), ("c", cb, 16)])
    with ws_client(server.url, subprotocols=["c"]) as ws:
        ws.send("x")
        wait_for(lambda: "entries" in got)
    assert got["entries"] == [(b"a", 0, True, 0), (b"b", 1, True, 8), (b"c", 2, True, 16)]
    assert got["terminator"]


# ======================================================================= 11. HTTP


def test_http_callback_gets_the_path_as_a_c_string_and_its_length(serve: Any) -> None:
    seen: list[tuple[bytes, int, bytes]] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_HTTP:
            path = ffi.string(ffi.cast("char *", in_))
            seen.append((path, len_, lws.payload(in_, len_)))
            reply = http_page(b"you asked for " + path)
            lws.libwebsocket_write(wsi, reply, len(reply), lws.LWS_WRITE_HTTP)
            return 1
        return 0

    def second(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        seen.append((b"second protocol called", reason, b""))
        return 0

    server = serve([("http", cb, 0), ("other", second, 0)])
    for path in ["/", "/some/deeper/path.html?q=1&r=%20x", "/" + "a" * 2000]:
        with socket.create_connection((LOCAL, server.port), timeout=5) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            buf = bytearray()
            status, _, body = read_http_response(s, buf)
            assert status == 200 and body == b"you asked for " + path.encode()
            assert read_to_eof(s) == b""  # returned 1: closed after the reply
    assert seen == [
        (p.encode(), len(p), p.encode())
        for p in ["/", "/some/deeper/path.html?q=1&r=%20x", "/" + "a" * 2000]
    ]


def test_http_callback_that_writes_nothing_gets_404(serve: Any) -> None:
    calls: list[bytes] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_HTTP:
            calls.append(lws.payload(in_, len_))
        return 0

    server = serve([("http", cb, 0)])
    with socket.create_connection((LOCAL, server.port), timeout=5) as s:
        s.sendall(b"GET /nothing/here HTTP/1.1\r\nHost: x\r\n\r\n")
        data = read_to_eof(s)
    assert data.startswith(b"HTTP/1.1 404 "), data[:100]
    assert calls == [b"/nothing/here"]


@pytest.mark.parametrize("pipelined", [False, True], ids=["one-by-one", "pipelined"])
def test_http_keep_alive_answers_requests_on_one_connection_in_order(
    serve: Any, pipelined: bool
) -> None:
    paths: list[bytes] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_HTTP:
            path = lws.payload(in_, len_)
            paths.append(path)
            reply = http_page(b"page " + path)
            assert lws.libwebsocket_write(wsi, reply, len(reply), lws.LWS_WRITE_HTTP) == len(reply)
        return 0  # keep the connection

    server = serve([("http", cb, 0)])
    requests = [f"GET /r{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(3)]
    with socket.create_connection((LOCAL, server.port), timeout=5) as s:
        buf = bytearray()
        if pipelined:
            s.sendall(b"".join(requests))
            got = [read_http_response(s, buf) for _ in requests]
        else:
            got = []
            for r in requests:
                s.sendall(r)
                got.append(read_http_response(s, buf))
        assert [(st, body) for st, _, body in got] == [(200, b"page /r%d" % i) for i in range(3)]
        # still open: one more, asking to close
        s.sendall(b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status, _, body = read_http_response(s, buf)
        assert (status, body) == (200, b"page /last")
        assert bytes(buf) + read_to_eof(s) == b""
    assert paths == [b"/r0", b"/r1", b"/r2", b"/last"]


def test_http_then_upgrade_on_one_connection_gets_a_zeroed_user_area(serve: Any) -> None:
    """ESTABLISHED is the chance to initialise the per-session data: it must
    start zeroed even when the connection served HTTP (same protocols[0])
    before its upgrade."""
    areas: list[bytes] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_HTTP:
            if user != ffi.NULL:
                ffi.buffer(user, 16)[:] = b"written by HTTP!"
            reply = http_page(b"ok")
            lws.libwebsocket_write(wsi, reply, len(reply), lws.LWS_WRITE_HTTP)
        elif reason == lws.LWS_CALLBACK_ESTABLISHED:
            areas.append(ffi.buffer(user, 16)[:])
        return 0

    server = serve([("p", cb, 16)])
    with socket.create_connection((LOCAL, server.port), timeout=5) as s:
        s.sendall(b"GET /page HTTP/1.1\r\nHost: x\r\n\r\n")
        buf = bytearray()
        assert read_http_response(s, buf)[0] == 200
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(
            (
                "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        while b"\r\n\r\n" not in buf:
            buf += s.recv(4096)
        assert buf.startswith(b"HTTP/1.1 101"), bytes(buf)
        wait_for(lambda: areas)
    assert areas == [bytes(16)]


# ============================================================ 12. filter callbacks


def _token(toks: Any, i: int) -> bytes | None:
    t = toks[i]
    if t.token == ffi.NULL:
        return None
    return ffi.buffer(t.token, t.token_len)[:]


def test_filter_protocol_connection_sees_the_handshake_headers(serve: Any) -> None:
    seen: list[dict[int, bytes | None]] = []
    called: list[str] = []

    def filter_for(name: str) -> Any:
        def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
            if reason == lws.LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
                called.append(name)
                toks = ffi.cast("struct lws_tokens *", user)
                seen.append({i: _token(toks, i) for i in range(lws.WSI_TOKEN_COUNT)})
                # each token is also a C string, as classic programs print them
                for i in range(lws.WSI_TOKEN_COUNT):
                    if toks[i].token != ffi.NULL:
                        assert ffi.string(toks[i].token) == _token(toks, i)
            return 0

        return cb

    server = serve([("p", filter_for("p"), 0), ("chat", filter_for("chat"), 0)])
    with ws_client(
        f"{server.url}/chat/room?id=7", origin="http://example.test", subprotocols=["chat"]
    ) as ws:
        assert ws.subprotocol == "chat"
    with ws_client(server.url):
        pass
    # the protocol the connection is handed to decides (protocols[0] without one)
    assert called == ["chat", "p"]
    assert len(seen) == 2
    full, bare = seen
    assert full[lws.WSI_TOKEN_GET_URI] == b"/chat/room?id=7"
    assert full[lws.WSI_TOKEN_HOST] == f"{LOCAL}:{server.port}".encode()
    assert full[lws.WSI_TOKEN_ORIGIN] == b"http://example.test"
    assert full[lws.WSI_TOKEN_PROTOCOL] == b"chat"
    assert full[lws.WSI_TOKEN_UPGRADE] is not None
    assert full[lws.WSI_TOKEN_UPGRADE].lower() == b"websocket"
    assert full[lws.WSI_TOKEN_VERSION] == b"13"
    assert full[lws.WSI_TOKEN_KEY] is not None and len(full[lws.WSI_TOKEN_KEY]) == 24
    assert full[lws.WSI_TOKEN_CONNECTION] is not None
    for absent in (
        lws.WSI_TOKEN_KEY1,
        lws.WSI_TOKEN_KEY2,
        lws.WSI_TOKEN_DRAFT,
        lws.WSI_TOKEN_CHALLENGE,
        lws.WSI_TOKEN_SWORIGIN,
        lws.WSI_TOKEN_EXTENSIONS,
        lws.WSI_TOKEN_ACCEPT,
        lws.WSI_TOKEN_NONCE,
        lws.WSI_TOKEN_HTTP,
        lws.WSI_TOKEN_MUXURL,
    ):
        assert full[absent] is None, (absent, full[absent])
    assert bare[lws.WSI_TOKEN_GET_URI] == b"/"
    assert bare[lws.WSI_TOKEN_ORIGIN] is None
    assert bare[lws.WSI_TOKEN_PROTOCOL] is None


def test_filter_protocol_connection_nonzero_refuses_with_403(serve: Any) -> None:
    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
            toks = ffi.cast("struct lws_tokens *", user)
            origin = _token(toks, lws.WSI_TOKEN_ORIGIN)
            return 0 if origin == b"http://good.test" else 1
        return 0

    server = serve([("p", cb, 0)])
    with pytest.raises(InvalidStatus) as info, ws_client(server.url, origin="http://evil.test"):
        pass
    assert info.value.response.status_code == 403
    with ws_client(server.url, origin="http://good.test") as ws:
        ws.send("fine")
    wait_for(lambda: server.closed["p"] == 1)
    assert server.established["p"] == 1


def test_filter_network_connection_gets_the_fd_and_can_drop_before_any_byte(
    serve: Any,
) -> None:
    calls: list[dict[str, Any]] = []
    refuse = {"on": True}

    def first(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
            fd = int(ffi.cast("intptr_t", user))
            with socket.socket(fileno=os.dup(fd)) as s:
                peer = ip_port(s.getpeername())
            calls.append({"fd": fd, "peer": peer, "wsi_null": wsi == ffi.NULL})
            return 1 if refuse["on"] else 0
        if reason == lws.LWS_CALLBACK_ESTABLISHED:
            calls[-1]["established_fd"] = lws.libwebsocket_get_socket_fd(wsi)
        return 0

    def second(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
            calls.append({"wrong protocol": True})
        return 0

    server = serve([("first", first, 0), ("second", second, 0)])
    with socket.create_connection((LOCAL, server.port), timeout=5) as s:
        me = ip_port(s.getsockname())
        assert read_to_eof(s) == b"", "the refused connection got bytes"
    assert len(calls) == 1
    assert calls[0]["peer"] == me and calls[0]["wsi_null"] and calls[0]["fd"] >= 0

    refuse["on"] = False
    with ws_client(server.url, subprotocols=["second"]) as ws:
        me = ip_port(ws.local_address)
        ws.send("hi")
    assert len(calls) == 2
    assert calls[1]["peer"] == me
    assert server.established == Counter(second=1)


# ========================================================== 13. get_socket_fd


def test_get_socket_fd_is_the_connections_socket(serve: Any) -> None:
    peers: list[Any] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason in (lws.LWS_CALLBACK_ESTABLISHED, lws.LWS_CALLBACK_RECEIVE):
            fd = lws.libwebsocket_get_socket_fd(wsi)
            with socket.socket(fileno=os.dup(fd)) as s:
                peers.append((reason, fd, ip_port(s.getpeername()), ip_port(s.getsockname())))
            if reason == lws.LWS_CALLBACK_RECEIVE:
                lws.libwebsocket_write(wsi, b"ok", 2, lws.LWS_WRITE_TEXT)
        return 0

    server = serve([("p", cb, 0)])
    with ws_client(server.url) as a, ws_client(server.url) as b:
        for ws in (a, b):
            ws.send("x")
            assert ws.recv(timeout=5) == "ok"
        expect = [ip_port(ws.local_address) for ws in (a, b)]
        assert [p[2] for p in peers] == [expect[0], expect[1], expect[0], expect[1]]
        assert all(p[3][1] == server.port for p in peers)
        fd_a, fd_b = peers[0][1], peers[1][1]
        assert fd_a != fd_b and peers[2][1] == fd_a and peers[3][1] == fd_b


# ========================================================= 14. write misuse


def test_write_misuse_returns_minus_one_logs_and_the_connection_goes_on(
    serve: Any, log_lines: list[str]
) -> None:
    results: dict[str, int] = {}

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason != lws.LWS_CALLBACK_RECEIVE:
            return 0
        w = lws.libwebsocket_write
        results["continuation without a message"] = w(wsi, b"x", 1, lws.LWS_WRITE_CONTINUATION)
        results["ping of 126 bytes"] = w(wsi, b"p" * 126, 126, lws.LWS_WRITE_PING)
        results["pong of 200 bytes"] = w(wsi, b"p" * 200, 200, lws.LWS_WRITE_PONG)
        results["fragmented ping"] = w(wsi, b"p", 1, lws.LWS_WRITE_PING | lws.LWS_WRITE_NO_FIN)
        results["http on a websocket"] = w(wsi, b"HTTP/1.1 200 OK\r\n\r\n", 19, lws.LWS_WRITE_HTTP)
        # the padded C path too
        pre, post = lws.LWS_SEND_BUFFER_PRE_PADDING, lws.LWS_SEND_BUFFER_POST_PADDING
        raw = ffi.new("unsigned char[]", pre + 126 + post)
        results["padded ping of 126 bytes"] = w(wsi, raw + pre, 126, lws.LWS_WRITE_PING)
        results["begin"] = w(wsi, b"part1,", 6, lws.LWS_WRITE_TEXT | lws.LWS_WRITE_NO_FIN)
        results["text while unfinished"] = w(wsi, b"new", 3, lws.LWS_WRITE_TEXT)
        results["binary while unfinished"] = w(wsi, b"new", 3, lws.LWS_WRITE_BINARY)
        results["ping inside the message"] = w(wsi, b"p" * 125, 125, lws.LWS_WRITE_PING)
        results["end"] = w(wsi, b"part2", 5, lws.LWS_WRITE_CONTINUATION)
        results["continuation after the end"] = w(wsi, b"x", 1, lws.LWS_WRITE_CONTINUATION)
        results["after"] = w(wsi, b"still here", 10, lws.LWS_WRITE_TEXT)
        return 0

    server = serve([("p", cb, 0)])
    with ws_client(server.url) as ws:
        ws.send("go")
        assert ws.recv(timeout=5) == "part1,part2"
        assert ws.recv(timeout=5) == "still here"
        ws.send("again, still open")
        assert ws.recv(timeout=5) == "part1,part2"
        assert ws.recv(timeout=5) == "still here"
    misuse = [
        "continuation without a message",
        "ping of 126 bytes",
        "pong of 200 bytes",
        "fragmented ping",
        "http on a websocket",
        "padded ping of 126 bytes",
        "text while unfinished",
        "binary while unfinished",
        "continuation after the end",
    ]
    assert {k: results[k] for k in misuse} == {k: -1 for k in misuse}
    assert results["begin"] == 6 and results["end"] == 5 and results["after"] == 10
    assert results["ping inside the message"] == 125
    errors = [line for line in log_lines if "ERR" in line and "libwebsocket_write" in line]
    assert len(errors) >= 2 * len(misuse), log_lines
    wait_for(lambda: server.closed["p"] == 1)


# ======================================================== 15. many connections


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_three_hundred_concurrent_clients_each_exchange_ten_messages(serve: Any) -> None:
    clients, messages = 300, 10
    server = serve([("echo", echo_cb, 32)])
    before = _open_fds()

    async def main() -> list[list[str]]:
        conns = await asyncio.gather(
            *(
                aconnect(
                    server.url,
                    compression=None,
                    proxy=None,
                    open_timeout=30,
                    close_timeout=10,
                    ping_interval=None,
                )
                for _ in range(clients)
            )
        )
        try:
            # all 300 open at once
            assert server.established["echo"] == clients
            assert len(server.open) == clients

            async def exchange(i: int, ws: Any) -> list[str]:
                got = []
                for j in range(messages):
                    await ws.send(f"client {i} message {j}")
                    got.append(await asyncio.wait_for(ws.recv(), 20))
                return got

            return await asyncio.gather(*(exchange(i, ws) for i, ws in enumerate(conns)))
        finally:
            await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)
            assert all(ws.close_code == 1000 for ws in conns)

    replies = asyncio.run(asyncio.wait_for(main(), 90))
    assert replies == [[f"client {i} message {j}" for j in range(messages)] for i in range(clients)]
    wait_for(lambda: server.closed["echo"] == clients, timeout=20, what="every CLOSED")
    assert server.established["echo"] == clients
    assert not server.open, f"{len(server.open)} connections still open"
    # no connection left behind: every server socket was closed
    wait_for(lambda: _open_fds() <= before, timeout=20, what="the sockets to close")


def test_output_beyond_the_queue_limit_cuts_the_connection(
    serve: Any, log_lines: list[str]
) -> None:
    """A peer that never reads: writes queue up to the 256 MiB limit; the
    write that would pass it fails, and rather than leave a torn frame on the
    wire the connection is cut and gets its CLOSED (no half-written frame,
    no silent loss followed by more frames)."""
    results: list[int] = []
    chunk = b"q" * (1 << 20)

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_ESTABLISHED:
            for _ in range(400):
                n = lws.libwebsocket_write(wsi, chunk, len(chunk), lws.LWS_WRITE_BINARY)
                results.append(n)
                if n < 0:
                    break
        return 0

    server = serve([("p", cb, 0)])
    ws = RawWs.connect(server.port)  # reads nothing from now on
    try:
        wait_for(lambda: server.closed["p"] == 1, timeout=30, what="CLOSED after the overflow")
    finally:
        ws.close()
    assert results[-1] == -1 and all(n == len(chunk) for n in results[:-1])
    assert 256 <= len(results) - 1 < 400  # the queue took 256 MiB, then no more
    assert any("output queue limit" in line for line in log_lines), log_lines


DROP_PRIVILEGES_SCRIPT = """
import encodings.idna  # noqa: F401 - loaded while /root is still readable
import os, socket, sys
import pylws_ffi as lws

def cb(ctx, wsi, reason, user, in_, len_):
    return 0

port = int(sys.argv[1])
ctx = lws.libwebsocket_create_context(port, "127.0.0.1", [("p", cb, 0)], gid=65534, uid=65534)
print(os.getuid(), os.geteuid(), os.getgid(), os.getegid(), sorted(os.getgroups()), flush=True)
socket.create_connection(("127.0.0.1", port), 5).close()  # listening, bound before the drop
lws.libwebsocket_service(ctx, 50)
lws.libwebsocket_context_destroy(ctx)
print("ok", flush=True)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_gid_and_uid_are_dropped_after_listening(tmp_path: Any) -> None:
    """gid/uid given: the process listens first (a low port would need root),
    then runs as them, its supplementary groups gone too."""
    import subprocess
    import sys

    script = tmp_path / "drop.py"
    script.write_text(DROP_PRIVILEGES_SCRIPT)
    run = subprocess.run(
        [sys.executable, str(script), str(free_port())],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    ids, done = run.stdout.splitlines()
    assert ids == "65534 65534 65534 65534 [65534]", ids
    assert done == "ok"

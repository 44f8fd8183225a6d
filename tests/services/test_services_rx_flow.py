"""The server services: libwebsocket_rx_flow_control.

Run as ``[python]`` and ``[c]`` where both implement it; the harness and
what the two are: tests/support/services.py.
"""

from __future__ import annotations

import base64
import os
import socket
import time
from typing import Any

from support.net import wait_for
from support.raw import LOCAL, MIB, RawWs, frame, text
from support.services import RESUME_AFTER, Server, msgs

import pylws_ffi as lws

# =========================================================== 2. rx flow control


def test_flow_disabled_in_receive_holds_the_rest_of_the_same_read(services: Any) -> None:
    """A "pause" and 200 small messages in one TCP write: the server reads
    them all at once, so the 200 wait in its buffer, not in the kernel."""
    t = services()
    ws, fd = t.connect("svc-a")
    batch = msgs(0, 200)
    ws.sock.sendall(text("pause") + b"".join(text(m) for m in batch))
    t0 = time.monotonic()
    assert ws.next_text() == "paused"
    assert ws.nothing_within(RESUME_AFTER - 0.2), "a message was delivered while paused"
    assert t.matching(rf"resumed {fd} .*") == []
    assert ws.texts(len(batch)) == batch
    assert time.monotonic() - t0 >= RESUME_AFTER - 0.1
    assert t.wait_line(rf"resumed {fd} (-?\d+)").group(1) == "0"
    assert t.wait_line(rf"paused {fd} (-?\d+)").group(1) == "0"
    ws.send_text("after")
    assert ws.next_text() == "after"
    ws.close()


def test_flow_resumed_delivers_held_messages_before_ones_sent_while_paused(
    services: Any,
) -> None:
    t = services()
    ws, fd = t.connect("svc-a")
    first, second = msgs(0, 100), msgs(100, 100)
    ws.sock.sendall(text("pause") + b"".join(text(m) for m in first))
    assert ws.next_text() == "paused"
    time.sleep(0.1)
    ws.sock.sendall(b"".join(text(m) for m in second))  # waits in the kernel
    assert ws.nothing_within(RESUME_AFTER - 0.3)
    got = ws.texts(200)
    assert sorted(got) == first + second, "messages lost or duplicated"
    assert got == first + second, f"out of order: starts {got[:3]}, {got[100:103]}"
    ws.close()


def test_flow_resumed_in_front_of_a_large_frame_delivers_it_whole(services: Any) -> None:
    t = services()
    ws, fd = t.connect("svc-a")
    big = bytes(range(97, 123)) * (MIB // 26)
    ws.sock.sendall(text("pause") + text(big) + text("after"))
    assert ws.next_text() == "paused"
    got = b""
    while len(got) < len(big):
        f = ws.next_frame()
        assert f[0] == 0x81, f"not an echo: {f[0]:#x} {f[1][:50]!r}"
        got += f[1]
    assert got == big, "the frame came back corrupted"
    assert ws.next_text() == "after"
    ws.close()


def test_flow_disabled_at_established_then_enabled_by_the_main_loop(services: Any) -> None:
    t = services()
    ws, fd = t.connect("svc-paused")
    batch = msgs(0, 150)
    for i in range(0, 150, 50):  # three writes
        ws.sock.sendall(b"".join(text(m) for m in batch[i : i + 50]))
        time.sleep(0.02)
    assert ws.nothing_within(RESUME_AFTER - 0.25), "delivered while paused"
    assert ws.texts(150) == batch
    t.wait_line(rf"resumed {fd} 0")
    ws.close()


def test_flow_disabled_at_established_holds_frames_sent_with_the_handshake(
    services: Any,
) -> None:
    """The handshake and 20 messages in one TCP write: the messages are read
    with the request, but reception is disabled in ESTABLISHED, so none may be
    delivered until the main loop enables it."""
    t = services()
    batch = msgs(0, 20)
    sock = socket.create_connection((LOCAL, t.port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: svc-paused\r\n\r\n"
        ).encode()
        + b"".join(text(m) for m in batch)
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, head
        head += chunk
    head, _, rest = head.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    ws = RawWs(sock, rest)
    fd = int(t.wait_line(r"established svc-paused (\d+)").group(1))
    early = ws.frame_within(RESUME_AFTER - 0.2)
    assert early is None, f"delivered while disabled: {early!r}"
    assert ws.texts(20) == batch
    t.wait_line(rf"resumed {fd} 0")
    ws.close()


def test_flow_paused_twice_in_one_read(services: Any) -> None:
    t = services()
    ws, fd = t.connect("svc-a")
    a, b = msgs(0, 20), msgs(20, 20)
    ws.sock.sendall(text("pause") + b"".join(map(text, a)) + text("pause") + b"".join(map(text, b)))
    assert ws.next_text() == "paused"
    assert ws.nothing_within(RESUME_AFTER - 0.2)
    assert ws.texts(21) == a + ["paused"]
    assert ws.nothing_within(RESUME_AFTER - 0.2), "delivered during the second pause"
    assert ws.texts(20) == b
    t.wait_lines(rf"resumed {fd} 0", 2)
    ws.close()


def test_flow_paused_in_the_middle_of_a_large_frame(serve: Any) -> None:
    """Disabled on the first piece of a 3 MiB frame: the rest of it, and the
    message after it, come whole and in order once enabled."""
    pieces: list[bytes] = []
    state = {"paused": 0}
    server: Server

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_RECEIVE:
            pieces.append(lws.payload(in_, len_))
            if not state["paused"]:
                state["paused"] = time.monotonic()
                assert lws.libwebsocket_rx_flow_control(wsi, 0) == 0
                server.call_later(RESUME_AFTER, lambda: lws.libwebsocket_rx_flow_control(wsi, 1))
        return 0

    server = serve([("p", cb, 0)])
    ws = RawWs.connect(server.port, timeout=20)
    big = os.urandom(3 * MIB)
    ws.sock.sendall(frame(0x2, big) + text("after"))
    wait_for(lambda: state["paused"], what="the first piece")
    time.sleep(RESUME_AFTER - 0.2)
    assert len(pieces) == 1, "pieces delivered while paused"
    wait_for(lambda: b"".join(pieces).endswith(b"after"), what="the rest")
    assert b"".join(pieces) == big + b"after"
    ws.close()


def test_flow_control_from_the_main_loop_through_the_binding(serve: Any) -> None:
    """rx_flow_control between two service calls; enable takes any truthy value."""
    wsis: list[Any] = []
    got: list[bytes] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_ESTABLISHED:
            wsis.append(wsi)
        elif reason == lws.LWS_CALLBACK_RECEIVE:
            got.append(lws.payload(in_, len_))
        return 0

    server = serve([("p", cb, 0)])
    ws = RawWs.connect(server.port)
    wait_for(lambda: wsis)
    assert server.call(lambda: lws.libwebsocket_rx_flow_control(wsis[0], False)) == 0
    ws.sock.sendall(b"".join(text(m) for m in msgs(0, 30)))
    time.sleep(0.3)
    assert got == []
    assert server.call(lambda: lws.libwebsocket_rx_flow_control(wsis[0], 2)) == 0
    wait_for(lambda: len(got) == 30)
    assert got == [m.encode() for m in msgs(0, 30)]
    ws.close()

"""The server services: libwebsocket_callback_on_writable_all_protocol.

Run as ``[python]`` and ``[c]`` where both implement it; the harness and
what the two are: tests/support/services.py.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from typing import Any

import pytest
from support.net import wait_for
from support.raw import LOCAL, MIB, RawWs, text
from support.services import (
    RESUME_AFTER,
    Callback,
    PyServices,
    connect_mix,
    http_get,
    is_open,
    msgs,
    read_response,
    rss,
)

import pylws_ffi as lws
from pylws_ffi import ffi

# ============================================== 3. callback_on_writable_all_protocol


def test_flow_paused_while_the_client_keeps_sending_holds_it_in_the_kernel_loses_nothing(
    services: Any,
) -> None:
    t = services()
    ws, fd = t.connect("svc-a")
    payloads = [b"%06d" % i + b"." * 1018 for i in range(8000)]  # 8 MiB of 1 KiB messages
    stream = text("pause") + b"".join(text(p) for p in payloads)
    baseline = rss(t.pid)
    # push what the kernel takes for 0.3 s, the server paused all along
    ws.sock.setblocking(False)
    t0 = time.monotonic()
    sent, until = 0, t0 + 0.3
    while sent < len(stream) and time.monotonic() < until:
        try:
            sent += ws.sock.send(stream[sent : sent + 65536])
        except BlockingIOError:
            time.sleep(0.005)
    grew = rss(t.pid) - baseline
    ws.sock.settimeout(10)
    assert ws.next_text() == "paused"
    assert sent > 256 * 1024, "the kernel took too little to test anything"
    assert grew < 8 * MIB, f"the paused server grew by {grew / MIB:.1f} MiB"
    # the rest goes while the echoes are read
    rest = threading.Thread(target=ws.sock.sendall, args=(stream[sent:],), daemon=True)
    rest.start()
    first = ws.next_frame()
    assert time.monotonic() - t0 >= RESUME_AFTER - 0.1, "an echo came while paused"
    t.wait_line(rf"resumed {fd} 0")
    # a message split across two reads comes back as two pieces: compare the bytes
    echoed, want = bytearray(first[1]), b"".join(payloads)
    while len(echoed) < len(want):
        f = ws.next_frame()
        assert f[0] == 0x81, hex(f[0])
        echoed += f[1]
    rest.join(10)
    if echoed != want:
        at = next(i for i in range(len(want)) if echoed[i] != want[i])
        raise AssertionError(f"lost or out of order from message {at // 1024}")
    ws.close()


@pytest.mark.parametrize("end", ["hangup", "destroy"])
def test_flow_paused_connection_with_held_messages_can_be_ended(services: Any, end: str) -> None:
    """Hung up, or the context destroyed, while messages wait in the paused
    connection's buffer: CLOSED once, nothing delivered, nothing leaked (the
    [c] helper exits under LeakSanitizer)."""
    t = services()
    ws, fd = t.connect("svc-a")
    ws.sock.sendall(text("pause") + b"".join(text(m) for m in msgs(0, 100)))
    assert ws.next_text() == "paused"
    if end == "hangup":
        t.command(f"hangup {fd}")
        assert ws.frames_until_eof() == []
        t.wait_line(rf"closed svc-a {fd}")
        time.sleep(RESUME_AFTER)
        assert t.matching(rf"resumed {fd} .*") == []
        assert len(t.matching(r"closed .*")) == 1
    else:
        if isinstance(t, PyServices):
            t.server.destroy()
        else:
            t.stop()
        frames = ws.frames_until_eof()
        assert all(f[0] == 0x88 for f in frames), frames  # a close frame at most
        assert len(t.matching(r"closed .*")) == 1
    ws.close()


def test_flow_disabled_and_enabled_from_the_main_loop(services: Any) -> None:
    t = services()
    ws, fd = t.connect("svc-a")
    t.command(f"flow {fd} 0")
    assert t.wait_line(rf"ok flow {fd} 0 (-?\d+)").group(1) == "0"
    ws.sock.sendall(b"".join(text(m) for m in msgs(0, 50)))
    assert ws.nothing_within(0.4), "delivered while disabled"
    t.command(f"flow {fd} 1")
    assert t.wait_line(rf"ok flow {fd} 1 (-?\d+)").group(1) == "0"
    assert ws.texts(50) == msgs(0, 50)
    ws.close()


def test_writable_all_protocol_gives_one_writeable_to_each_connection_of_it_only(
    services: Any,
) -> None:
    t = services()
    conns = connect_mix(t)
    # an HTTP keep-alive connection on protocols[0], idle after its answer
    idle = socket.create_connection((LOCAL, t.port), timeout=10)
    idle.sendall(http_get("/small.txt"))
    read_response(idle, bytearray())

    # from the main loop
    t.command("writable-all 1")
    assert t.wait_line(r"ok writable-all 1 (-?\d+)")
    for ws, _ in conns["svc-a"]:
        assert ws.next_text() == "writeable svc-a"
    # from inside a callback, asked twice in one read: still one each
    sender = conns["svc-b"][0][0]
    sender.sock.sendall(text("wall:2") + text("wall:2"))
    for ws, _ in conns["svc-b"]:
        assert ws.next_text() == "writeable svc-b"
    # protocols[0]: its WebSocket, not its HTTP connection
    t.command("writable-all 0")
    assert conns["http"][0][0].next_text() == "writeable http"

    for name, group in conns.items():
        for ws, _ in group:
            assert ws.nothing_within(0.05 if name == "svc-a" else 0.2), f"{name}: a second one"
    assert is_open(idle), "the HTTP connection got bytes or was closed"
    idle.sendall(http_get("/small.txt"))
    assert read_response(idle, bytearray())[2] == b"hello, file\n"
    t.wait_lines(r"writeable (\S+) \d+", 6)
    time.sleep(0.1)
    w = Counter(m.group(1) for m in t.matching(r"writeable (\S+) \d+"))
    assert w == Counter({"svc-a": 3, "svc-b": 2, "http": 1})
    for name, group in conns.items():
        for ws, fd in group:
            assert len(t.matching(rf"writeable {name} {fd}")) == 1
            ws.close()
    idle.close()


def test_writable_all_protocol_takes_any_form_of_the_protocol(serve: Any) -> None:
    got: list[tuple[str, int]] = []
    wsis: dict[str, Any] = {}

    def make(name: str) -> Callback:
        def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
            if reason == lws.LWS_CALLBACK_ESTABLISHED:
                wsis[name] = wsi
            elif reason == lws.LWS_CALLBACK_SERVER_WRITEABLE:
                got.append((name, time.monotonic()))
            return 0

        return cb

    server = serve([("http", make("http"), 0), ("a", make("a"), 0), ("b", make("b"), 0)])
    clients = [RawWs.connect(server.port, protocol=p) for p in ("a", "b")]
    wait_for(lambda: len(wsis) == 2)
    protocols = lws.lws_get_protocols(server.ctx)
    for form in (
        lambda: protocols[1],  # the array entry, like &protocols[1]
        lambda: protocols + 1,  # a pointer into the array
        lambda: lws.libwebsockets_get_protocol(wsis["a"]),  # what C gets back
    ):
        before = len(got)
        server.call(lambda f=form: lws.libwebsocket_callback_on_writable_all_protocol(f()))
        wait_for(lambda b=before: len(got) == b + 1)
        time.sleep(0.1)
        assert [g[0] for g in got[before:]] == ["a"]
    with pytest.raises(TypeError):
        lws.libwebsocket_callback_on_writable_all_protocol("a")
    with pytest.raises(TypeError):
        lws.libwebsocket_callback_on_writable_all_protocol(ffi.new("int *"))
    with pytest.raises(ValueError):
        lws.libwebsocket_callback_on_writable_all_protocol(
            ffi.cast("struct libwebsocket_protocols *", 0)
        )
    for c in clients:
        c.close()

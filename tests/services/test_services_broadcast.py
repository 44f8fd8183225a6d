"""The server services: libwebsockets_broadcast (in the service process, from a forked process,
libwebsockets_fork_service_loop).

Run as ``[python]`` and ``[c]`` where both implement it; the harness and
what the two are: tests/support/services.py.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from support.net import free_port, wait_for
from support.raw import LOCAL, RawWs
from support.services import Callback, Target, connect_mix, http_get, is_open, read_response

import pylws_ffi as lws
from pylws_ffi import ffi

# ================================================================== 4. broadcast


def test_broadcast_reaches_every_connection_of_that_protocol_only(services: Any) -> None:
    t = services()
    conns = connect_mix(t)
    a = [ws for ws, _ in conns["svc-a"]]
    others = [ws for ws, _ in conns["svc-b"] + conns["http"]]

    # from the main loop
    t.command("broadcast 1 hello-from-the-main-loop")
    assert t.wait_line(r"ok broadcast 1 (-?\d+)").group(1) == "0"
    for ws in a:
        assert ws.next_text() == "hello-from-the-main-loop"
    lines = t.wait_lines(r"broadcast (\S+) (\d+) (\d+)", 3)
    assert sorted((m.group(1), int(m.group(2)), int(m.group(3))) for m in lines) == sorted(
        ("svc-a", fd, 24) for _, fd in conns["svc-a"]
    )

    # from inside a callback of a connection of another protocol
    conns["svc-b"][0][0].send_text("bcast:1:from b, inside RECEIVE")
    for ws in a:
        assert ws.next_text() == "from b, inside RECEIVE"

    # from inside a callback, to its own protocol, 'in' itself as the buffer
    mirror = "mirror:1:" + "m" * 3000
    a[1].send_text(mirror)
    for ws in a:  # the sender too
        got = ""
        while len(got) < len(mirror):
            got += ws.next_text()
        assert got == mirror

    for ws in others:
        assert ws.nothing_within(0.1), "a connection of another protocol got a broadcast"
    assert {m.group(1) for m in t.matching(r"broadcast (\S+) \d+ \d+")} == {"svc-a"}

    # protocols[0]: its WebSocket gets it, an idle HTTP connection does not
    idle = socket.create_connection((LOCAL, t.port), timeout=10)
    idle.sendall(http_get("/small.txt"))
    read_response(idle, bytearray())
    t.command("broadcast 0 to-protocol-zero")
    assert conns["http"][0][0].next_text() == "to-protocol-zero"
    assert is_open(idle), "an HTTP connection got a broadcast, or was closed"
    idle.sendall(http_get("/small.txt"))
    assert read_response(idle, bytearray())[2] == b"hello, file\n"
    idle.close()
    for group in conns.values():
        for ws, _ in group:
            ws.close()


def test_broadcast_callback_hanging_up_the_other_connections(services: Any) -> None:
    """The first BROADCAST callback hangs up the other connections of its
    protocol, before the broadcast reaches them: they get no BROADCAST and
    CLOSED once; another protocol's connection is untouched."""
    t = services()
    clients = [t.connect("svc-a") for _ in range(5)]
    bystander, _ = t.connect("svc-b")
    t.command("broadcast-hangup 1 last-words")
    assert t.wait_line(r"ok broadcast-hangup 1 (-?\d+)").group(1) == "0"
    first = t.wait_line(r"broadcast svc-a (\d+) 10")
    for ws, fd in clients:
        if str(fd) == first.group(1):
            assert ws.next_text() == "last-words"
            assert ws.nothing_within(0.2)
        else:
            frames = ws.frames_until_eof()
            assert frames in ([], [(0x81, b"last-words")]), frames
            t.wait_line(rf"closed svc-a {fd}")
    time.sleep(0.2)
    broadcast_fds = [m.group(1) for m in t.matching(r"broadcast svc-a (\d+) \d+")]
    assert broadcast_fds == [first.group(1)], "BROADCAST for a connection hung up before it"
    assert len(t.matching(r"closed .*")) == 4
    bystander.send_text("fine")
    assert bystander.next_text() == "fine"
    for ws, _ in clients:
        ws.close()
    bystander.close()


def test_broadcast_with_no_connections_and_bad_arguments(serve: Any) -> None:
    calls: list[int] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_BROADCAST:
            calls.append(reason)
        return 0

    server = serve([("http", cb, 0), ("a", cb, 0)])
    protocols = lws.lws_get_protocols(server.ctx)
    assert server.call(lambda: lws.libwebsockets_broadcast(protocols[1], b"nobody", 6)) == 0
    assert calls == []
    with pytest.raises(ValueError):
        lws.libwebsockets_broadcast(protocols[1], b"short", 99)
    with pytest.raises(TypeError):
        lws.libwebsockets_broadcast("a", b"x", 1)


def _fork_messages(n: int) -> list[bytes]:
    return [b"fork %d " % i + bytes([97 + i % 26]) * ((i * 397) % 3000) for i in range(n)]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork with threads (3.12+)
def test_broadcast_from_an_os_fork_child_reaches_every_client_in_order(serve: Any) -> None:
    seen: list[tuple[str, int]] = []

    def make(name: str) -> Callback:
        def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
            if reason == lws.LWS_CALLBACK_BROADCAST:
                seen.append((name, len_))
                n = lws.libwebsocket_write(
                    wsi, ffi.cast("unsigned char *", in_), len_, lws.LWS_WRITE_TEXT
                )
                return 0 if n == len_ else -1
            return 0

        return cb

    server = serve([("http", make("http"), 0), ("a", make("a"), 0), ("b", make("b"), 0)])
    a = [RawWs.connect(server.port, protocol="a") for _ in range(3)]
    b = RawWs.connect(server.port, protocol="b")
    wait_for(lambda: server.established == Counter(a=3, b=1))
    protocols = lws.lws_get_protocols(server.ctx)
    messages = _fork_messages(60)
    # larger than a datagram can hold: they travel as a memfd, still in order
    messages[20:20] = [b"L" * 300_000]
    messages.append(b"0123456789abcdef" * (2 * 65536))

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: broadcast, report, and leave at once
        try:
            os.close(read_end)
            rcs = [lws.libwebsockets_broadcast(protocols[1], m, len(m)) for m in messages]
            os.write(write_end, repr(rcs).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as f:
            rcs = eval(f.read().decode())  # noqa: S307 - our own child's list of ints
    finally:
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert rcs == [0] * len(messages)
    for ws in a:
        got = [ws.next_frame() for _ in messages]
        assert got == [(0x81, m) for m in messages]
    assert b.nothing_within(0.2)
    assert Counter(name for name, _ in seen) == Counter(a=3 * len(messages))
    for ws in [*a, b]:
        ws.close()


FORK_SERVICE_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import pylws_ffi as lws
    from pylws_ffi import ffi

    port, count = int(sys.argv[1]), int(sys.argv[2])

    def cb(ctx, wsi, reason, user, in_, len_):
        if reason == lws.LWS_CALLBACK_ESTABLISHED:
            name = ffi.string(lws.libwebsockets_get_protocol(wsi).name).decode()
            print("established", name, os.getpid(), flush=True)
        elif reason == lws.LWS_CALLBACK_BROADCAST:
            n = lws.libwebsocket_write(wsi, ffi.cast("unsigned char *", in_), len_,
                                       lws.LWS_WRITE_TEXT)
            return 0 if n == len_ else -1
        return 0

    ctx = lws.libwebsocket_create_context(
        port, "127.0.0.1", [("http", cb, 0), ("svc-a", cb, 0), ("svc-b", cb, 0)])
    protocols = lws.lws_get_protocols(ctx)
    sys.stdout.flush()
    assert lws.libwebsockets_fork_service_loop(ctx) == 0
    print("ready", os.getpid(), flush=True)
    for line in sys.stdin:
        if line.startswith("go"):
            p = int(line.split()[1])
            msgs = [b"fork %d " % i + bytes([97 + i % 26]) * ((i * 397) % 3000)
                    for i in range(count)]
            fails = sum(lws.libwebsockets_broadcast(protocols[p], m, len(m)) != 0
                        for m in msgs)
            print("sent", p, count, fails, flush=True)
        elif line.startswith("quit"):
            break
    lws.libwebsocket_context_destroy(ctx)
    print("destroyed", flush=True)
    """
)


class PyForkService(Target):
    """FORK_SERVICE_SCRIPT in a fresh interpreter (single-threaded when it forks)."""

    def __init__(self, tmp_path: Path, count: int) -> None:
        super().__init__()
        script = tmp_path / "fork_service.py"
        script.write_text(FORK_SERVICE_SCRIPT)
        self.port = free_port()
        self._err = open(tmp_path / "fork_service.err", "w+b")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(self.port), str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            cwd=tmp_path,  # not the checkout: the installed package
        )
        self.pid = self.proc.pid
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self._emit(raw.decode(errors="replace").rstrip("\n"))

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def stop(self) -> str:
        if self.proc.poll() is None:
            try:
                self.command("quit")
                self.proc.wait(20)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)
        self._err.seek(0)
        return self._err.read().decode(errors="replace")


@pytest.mark.parametrize("impl", ["python", "c"])
def test_fork_service_loop_and_broadcasts_from_the_caller_reach_every_client_in_order(
    impl: str, c_helper: Any, tmp_path: Path
) -> None:
    count = 80
    if impl == "c":
        t: Any = c_helper("broadcast-fork", str(count))
    else:
        t = PyForkService(tmp_path, count)
    try:
        t.wait_line(r"ready \d+", timeout=30)
        a = [RawWs.connect(t.port, protocol="svc-a") for _ in range(3)]
        b = [RawWs.connect(t.port, protocol="svc-b") for _ in range(2)]
        # the connections are served by the forked child, not by the caller
        est = t.wait_lines(r"established svc-[ab] (\d+)", 5)
        if impl == "python":  # the lines name the process that served them
            assert t.pid not in {int(m.group(1)) for m in est}
        expect = _fork_messages(count)
        t.command("go 1")
        assert t.wait_line(r"sent 1 (\d+) (\d+)").groups() == (str(count), "0")
        for ws in a:
            assert [ws.next_frame() for _ in range(count)] == [(0x81, m) for m in expect]
        for ws in b:
            assert ws.nothing_within(0.1), "svc-b got svc-a's broadcast"
        t.command("go 2")
        assert t.wait_line(r"sent 2 (\d+) (\d+)").groups() == (str(count), "0")
        for ws in b:
            assert [ws.next_frame() for _ in range(count)] == [(0x81, m) for m in expect]
        for ws in a:
            assert ws.nothing_within(0.1)
        for ws in a + b:
            ws.close()
    finally:
        if impl == "python":
            err = t.stop()
            assert t.proc.returncode == 0, err
            assert "destroyed" in t.lines, (t.lines, err)
    if impl == "c":
        t.stop()
        # the caller's destroy stopped the serving child: nothing listens now
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((LOCAL, t.port), timeout=5).close()

"""Scripted attacks on the echo servers (the sanitized C build and the Python
one), over ws:// and wss://, and the context-wide limits that contain them
(enum lws_limit: LWS_LIMIT_MAX_CONNECTIONS, OUTPUT_TOTAL, OUTPUT_STALL_SECS,
KEEPALIVE_IDLE_SECS / KEEPALIVE_PONG_SECS).

Every attack runs for a few seconds at most while a well-behaved canary (the
``websockets`` client) is connected: the canary must keep getting its echo
within CANARY_BOUND, and the server's memory must stay within a bound.  Each
test prints its figures (server CPU, RSS, time to close, canary latency) on a
line starting with "FIGURES" (``pytest -s`` shows them).

(Decompression bombs, pipelined HTTP and EMFILE at accept have their own
tests elsewhere.)
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from servers import ROOT, Server, asan_build
from support.net import free_port
from test_hostile import GOOD_KEY, http_status, upgrade_request
from websockets.sync.client import connect

MiB = 1024 * 1024
CANARY_BOUND = 2.0  # seconds an echo may take during an attack
KINDS = ["c", "python"]
# small ASan quarantine: freed blocks must count as freed in RSS
ASAN_RSS = "quarantine_size_mb=1:malloc_context_size=5"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---- measuring the server ----


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field}")


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Canary:
    """A well-behaved client (websockets) connected before the attack."""

    def __init__(self, url: str, ssl_ctx: ssl.SSLContext | None = None) -> None:
        self._cm = connect(url, compression=None, open_timeout=5, ping_interval=None, ssl=ssl_ctx)
        self.ws = self._cm.__enter__()
        self.worst = 0.0

    def echo(self) -> float:
        msg = os.urandom(32)
        started = time.monotonic()
        self.ws.send(msg)
        assert self.ws.recv(timeout=10) == msg
        took = time.monotonic() - started
        self.worst = max(self.worst, took)
        assert took < CANARY_BOUND, f"canary echo took {took:.2f} s"
        return took

    def close(self) -> None:
        self._cm.__exit__(None, None, None)


def start(kind: str, *args: str, tls: Any = None, prefix: list[str] | None = None) -> Server:
    """The echo example on 127.0.0.1 (wss:// with the test CA's certificate
    when tls is given), run under ``prefix`` (e.g. prlimit: same PID)."""
    port = free_port()
    env = dict(os.environ)
    if kind == "c":
        argv = [str(asan_build() / "echo_server")]
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=99:" + ASAN_RSS
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:exitcode=98"
    else:
        argv = [sys.executable, str(ROOT / "examples" / "echo_server.py")]
    argv += ["--port", str(port), "--interface", "127.0.0.1", *args]
    if tls:
        argv += ["--cert", tls.server.cert, "--key", tls.server.key]
    server = Server(kind, (prefix or []) + argv, port, env)
    if tls:
        server.url = f"wss://127.0.0.1:{port}"
    return server


@pytest.fixture
def stopper() -> Iterator[list[Server]]:
    """Servers to stop (and check for sanitizer reports) after the test."""
    servers: list[Server] = []
    yield servers
    for s in servers:
        s.stop()


def figures(name: str, **values: Any) -> None:
    parts = [f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()]
    print(f"\nFIGURES {name}: " + " ".join(parts))


# ---- raw WebSocket clients ----


def ws_handshake(s: socket.socket, extra: str = "") -> bytes:
    s.sendall(upgrade_request(GOOD_KEY, extra=extra))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        assert chunk, "closed during the handshake"
        head += chunk
    assert http_status(head) == 101, head
    return head.split(b"\r\n\r\n", 1)[1]


def open_ws(port: int, rcvbuf: int = 0, sndbuf: int = 0, extra: str = "") -> socket.socket:
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if sndbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    ws_handshake(s, extra)
    return s


def zero_masked(opcode: int, payload: bytes) -> bytes:
    """A client frame masked with 00 00 00 00 (legal; payload unchanged)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + b"\0\0\0\0" + payload


def closed_by_server(s: socket.socket) -> bool:
    """Without blocking: has the server closed s (EOF or reset)?  Reads and
    drops what arrived."""
    while True:
        r, _, _ = select.select([s], [], [], 0)
        if not r:
            return False
        try:
            if not s.recv(65536):
                return True
        except (ConnectionResetError, ssl.SSLError, OSError):
            return True


def wait_closed(socks: list[Any], limit: float, canary: Canary | None = None) -> list[float]:
    """Seconds until each socket was closed by the server (inf: not within limit)."""
    started = time.monotonic()
    closed_at = [float("inf")] * len(socks)
    last_echo = 0.0
    while time.monotonic() - started < limit and float("inf") in closed_at:
        for i, s in enumerate(socks):
            if closed_at[i] == float("inf") and closed_by_server(s):
                closed_at[i] = time.monotonic() - started
        if canary and time.monotonic() - last_echo > 0.5:
            canary.echo()
            last_echo = time.monotonic()
        time.sleep(0.05)
    return closed_at


# ---- slowloris ----


@pytest.mark.parametrize("kind", KINDS)
def test_slowloris_before_handshake(kind, stopper):
    """Connections that dribble a request head are cut by the handshake
    timeout (408), whatever they send meanwhile."""
    server = start(kind, "--handshake-timeout", "2")
    stopper.append(server)
    canary = Canary(server.url)
    cpu0 = cpu_s(server.proc.pid)
    request = upgrade_request(GOOD_KEY)
    socks = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(50)]
    started = time.monotonic()
    closed_at = [float("inf")] * len(socks)
    sent = 0
    while time.monotonic() - started < 5 and float("inf") in closed_at:
        for i, s in enumerate(socks):
            if closed_at[i] != float("inf"):
                continue
            if closed_by_server(s):
                closed_at[i] = time.monotonic() - started
            elif sent < len(request) - 4:
                try:
                    s.send(request[sent : sent + 1])
                except OSError:
                    closed_at[i] = time.monotonic() - started
        sent += 1
        canary.echo()
        time.sleep(0.2)
    figures(
        f"{kind} slowloris-before-handshake x50",
        time_to_close_max=max(closed_at),
        canary_worst=canary.worst,
        cpu=cpu_s(server.proc.pid) - cpu0,
        rss_mib=rss_mib(server.proc.pid),
    )
    assert max(closed_at) < 4.0
    canary.echo()
    canary.close()
    for s in socks:
        s.close()


def slowloris_after_handshake(port: int, n: int) -> list[socket.socket]:
    """n WebSocket connections that send 2 bytes of a frame header and stop."""
    socks = [open_ws(port) for _ in range(n)]
    for s in socks:
        s.sendall(b"\x81\xfe")  # a text frame with a 16-bit length... that never comes
    return socks


@pytest.mark.parametrize("kind", KINDS)
def test_slowloris_after_handshake_keepalive(kind, stopper):
    """With LWS_LIMIT_KEEPALIVE_IDLE_SECS: a connection that goes silent is
    pinged, and closed (1011 "keepalive timeout") when no frame answers;
    the canary answers the pings and stays."""
    server = start(kind, "--limit", "keepalive-idle-secs=1", "--limit", "keepalive-pong-secs=1")
    stopper.append(server)
    canary = Canary(server.url)
    cpu0 = cpu_s(server.proc.pid)
    socks = slowloris_after_handshake(server.port, 20)
    # one of them: what the server sends is a ping, then a close 1011
    probe = socks[0]
    probe.settimeout(6)
    started = time.monotonic()
    seen = b""
    while True:
        try:
            chunk = probe.recv(4096)
        except ConnectionResetError:
            break
        if not chunk:
            break
        seen += chunk
    assert seen.startswith(b"\x89\x09keepalive"), seen[:40]
    assert b"\x88\x13\x03\xf3keepalive timeout" in seen, seen
    closed_at = wait_closed(socks[1:], 6, canary)
    worst = max(max(closed_at), time.monotonic() - started)
    figures(
        f"{kind} slowloris-after-handshake keepalive=1+1s x20",
        time_to_close_max=worst,
        canary_worst=canary.worst,
        cpu=cpu_s(server.proc.pid) - cpu0,
        rss_mib=rss_mib(server.proc.pid),
    )
    # idle 1 s + pong 1 s, checked once a second
    assert worst < 4.5
    canary.echo()  # answered the server's pings meanwhile: still open
    canary.close()


@pytest.mark.parametrize("kind", KINDS)
def test_slowloris_after_handshake_classic(kind, stopper):
    """Without the keepalive (the default, as in the classic API) a silent
    established connection is kept: documented behaviour, bounded by
    LWS_LIMIT_MAX_CONNECTIONS."""
    server = start(kind)
    stopper.append(server)
    canary = Canary(server.url)
    socks = slowloris_after_handshake(server.port, 5)
    time.sleep(3)
    assert not any(closed_by_server(s) for s in socks)
    canary.echo()
    canary.close()
    for s in socks:
        s.close()


# ---- slow readers ----


def slow_reader(port: int, deadline: float, out: list[tuple[socket.socket, int, float]]) -> None:
    """Send 1 MiB messages and never read, until the server stops reading:
    (socket, bytes sent, when it got stuck) goes to out."""
    s = open_ws(port, rcvbuf=32 * 1024, sndbuf=64 * 1024)
    msg = zero_masked(2, b"m" * MiB)
    s.settimeout(0.5)
    total = 0
    try:
        while time.monotonic() < deadline:
            s.sendall(msg)
            total += len(msg)
    except (socket.timeout, OSError):
        pass
    out.append((s, total, time.monotonic() - 0.5))


@pytest.mark.parametrize("kind", KINDS)
def test_slow_readers_memory_bounded(kind, stopper):
    """16 clients send 1 MiB messages to the echo server and never read its
    echoes.  Each would hold 4 MiB (LWS_LIMIT_OUTPUT_PAUSE) of queued output
    (64 MiB): LWS_LIMIT_OUTPUT_TOTAL=16 MiB stops reading them all once 16 MiB
    are queued; LWS_LIMIT_OUTPUT_STALL_SECS=3 then cuts the ones that took
    nothing for 3 s.  The canary is served throughout."""
    server = start(kind, "--limit", f"output-total={16 * MiB}", "--limit", "output-stall-secs=3")
    stopper.append(server)
    pid = server.proc.pid
    canary = Canary(server.url)
    canary.echo()
    rss0, fds0, cpu0 = rss_mib(pid), open_fds(pid), cpu_s(pid)
    readers: list[tuple[socket.socket, int, float]] = []
    started = time.monotonic()
    deadline = started + 4
    threads = [
        threading.Thread(target=slow_reader, args=(server.port, deadline, readers))
        for _ in range(16)
    ]
    for t in threads:
        t.start()
    rss_peak, first_cut = rss0, None
    while True:
        rss_peak = max(rss_peak, rss_mib(pid))
        fds = open_fds(pid)
        if first_cut is None and readers and fds < fds0 + len(readers):
            first_cut = time.monotonic() - started
        if not any(t.is_alive() for t in threads) and (
            fds <= fds0 or time.monotonic() - started > 12
        ):
            break
        canary.echo()
        time.sleep(0.1)
    for t in threads:
        t.join()
    last_stuck = max(r[2] for r in readers)
    time_to_close = time.monotonic() - last_stuck
    sent = sum(r[1] for r in readers)
    figures(
        f"{kind} slow-readers x16 1MiB output-total=16MiB stall=3s",
        sent_mib=sent / MiB,
        rss0_mib=rss0,
        rss_peak_mib=rss_peak,
        rss_growth_mib=rss_peak - rss0,
        first_cut_after_start=first_cut,
        all_cut_after_last_stuck=time_to_close,
        cpu=cpu_s(pid) - cpu0,
        canary_worst=canary.worst,
    )
    assert sent > 32 * MiB  # the attack really filled the queues
    # 16 MiB queued, what one turn of the loop reads past it, allocator slack
    assert rss_peak - rss0 < 40, f"server grew by {rss_peak - rss0:.1f} MiB"
    assert open_fds(pid) <= fds0, "slow readers not cut by LWS_LIMIT_OUTPUT_STALL_SECS"
    # no queue can have waited 3 s before 3 s passed; all cut 3 s (+ the
    # once-a-second check) after the last one stopped moving at the latest
    assert first_cut is not None and first_cut > 2.9
    assert time_to_close < 5.5
    canary.echo()
    canary.close()
    for r in readers:
        r[0].close()


# ---- connection floods ----


def flood(port: int, n: int) -> tuple[list[socket.socket], dict[str, int], float]:
    """n connections asking for an upgrade at once: how each is answered."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            s.connect(("127.0.0.1", port))
        socks.append(s)
    time.sleep(0.05)
    request = upgrade_request(GOOD_KEY)
    for s in socks:
        with contextlib.suppress(OSError):
            s.send(request)
    answers = {"101": 0, "503": 0, "closed": 0, "none": 0}
    pending = {s: b"" for s in socks}
    started = time.monotonic()
    slowest = 0.0
    while pending and time.monotonic() - started < 3:
        r, _, _ = select.select(list(pending), [], [], 0.1)
        for s in r:
            try:
                chunk = s.recv(4096)
            except OSError:
                chunk = b""
            if chunk:
                pending[s] += chunk
                if b"\r\n\r\n" not in pending[s]:
                    continue
                answers[str(http_status(pending[s]))] += 1
            else:
                answers["closed"] += 1
            slowest = time.monotonic() - started
            del pending[s]
    answers["none"] = len(pending)
    return socks, answers, slowest


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("how", ["explicit-40", "rlimit-nofile-256"])
def test_connection_flood(kind, how, stopper):
    """More connections than LWS_LIMIT_MAX_CONNECTIONS (set to 40, or by
    default the descriptor limit less 32): the surplus is answered 503 (or
    closed) at once, the server does not spin, the connections it holds and
    the canary are served, and once they go new ones are accepted."""
    if how == "explicit-40":
        server, limit, n = start(kind, "--limit", "max-connections=40"), 40, 120
    else:
        server = start(kind, prefix=["prlimit", "--nofile=256:256", "--"])
        limit, n = 256 - 32, 400
    stopper.append(server)
    pid = server.proc.pid
    canary = Canary(server.url)
    rss0, cpu0 = rss_mib(pid), cpu_s(pid)
    started = time.monotonic()
    socks, answers, slowest = flood(server.port, n)
    flood_time = time.monotonic() - started
    latency = canary.echo()
    cpu1 = cpu_s(pid)
    time.sleep(1)  # the flood holds its connections: the server must idle
    idle_cpu = cpu_s(pid) - cpu1
    canary.echo()
    figures(
        f"{kind} connection-flood {how} x{n}",
        answers=answers,
        slowest_answer=slowest,
        flood_s=flood_time,
        cpu_flood=cpu1 - cpu0,
        cpu_idle_1s=idle_cpu,
        rss_growth_mib=rss_mib(pid) - rss0,
        canary=latency,
    )
    assert answers["101"] == limit - 1  # the canary holds one
    assert answers["503"] + answers["closed"] == n - limit + 1
    assert answers["none"] == 0
    assert idle_cpu < 0.3
    for s in socks:
        s.close()
    # the slots are free again
    deadline = time.monotonic() + 5
    while True:
        try:
            fresh = Canary(server.url)
            break
        except Exception:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    fresh.echo()
    fresh.close()
    canary.echo()
    canary.close()


# ---- ping floods ----


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("compression", [None, "permessage-deflate"])
def test_ping_flood(kind, compression, stopper):
    """Pings as fast as a client can send them for 2 s, their pongs read only
    afterwards: the canary is served, memory stays bounded by the output
    limits, every ping that was read gets its pong."""
    server = start(kind)
    stopper.append(server)
    pid = server.proc.pid
    canary = Canary(server.url)
    rss0, cpu0 = rss_mib(pid), cpu_s(pid)
    extra = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if compression else ""
    s = open_ws(server.port, extra=extra)
    ping = zero_masked(9, b"p" * 125)
    burst = ping * 512
    s.settimeout(0.2)
    sent = 0
    deadline = time.monotonic() + 2
    last_echo = 0.0
    while time.monotonic() < deadline:
        try:
            s.sendall(burst)
            sent += 512
        except socket.timeout:
            pass  # the server stopped reading: its pongs wait for us
        if time.monotonic() - last_echo > 0.25:
            canary.echo()
            last_echo = time.monotonic()
    rss_flood = rss_mib(pid)
    cpu_flood = cpu_s(pid) - cpu0
    # now read the pongs (the ping bytes a timed-out sendall left half-sent
    # may cut the last one short)
    pong = b"\x8a\x7d" + b"p" * 125
    got = 0
    s.settimeout(1)
    try:
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            got += len(chunk)
    except socket.timeout:
        pass
    figures(
        f"{kind} ping-flood {compression or 'plain'} 2s",
        pings_sent=sent,
        pongs_read=got // len(pong),
        rss_flood_mib=rss_flood,
        rss_growth_mib=rss_flood - rss0,
        cpu=cpu_flood,
        canary_worst=canary.worst,
    )
    assert got // len(pong) >= sent - 512
    assert rss_flood - rss0 < 40
    canary.echo()
    canary.close()
    s.close()


# ---- TLS ----


@pytest.fixture
def tls_echo(request, tls_certs, stopper):
    server = start(request.param, "--handshake-timeout", "3", tls=tls_certs)
    stopper.append(server)
    return server


def tls_canary(server: Server, tls_certs: Any) -> Canary:
    return Canary(server.url, tls_certs.client_context())


@pytest.mark.parametrize("tls_echo", KINDS, indirect=True)
def test_tls_garbage_before_handshake(tls_echo, tls_certs):
    """Random bytes, or a plain HTTP request, on the TLS port: dropped at once."""
    canary = tls_canary(tls_echo, tls_certs)
    socks = []
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", tls_echo.port), timeout=5)
        s.sendall(os.urandom(4096) if i % 2 else upgrade_request(GOOD_KEY))
        socks.append(s)
    closed_at = wait_closed(socks, 5, canary)
    figures(
        f"{tls_echo.kind} tls-garbage-before-handshake x20",
        time_to_close_max=max(closed_at),
        canary_worst=canary.worst,
        rss_mib=rss_mib(tls_echo.proc.pid),
    )
    assert max(closed_at) < 2.0  # at once (polled every 50 ms), with slack for a busy host
    canary.echo()
    canary.close()


def tls_client(port: int, tls_certs: Any) -> ssl.SSLSocket:
    ctx = tls_certs.client_context()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return ctx.wrap_socket(s, server_hostname="localhost")


@pytest.mark.parametrize("tls_echo", KINDS, indirect=True)
@pytest.mark.parametrize("when", ["after-tls", "after-upgrade"])
def test_tls_garbage_after_handshake(tls_echo, tls_certs, when):
    """Bytes that are no TLS record after the TLS handshake (and after the
    WebSocket upgrade inside it): the connection is dropped at once."""
    canary = tls_canary(tls_echo, tls_certs)
    socks = []
    for _ in range(10):
        t = tls_client(tls_echo.port, tls_certs)
        if when == "after-upgrade":
            ws_handshake(t)
        raw = socket.socket(fileno=os.dup(t.fileno()))
        raw.sendall(os.urandom(2048))
        socks.append(raw)
        t.detach()  # the raw socket owns the descriptor
    closed_at = wait_closed(socks, 5, canary)
    figures(
        f"{tls_echo.kind} tls-garbage-{when} x10",
        time_to_close_max=max(closed_at),
        canary_worst=canary.worst,
        rss_mib=rss_mib(tls_echo.proc.pid),
    )
    assert max(closed_at) < 2.0  # at once (polled every 50 ms), with slack for a busy host
    canary.echo()
    canary.close()
    for s in socks:
        s.close()


@pytest.mark.parametrize("tls_echo", KINDS, indirect=True)
def test_tls_half_finished_handshake(tls_echo, tls_certs):
    """A ClientHello and nothing more, or a TCP connection that sends
    nothing: cut by the handshake timeout (3 s here: the canary, an ASan
    server's TLS handshake on a busy host, must fit in it too)."""
    canary = tls_canary(tls_echo, tls_certs)
    socks = []
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", tls_echo.port), timeout=5)
        if i % 2:
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            obj = tls_certs.client_context().wrap_bio(
                incoming, outgoing, server_hostname="localhost"
            )
            with pytest.raises(ssl.SSLWantReadError):
                obj.do_handshake()
            s.sendall(outgoing.read())  # the ClientHello
        socks.append(s)
    closed_at = wait_closed(socks, 8, canary)
    figures(
        f"{tls_echo.kind} tls-half-handshake x20 timeout=3s",
        time_to_close_max=max(closed_at),
        canary_worst=canary.worst,
        rss_mib=rss_mib(tls_echo.proc.pid),
    )
    assert 2.5 < max(closed_at) < 6.0
    canary.echo()
    canary.close()
    for s in socks:
        s.close()


@pytest.mark.parametrize("tls_echo", KINDS, indirect=True)
def test_tls_renegotiation_refused(tls_echo, tls_certs):
    """A TLS 1.2 client asking for renegotiation ('R' to openssl s_client;
    Python's ssl module cannot): the server refuses it (SSL_OP_NO_RENEGOTIATION)
    and is not kept busy; the canary is served."""
    canary = tls_canary(tls_echo, tls_certs)
    pid = tls_echo.proc.pid
    cpu0 = cpu_s(pid)
    clients = []
    for _ in range(5):
        p = subprocess.Popen(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{tls_echo.port}", "-tls1_2",
             "-CAfile", tls_certs.ca.cert, "-servername", "localhost"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        clients.append(p)
    time.sleep(0.5)
    for p in clients:
        assert p.stdin is not None
        for _ in range(20):
            p.stdin.write(b"R\n")
        p.stdin.flush()
    time.sleep(1)
    canary.echo()
    outputs = []
    for p in clients:
        try:
            out, _ = p.communicate(timeout=3)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        outputs.append(out.decode(errors="replace"))
    cpu = cpu_s(pid) - cpu0
    refused = sum("RENEGOTIATING" in o and "no renegotiation" in o.lower() for o in outputs)
    figures(
        f"{tls_echo.kind} tls-renegotiation x5x20",
        refused=refused,
        cpu=cpu,
        canary_worst=canary.worst,
        rss_mib=rss_mib(pid),
    )
    assert all("RENEGOTIATING" in o for o in outputs), outputs[0][-2000:]
    assert refused == len(clients), outputs[0][-2000:]
    assert cpu < 1.0
    canary.echo()
    canary.close()


# ---- the API ----


def test_limits_api_defaults_and_errors():
    """lws_context_set_limit / get_limit: the documented defaults, a round
    trip, and ValueError / TypeError for what the C side refuses."""
    import resource

    import pylws_ffi as lws

    ctx = lws.libwebsocket_create_context(0, None, [("x", lambda *a: 0, 0)], None)
    try:
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        expected = {
            lws.LWS_LIMIT_MAX_CONNECTIONS: 0 if nofile == resource.RLIM_INFINITY else nofile - 32,
            lws.LWS_LIMIT_OUTPUT_TOTAL: 256 * MiB,
            lws.LWS_LIMIT_OUTPUT_PAUSE: 4 * MiB,
            lws.LWS_LIMIT_OUTPUT_MAX: 256 * MiB,
            lws.LWS_LIMIT_OUTPUT_STALL_SECS: 60,
            lws.LWS_LIMIT_KEEPALIVE_IDLE_SECS: 0,
            lws.LWS_LIMIT_KEEPALIVE_PONG_SECS: 10,
        }
        assert {k: lws.lws_context_get_limit(ctx, k) for k in expected} == expected
        for limit in expected:
            lws.lws_context_set_limit(ctx, limit, 7)
            assert lws.lws_context_get_limit(ctx, limit) == 7
        lws.lws_context_set_limit(ctx, lws.LWS_LIMIT_KEEPALIVE_IDLE_SECS, 0)  # off again
        bad = [
            (lws.LWS_LIMIT_OUTPUT_TOTAL, -1),
            (lws.LWS_LIMIT_KEEPALIVE_PONG_SECS, 0),
            (lws.LWS_LIMIT_KEEPALIVE_IDLE_SECS, 10**10),
            (lws.LWS_LIMIT_MAX_CONNECTIONS, 2**31),
            (lws.LWS_LIMIT_OUTPUT_MAX, 2**70),
            (lws.LWS_LIMIT_COUNT, 1),
            (-1, 1),
        ]
        for limit, value in bad:
            with pytest.raises(ValueError):
                lws.lws_context_set_limit(ctx, limit, value)
        with pytest.raises(ValueError):
            lws.lws_context_get_limit(ctx, 99)
        with pytest.raises(TypeError):
            lws.lws_context_set_limit(ctx, lws.LWS_LIMIT_OUTPUT_TOTAL, 1.5)
        with pytest.raises(TypeError):
            lws.lws_context_set_limit(ctx, "LWS_LIMIT_OUTPUT_TOTAL", 1)
        assert lws.lws_context_get_limit(ctx, lws.LWS_LIMIT_KEEPALIVE_PONG_SECS) == 7
    finally:
        lws.libwebsocket_context_destroy(ctx)
    with pytest.raises(ValueError):
        lws.lws_context_get_limit(ctx, lws.LWS_LIMIT_OUTPUT_TOTAL)  # destroyed


def test_aio_serve_limits(run):
    """pylws_ffi.aio.serve(limits=...): the keepalive closes a silent client
    (CLOSED reaches the handler as the end of its messages); a bad limit is
    a ValueError before anything listens."""
    import asyncio

    import pylws_ffi as lws
    from pylws_ffi import aio

    ended: list[float] = []

    async def handler(conn: Any) -> None:
        # the keepalive closes with 1011: async for raises, as in websockets
        with pytest.raises(aio.ConnectionClosedError):
            async for message in conn:
                await conn.send(message)
        ended.append(time.monotonic())

    async def main() -> None:
        port = free_port()
        with pytest.raises(ValueError):
            await aio.serve(handler, "127.0.0.1", port, limits={lws.LWS_LIMIT_OUTPUT_TOTAL: -5})
        limits = {lws.LWS_LIMIT_KEEPALIVE_IDLE_SECS: 1, lws.LWS_LIMIT_KEEPALIVE_PONG_SECS: 1}
        async with aio.serve(handler, "127.0.0.1", port, limits=limits) as server:
            ctx = server.context.context
            assert lws.lws_context_get_limit(ctx, lws.LWS_LIMIT_KEEPALIVE_IDLE_SECS) == 1
            loop = asyncio.get_running_loop()
            s = await loop.run_in_executor(None, open_ws, port)
            s.setblocking(False)
            started = time.monotonic()
            seen = b""
            while time.monotonic() - started < 5:
                try:
                    chunk = await loop.sock_recv(s, 4096)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                seen += chunk
            took = time.monotonic() - started
            s.close()
            assert seen.startswith(b"\x89\x09keepalive"), seen
            assert 1.5 < took < 4.5
            for _ in range(50):
                if ended:
                    break
                await asyncio.sleep(0.05)
            assert ended

    run(main())


def test_fan_out_to_slow_readers_cut_past_their_share():
    """A chat-like server writes every message to every connection (from the
    RECEIVE of another one, so not reading the slow ones does not help).
    Once LWS_LIMIT_OUTPUT_TOTAL is reached, a write that would grow a
    connection past its share fails and cuts it (CLOSED, and the reason in
    the log); the client that reads keeps being served."""
    from support.served import ThreadServer, capture_log

    import pylws_ffi as lws
    from pylws_ffi import ffi, lib

    conns: list[Any] = []
    partial: dict[Any, bytes] = {}
    closed: list[float] = []
    refused: list[int] = []
    configured: list[bool] = []

    def fan_out(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_ESTABLISHED:
            if not configured:  # on the loop's thread, as the API wants
                lws.lws_context_set_limit(context, lws.LWS_LIMIT_OUTPUT_TOTAL, 4 * MiB)
                configured.append(True)
            conns.append(wsi)
        elif reason == lws.LWS_CALLBACK_CLOSED:
            conns.remove(wsi)
            closed.append(time.monotonic())
        elif reason == lws.LWS_CALLBACK_RECEIVE:
            partial[wsi] = partial.get(wsi, b"") + ffi.buffer(in_, len_)[:]
            if not lib.libwebsocket_is_final_fragment(wsi):
                return 0
            data = ffi.from_buffer(partial.pop(wsi))
            for w in list(conns):
                if lib.lws_write_unpadded(w, data, len(data), lws.LWS_WRITE_BINARY) < 0:
                    refused.append(1)
        return 0

    with capture_log() as log:
        server = ThreadServer([("fan", fan_out, 0)], None)
        try:
            url = f"ws://127.0.0.1:{server.port}"
            canary = Canary(url)
            slow = [open_ws(server.port, rcvbuf=32 * 1024) for _ in range(6)]
            message = os.urandom(64 * 1024)
            started = time.monotonic()
            sent = 0
            while len(closed) < 6 and time.monotonic() - started < 8:
                t0 = time.monotonic()
                canary.ws.send(message)
                assert canary.ws.recv(timeout=10) == message
                canary.worst = max(canary.worst, time.monotonic() - t0)
                sent += 1
            took = time.monotonic() - started
            figures(
                "inproc fan-out x6 slow readers output-total=4MiB",
                messages=sent,
                sent_mib=sent * len(message) / MiB,
                cut=len(closed),
                refused_writes=len(refused),
                time_to_cut_all=took,
                canary_worst=canary.worst,
            )
            assert len(closed) == 6, f"{len(closed)} of 6 slow readers cut after {sent} messages"
            # at 4 MiB queued, not at LWS_LIMIT_OUTPUT_MAX (256 MiB each)
            assert sent * len(message) < 64 * MiB and took < 2.0
            assert refused
            assert "holds more than its share" in log.text()
            canary.ws.send(message)
            assert canary.ws.recv(timeout=5) == message
            canary.close()
            for s in slow:
                s.close()
        finally:
            server.close()


def test_keepalive_spares_a_connection_the_server_does_not_read():
    """A connection whose reception the program paused
    (libwebsocket_rx_flow_control(wsi, 0)) is not pinged nor closed by the
    keepalive: its peer's silence is ours."""
    from support.served import ThreadServer

    import pylws_ffi as lws

    def paused(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_ESTABLISHED:
            lws.lws_context_set_limit(context, lws.LWS_LIMIT_KEEPALIVE_IDLE_SECS, 1)
            lws.lws_context_set_limit(context, lws.LWS_LIMIT_KEEPALIVE_PONG_SECS, 1)
            lws.libwebsocket_rx_flow_control(wsi, 0)
        return 0

    server = ThreadServer([("paused", paused, 0)], None)
    try:
        s = open_ws(server.port)
        time.sleep(3.5)  # idle 1 s + pong 1 s, checked once a second
        r, _, _ = select.select([s], [], [], 0)
        assert not r, s.recv(100)  # no ping, no close
        s.close()
    finally:
        server.close()

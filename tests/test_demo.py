"""The demo (examples/test-server.c under ASan/UBSan, and test-server.py)
without a browser: its page over HTTP, and its two protocols spoken to by the
`websockets` client and by raw sockets."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import re
import socket
import ssl
import struct
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import ROOT, asan_build, start_demo, wait_listening
from support.net import free_port
from websockets.asyncio.client import connect as aconnect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

RESOURCES = ROOT / "examples" / "resources"
DUMB = "dumb-increment-protocol"
MIRROR = "lws-mirror-protocol"


@pytest.fixture(scope="module", params=["c", "python"])
def demo(request):
    server = start_demo(request.param)
    yield server
    server.stop()


def ws(demo, protocol: str, **kw):
    conn = connect(
        demo.url, subprotocols=[protocol], max_size=None, compression=None, open_timeout=10, **kw
    )
    assert conn.subprotocol == protocol
    return conn


# ---- HTTP ----


def http_get(s: socket.socket, path: str, extra: str = "") -> tuple[int, dict[str, str], bytes]:
    """One request on s; returns status, headers (lower-case names), body."""
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n{extra}\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, f"connection closed before the answer to {path}: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = s.recv(65536)
        assert chunk, f"connection closed in the body of {path}"
        body += chunk
    return status, headers, body[:length]


def raw(demo) -> socket.socket:
    return socket.create_connection(("127.0.0.1", demo.port), timeout=10)


def test_http_root_is_the_page(demo):
    with raw(demo) as s:
        status, headers, body = http_get(s, "/")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert int(headers["content-length"]) == len(body)
    assert body == (RESOURCES / "test.html").read_bytes()


@pytest.mark.parametrize(
    "path, file, content_type",
    [
        ("/favicon.ico", "favicon.ico", "image/x-icon"),
        ("/logo.svg", "logo.svg", "image/svg+xml"),
        ("/pylws.png", "pylws.png", "image/png"),
        ("/?from=a-link", "test.html", "text/html"),
    ],
)
def test_http_whitelisted_files(demo, path, file, content_type):
    with raw(demo) as s:
        status, headers, body = http_get(s, path)
    assert status == 200
    assert headers["content-type"].startswith(content_type)
    assert body == (RESOURCES / file).read_bytes()


def test_http_keep_alive_two_requests_on_one_connection(demo):
    with raw(demo) as s:
        status1, _, body1 = http_get(s, "/")
        status2, headers2, body2 = http_get(s, "/favicon.ico")
    assert (status1, status2) == (200, 200)
    assert body1 == (RESOURCES / "test.html").read_bytes()
    assert headers2["content-type"] == "image/x-icon"
    assert body2 == (RESOURCES / "favicon.ico").read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/../meson.build",
        "/nonexistent",
        "/%2e%2e/meson.build",
        "/test.html/../../meson.build",
        "/examples/resources/test.html",
        "/make_images.py",
    ],
)
def test_http_anything_else_is_404(demo, path):
    with raw(demo) as s:
        status, _, body = http_get(s, path)
    assert status == 404
    assert b"project(" not in body


# ---- dumb-increment-protocol ----


def test_dumb_increment_counts_every_50ms(demo):
    with ws(demo, DUMB) as conn:
        start = time.monotonic()
        numbers = [int(conn.recv(timeout=5)) for _ in range(20)]
        elapsed = time.monotonic() - start
    assert numbers == list(range(20))  # a new connection starts at 0
    # 20 numbers, one per 50 ms tick: about a second
    assert 0.6 < elapsed < 3.0, elapsed


def test_dumb_increment_reset(demo):
    with ws(demo, DUMB) as conn:
        first = [int(conn.recv(timeout=5)) for _ in range(10)]
        assert first == list(range(10))
        conn.send("reset\n")
        # numbers already on the way arrive first; then it starts again at 0
        after = [int(conn.recv(timeout=5)) for _ in range(8)]
    zero = after.index(0)
    assert zero <= 3, after
    assert after[zero:] == list(range(len(after) - zero)), after


def test_dumb_increment_counters_are_per_connection(demo):
    with ws(demo, DUMB) as a:
        for _ in range(10):
            a.recv(timeout=5)
        with ws(demo, DUMB) as b:
            assert [int(b.recv(timeout=5)) for _ in range(3)] == [0, 1, 2]
            assert int(a.recv(timeout=5)) >= 10


# ---- lws-mirror-protocol ----


def test_mirror_reaches_every_connection_and_the_sender(demo):
    with ws(demo, MIRROR) as a, ws(demo, MIRROR) as b, ws(demo, MIRROR) as c:
        a.send("d #ff0000 1 2 3 4;")
        for conn in (a, b, c):
            assert conn.recv(timeout=5) == "d #ff0000 1 2 3 4;"
        b.send(b"\x00binary\xff")  # binary stays binary
        for conn in (a, b, c):
            assert conn.recv(timeout=5) == b"\x00binary\xff"
        c.send(["d #00ff00 ", "5 6 ", "7 8;"])  # a fragmented message goes out whole
        for conn in (a, b, c):
            assert conn.recv(timeout=5) == "d #00ff00 5 6 7 8;"


def test_mirror_messages_keep_their_order(demo):
    with ws(demo, MIRROR) as a, ws(demo, MIRROR) as b:
        for i in range(200):
            a.send(f"d #000000 {i} 0 0 0;")
        for conn in (a, b):
            got = [conn.recv(timeout=5) for _ in range(200)]
            assert got == [f"d #000000 {i} 0 0 0;" for i in range(200)]


def test_mirror_too_long_message_closes_its_sender_only(demo):
    with ws(demo, MIRROR) as a, ws(demo, MIRROR) as b:
        a.send("x" * (64 * 1024 + 1))
        with pytest.raises(ConnectionClosed) as info:
            a.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
        b.send("still here")
        assert b.recv(timeout=5) == "still here"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def raw_ws_client(port: int, protocol: str, rcvbuf: int) -> socket.socket:
    """A WebSocket client on a raw socket with a tiny receive buffer: after
    the handshake it reads nothing until the test says so."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    s.sendall(
        (
            "GET / HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {protocol}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)  # byte by byte: not a byte of the frames after it
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def read_frames(s: socket.socket, until: bytes, limit: float) -> list[bytes]:
    """Unmasked server frames' payloads, until one starts with ``until``."""
    buf = b""
    out: list[bytes] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        while True:
            if len(buf) < 2:
                break
            n, hlen = buf[1] & 0x7F, 2
            if n == 126:
                if len(buf) < 4:
                    break
                n, hlen = struct.unpack(">H", buf[2:4])[0], 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n, hlen = struct.unpack(">Q", buf[2:10])[0], 10
            if len(buf) < hlen + n:
                break
            out.append(buf[hlen : hlen + n])
            buf = buf[hlen + n :]
            if out[-1].startswith(until):
                return out
        s.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        buf += chunk
    raise AssertionError(f"{until!r} not seen; {len(out)} frames")


@pytest.fixture(params=["c", "python"])
def demo_measured(request):
    """A demo server of its own, whose memory a test measures (for the C one
    a small ASan quarantine, else freed blocks count as used)."""
    server = start_demo(request.param, asan_options="quarantine_size_mb=1")
    yield server
    server.stop()


def test_mirror_reader_that_never_reads_blocks_nobody(demo_measured):
    """20 MiB go through the mirror while one of its connections reads
    nothing: the others get every message, in order; the server's memory stays
    bounded (the stuck one is skipped, not queued for); and when the stuck one
    reads again it gets the recent messages, having skipped the rest."""
    demo = demo_measured
    size, total = 4096, 20 << 20
    count, batch = total // size, 64

    async def go() -> tuple[int, int]:
        stuck = raw_ws_client(demo.port, MIRROR, rcvbuf=4096)
        try:
            kw = dict(subprotocols=[MIRROR], max_size=None, compression=None, open_timeout=10)
            async with aconnect(demo.url, **kw) as sender, aconnect(demo.url, **kw) as reader:
                base = rss_kib(demo.proc.pid)
                peak = base
                for first in range(0, count, batch):
                    for i in range(first, first + batch):
                        await sender.send(b"m %08d " % i + b"." * (size - 11))
                    for conn in (sender, reader):
                        for i in range(first, first + batch):
                            got = await asyncio.wait_for(conn.recv(), 20)
                            assert got[:11] == b"m %08d " % i
                            assert len(got) == size
                    peak = max(peak, rss_kib(demo.proc.pid))
            # the stuck one reads again: increasing, up to the last, with a gap
            frames = await asyncio.to_thread(read_frames, stuck, b"m %08d" % (count - 1), 20)
            seqs = [int(f[2:10]) for f in frames]
            assert seqs == sorted(set(seqs)), "out of order or repeated"
            assert seqs[-1] == count - 1
            assert len(seqs) < count, "nothing was skipped: the stuck reader was queued for"
            return base, peak
        finally:
            stuck.close()

    base, peak = asyncio.run(asyncio.wait_for(go(), 110))
    growth_mib = (peak - base) / 1024
    # the ring holds 256 messages (1 MiB here); queueing for the stuck reader
    # would have grown by most of the 20 MiB
    print(f"{demo.kind}: RSS {base / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB")
    assert growth_mib < 12, f"server RSS grew by {growth_mib:.1f} MiB"
    assert demo.alive()


# ---- the command line ----


def demo_argv(kind: str) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    if kind == "c":
        env["ASAN_OPTIONS"] = "detect_leaks=1:exitcode=99"
        return [str(asan_build() / "test-server")], env
    return [sys.executable, str(ROOT / "examples" / "test-server.py")], env


@contextlib.contextmanager
def demo_process(
    kind: str, port: int, *args: str, cwd: Path | None = None, env_extra: dict | None = None
) -> Iterator[types.SimpleNamespace]:
    """The demo started with ``args`` (which make it listen on ``port``), once
    it listens; stopped afterwards, when it must exit with 0.  Yields an
    object whose ``err`` is the demo's stderr once it stopped."""
    argv, env = demo_argv(kind)
    env.update(env_extra or {})
    proc = subprocess.Popen(
        [*argv, *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    result = types.SimpleNamespace(err="")
    try:
        wait_listening(port, proc)
        yield result
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
        result.err = err.decode(errors="replace")
    assert proc.returncode == 0, result.err


@pytest.mark.parametrize("kind", ["c", "python"])
def test_finds_its_page_from_any_working_directory(kind, tmp_path):
    port = free_port()
    with (
        demo_process(kind, port, "--port", str(port), cwd=tmp_path),
        socket.create_connection(("127.0.0.1", port), timeout=10) as s,
    ):
        status, _, body = http_get(s, "/")
        assert status == 200 and body == (RESOURCES / "test.html").read_bytes()


@pytest.mark.parametrize("kind", ["c", "python"])
def test_resource_path_option(kind, tmp_path):
    (tmp_path / "test.html").write_text("<p>another page</p>")
    port = free_port()
    with (
        demo_process(kind, port, "--port", str(port), "--resource-path", str(tmp_path)),
        socket.create_connection(("127.0.0.1", port), timeout=10) as s,
    ):
        status, _, body = http_get(s, "/")
        assert (status, body) == (200, b"<p>another page</p>")
        # a whitelisted file missing from that folder: 404
        status, _, _ = http_get(s, "/favicon.ico")
        assert status == 404


@pytest.mark.parametrize("kind", ["c", "python"])
def test_ssl_serves_the_page_over_https(kind, tmp_path):
    # --ssl without --cert/--key: a self-signed localhost certificate made in
    # $XDG_CACHE_HOME/pylws (more in tests/test_tls.py)
    port = free_port()
    args = ["--ssl", "--port", str(port), "--interface", "127.0.0.1"]
    with demo_process(kind, port, *args, env_extra={"XDG_CACHE_HOME": str(tmp_path)}) as demo:
        cert = tmp_path / "pylws" / "localhost-cert.pem"
        ctx = ssl.create_default_context(cafile=str(cert))
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
        try:
            conn.request("GET", "/")
            body = conn.getresponse().read()
        finally:
            conn.close()
        assert body == (ROOT / "examples" / "resources" / "test.html").read_bytes()
    assert f"https://127.0.0.1:{port}/" in demo.err


@pytest.mark.parametrize("kind", ["c", "python"])
def test_ssl_with_a_missing_certificate_fails(kind, tmp_path):
    argv, env = demo_argv(kind)
    missing = tmp_path / "missing-cert.pem"
    proc = subprocess.run(
        [*argv, "--ssl", "--cert", str(missing), "--key", str(missing), "--port", str(free_port())],
        env=env,
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert str(missing).encode() in proc.stderr


@pytest.mark.parametrize("kind", ["c", "python"])
def test_sigint_stops_cleanly(kind):
    argv, env = demo_argv(kind)
    port = free_port()
    proc = subprocess.Popen(
        [*argv, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_listening(port, proc)
        with ws_at(port, DUMB) as conn:
            conn.recv(timeout=5)
            proc.send_signal(2)  # SIGINT, as Ctrl-C
            with pytest.raises(ConnectionClosed):
                for _ in range(100):
                    conn.recv(timeout=5)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, err.decode(errors="replace")


def ws_at(port: int, protocol: str):
    return connect(f"ws://127.0.0.1:{port}", subprotocols=[protocol], open_timeout=10)


# the C source holding each example's getopt_long call and options[]
C_OPTIONS = {
    "echo_client": "echo_client.c",
    "echo_server": "echo_server.c",
    "test-server": "test-server-protocols.h",  # demo_setup, shared with extpoll
    "test-server-extpoll": "test-server-protocols.h",
}


def c_options(source: str) -> dict[str, tuple[str | None, bool]]:
    """long name -> (short letter or None when long only, takes an argument)."""
    text = (ROOT / "examples" / source).read_text()
    shorts = re.search(r'getopt_long\(argc, argv, "([^"]*)"', text)
    assert shorts, source
    letters = shorts.group(1)
    options = {}
    for name, kind, letter in re.findall(
        r'\{ "([\w-]+)", (required_argument|no_argument), NULL, \'(\w)\' \}', text
    ):
        short = letter if letter in letters else None
        options[name] = (short, kind == "required_argument")
    return options


@pytest.mark.parametrize("name", sorted(C_OPTIONS))
def test_python_example_takes_the_c_examples_options(name):
    """Every option of the C example, short and long, with or without an
    argument as there; and no short option the C one lacks."""
    script = ROOT / "examples" / f"{name}.py"
    out = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    listed = re.findall(r"^  (-\w(?: \S+)?, )?(--[\w-]+)( [A-Z_]+)?", out.stdout, flags=re.M)
    python = {long[2:]: (short[1] if short else None, bool(arg)) for short, long, arg in listed}
    expected = c_options(C_OPTIONS[name])
    assert python == expected


@pytest.mark.parametrize("kind", ["c", "python"])
@pytest.mark.parametrize("port", ["0", "65536", "-1", "7x"])
def test_bad_port_is_refused(kind, port):
    argv, env = demo_argv(kind)
    proc = subprocess.run([*argv, "--port", port], env=env, capture_output=True, timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert b"port" in proc.stderr and port.encode() in proc.stderr, proc.stderr


@pytest.mark.parametrize("kind", ["c", "python"])
def test_short_options(kind, tmp_path):
    (tmp_path / "test.html").write_text("<p>short</p>")
    port = free_port()
    args = ["-p", str(port), "-i", "127.0.0.1", "-d", "3", "-r", str(tmp_path)]
    with (
        demo_process(kind, port, *args),
        socket.create_connection(("127.0.0.1", port), timeout=10) as s,
    ):
        status, _, body = http_get(s, "/")
        assert (status, body) == (200, b"<p>short</p>")

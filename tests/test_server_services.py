"""The server services, against real peers, from Python and from C.

Covered: libwebsockets_serve_http_file (+ _fragment, HTTP_FILE_COMPLETION,
keep-alive and pipelining), libwebsocket_rx_flow_control,
libwebsocket_callback_on_writable_all_protocol, libwebsockets_broadcast (in the
service process, from a forked process, libwebsockets_fork_service_loop),
libwebsockets_get_peer_addresses, libwebsockets_hangup_on_client,
libwebsocket_canonical_hostname, libwebsocket_set_timeout and dual-stack
listening; from C only (their Python side is test_server_api.py's, with the
basic server API): LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION and
libwebsockets_remaining_packet_payload.

Most tests run twice, ``[python]`` and ``[c]``, with the same client code:

* ``python``: a pylws_ffi context in this process, served by a background
  thread (``libwebsocket_service(ctx, 20)`` in a loop, which also runs the
  "main loop" work between two service calls), with ``PyServices.callback``
  (services_helper.c's callback, in Python).
* ``c``: ``tests/c/services_helper.c`` built under AddressSanitizer/UBSan
  (build-asan, by servers.asan_build()), in a subprocess stopped by PID with
  SIGTERM; any sanitizer report, a crash or a nonzero exit fails the test.

Both speak the same little protocol (see the comment at the top of
services_helper.c): WebSocket text commands handled inside the RECEIVE
callback ("pause", "bcast:P:TEXT", "wall:P", "hangup", "peer", ...), stdin-like
commands run by the main loop between two service calls ("writable-all P",
"broadcast P TEXT", "hangup FD", ...), and one machine-readable line per event
("established svc-a 7", "completion 9 /small.txt", ...), which the tests wait
for.  Protocols: [0] "http", [1] "svc-a", [2] "svc-b", [3] "svc-paused".

Peers are raw sockets (frames exactly as written), on 127.0.0.1 / ::1 only.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import os
import queue
import re
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from rawws import (
    LOCAL,
    MIB,
    RawWs,
    addr,
    close_code,
    frame,
    free_port,
    ipv6_loopback,
    read_to_eof,
    text,
    wait_for,
)
from servers import ROOT, SANITIZER_MARKERS, asan_build

import pylws_ffi as lws
from pylws_ffi import ffi

PROTOCOL_NAMES = ["http", "svc-a", "svc-b", "svc-paused"]
RESUME_AFTER = 0.5  # seconds a paused connection waits for the main loop
BIG_FILE_SIZE = 50 * MIB

Callback = Callable[[Any, Any, int, Any, Any, int], Any]


# ====================================================================== helpers


def rss(pid: int) -> int:
    """Resident set size of a process, in bytes."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(stat_path: str) -> float:
    """user + system CPU time from a /proc/.../stat file."""
    with open(stat_path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def reverse_names(ip: str) -> set[str]:
    """What a peer's name may be: its numeric address, or what it resolves to."""
    names = {ip}
    with contextlib.suppress(OSError):
        names.add(socket.getnameinfo((ip, 0), socket.NI_NAMEREQD)[0])
    return names


# ---------------------------------------------------------------- raw sockets


def http_get(path: str, extra: str = "", version: str = "1.1") -> bytes:
    return f"GET {path} HTTP/{version}\r\nHost: x\r\n{extra}\r\n".encode()


def read_head(sock: socket.socket, buf: bytearray) -> tuple[int, dict[str, str]]:
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(f"EOF inside a response head: {bytes(buf)!r}")
        buf += chunk
    head, _, _ = bytes(buf).partition(b"\r\n\r\n")
    del buf[: len(head) + 4]
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 "), lines[0]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        assert name.lower() not in headers, f"header {name} twice"
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers


def read_response(sock: socket.socket, buf: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response with a Content-Length (leftover bytes stay in buf)."""
    status, headers = read_head(sock, buf)
    n = int(headers["content-length"])
    while len(buf) < n:
        chunk = sock.recv(MIB)
        if not chunk:
            raise EOFError(f"EOF inside a body: {len(buf)} of {n} bytes")
        buf += chunk
    body = bytes(buf[:n])
    del buf[:n]
    return status, headers, body


def is_open(sock: socket.socket, wait: float = 0.3) -> bool:
    """Nothing arrives and no EOF within wait."""
    sock.settimeout(wait)
    try:
        data = sock.recv(1)
    except socket.timeout:
        return True
    except ConnectionResetError:
        return False
    finally:
        sock.settimeout(10)
    assert not data, f"unexpected bytes {data!r}"
    return False


# ============================================================ the files served


def _rotated_block(block: bytes, i: int) -> bytes:
    k = (i * 4099) % len(block)
    return block[k:] + block[:k]


@pytest.fixture(scope="module")
def www(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("www")
    (d / "small.txt").write_bytes(b"hello, file\n")
    (d / "page.html").write_bytes(b"<!doctype html><title>t</title><p>page</p>\n" * 50)
    (d / "empty.txt").write_bytes(b"")
    (d / "mid.bin").write_bytes(os.urandom(3 * MIB + 123))
    (d / "adir").mkdir()
    (d / "adir" / "inside.txt").write_bytes(b"inside\n")
    return d


@pytest.fixture(scope="module")
def big_file(www: Path) -> tuple[Path, str]:
    """A 50 MiB file (every MiB different) and its SHA-256."""
    block = os.urandom(MIB)
    digest = hashlib.sha256()
    path = www / "big.bin"
    with open(path, "wb") as f:
        for i in range(BIG_FILE_SIZE // MIB):
            chunk = _rotated_block(block, i)
            f.write(chunk)
            digest.update(chunk)
    return path, digest.hexdigest()


CONTENT_TYPES = {
    ".html": "text/html",
    ".txt": "text/plain; charset=utf-8",
    ".png": "image/png",
}


def content_type_of(path: str) -> str:
    return CONTENT_TYPES.get(os.path.splitext(path)[1], "application/octet-stream")


# ====================================================== the in-process server


class Server:
    """A context on a free port, served by a background thread.

    Callbacks are wrapped: ESTABLISHED/CLOSED are checked to pair up (CLOSED
    exactly once per ESTABLISHED), and a callback that raises unexpectedly
    fails the test at teardown.  ``call(fn)`` runs fn in the service thread
    between two service calls; ``call_later(delay, fn)`` likewise, later;
    ``tick`` (if set) runs there after every service call.
    """

    def __init__(
        self,
        protocols: list[tuple[str, Callback, int]],
        *,
        interf: str | None = None,
        options: int = 0,
    ) -> None:
        self.errors: list[str] = []
        self.lifecycle_errors: list[str] = []
        self.open: dict[int, str] = {}
        self.established: Counter[str] = Counter()
        self.closed: Counter[str] = Counter()
        self.thread_error: BaseException | None = None
        self.tick: Callable[[], None] | None = None
        self._stop = threading.Event()
        self._calls: queue.Queue[tuple[Callable[[], Any], queue.Queue[Any] | None]] = queue.Queue()
        self._timers: list[tuple[float, Callable[[], Any]]] = []
        self._timers_lock = threading.Lock()

        wrapped = [(name, self._wrap(name, cb), size) for name, cb, size in protocols]
        for _ in range(10):
            port = free_port()
            try:
                self.ctx = lws.libwebsocket_create_context(port, interf, wrapped, options=options)
            except OSError as e:
                if e.errno != errno.EADDRINUSE:
                    raise
                continue
            break
        else:
            raise AssertionError("no free port")
        self.port = port
        self.protocols = lws.lws_get_protocols(self.ctx)
        self._thread = threading.Thread(target=self._run, name="lws-service", daemon=True)
        self._thread.start()
        self.thread_id = self._thread.native_id

    def _wrap(self, name: str, cb: Callback) -> Callback:
        def wrapped(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> Any:
            if reason == lws.LWS_CALLBACK_ESTABLISHED:
                if addr(wsi) in self.open:
                    self.lifecycle_errors.append(f"ESTABLISHED twice for {addr(wsi):#x}")
                self.open[addr(wsi)] = name
                self.established[name] += 1
            elif reason == lws.LWS_CALLBACK_CLOSED:
                if self.open.pop(addr(wsi), None) is None:
                    self.lifecycle_errors.append(f"CLOSED twice or unopened: {addr(wsi):#x}")
                self.closed[name] += 1
            try:
                return cb(ctx, wsi, reason, user, in_, len_)
            except Exception:
                self.errors.append(traceback.format_exc())
                raise

        return wrapped

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                assert lws.libwebsocket_service(self.ctx, 20) >= 0, "service failed"
                while True:
                    try:
                        fn, box = self._calls.get_nowait()
                    except queue.Empty:
                        break
                    try:
                        result = (True, fn())
                    except BaseException as e:
                        result = (False, e)
                    if box is not None:
                        box.put(result)
                    elif not result[0]:
                        self.errors.append(repr(result[1]))
                now = time.monotonic()
                with self._timers_lock:
                    due = [t for t in self._timers if t[0] <= now]
                    self._timers = [t for t in self._timers if t[0] > now]
                for _, fn in due:
                    fn()
                if self.tick:
                    self.tick()
        except BaseException as e:
            self.thread_error = e
            traceback.print_exc()

    def call(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        box: queue.Queue[Any] = queue.Queue()
        self._calls.put((fn, box))
        ok, value = box.get(timeout=timeout)
        if not ok:
            raise value
        return value

    def call_later(self, delay: float, fn: Callable[[], Any]) -> None:
        with self._timers_lock:
            self._timers.append((time.monotonic() + delay, fn))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        assert not self._thread.is_alive(), "the service thread did not stop"

    def destroy(self) -> None:
        if self.ctx is not None:
            self.stop()
            ctx, self.ctx = self.ctx, None
            lws.libwebsocket_context_destroy(ctx)

    def check(self) -> None:
        assert self.thread_error is None, repr(self.thread_error)
        assert not self.lifecycle_errors, self.lifecycle_errors
        assert not self.errors, "\n".join(self.errors)
        assert not self.open, f"connections never got CLOSED: {self.open}"


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """serve(protocols, **kw) -> Server; destroyed and checked at teardown."""
    made: list[Server] = []

    def make(protocols: list[tuple[str, Callback, int]], **kw: Any) -> Server:
        server = Server(protocols, **kw)
        made.append(server)
        return server

    yield make
    for server in made:
        server.destroy()
    for server in made:
        server.check()


# ============================================ the two implementations of the protocol


class Target:
    """What the tests see of either implementation."""

    port: int
    pid: int
    lines: list[str]

    def __init__(self) -> None:
        self.lines = []
        self._cond = threading.Condition()

    def _emit(self, line: str) -> None:
        with self._cond:
            self.lines.append(line)
            self._cond.notify_all()

    def matching(self, pattern: str) -> list[re.Match[str]]:
        rx = re.compile(pattern)
        with self._cond:
            return [m for m in map(rx.fullmatch, list(self.lines)) if m]

    def wait_lines(self, pattern: str, count: int = 1, timeout: float = 10) -> list[re.Match[str]]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.matching(pattern)
            if len(found) >= count:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"waited {timeout} s for {count} line(s) matching {pattern!r}; "
                    f"got {len(found)}; last lines: {self.lines[-15:]}"
                )
            with self._cond:
                self._cond.wait(min(left, 0.05))

    def wait_line(self, pattern: str, timeout: float = 10) -> re.Match[str]:
        return self.wait_lines(pattern, 1, timeout)[0]

    def command(self, line: str) -> None:
        raise NotImplementedError

    def cpu_seconds(self) -> float:
        """CPU time the service loop has used (the process, or its thread)."""
        return cpu_seconds(f"/proc/{self.pid}/stat")

    def connect(self, protocol: str | None = None, host: str = LOCAL) -> tuple[RawWs, int]:
        """A WebSocket client, and the server's fd for it (from ESTABLISHED)."""
        name = protocol or "http"
        before = len(self.matching(rf"established {name} (\d+)"))
        ws = RawWs.connect(self.port, protocol=protocol, host=host)
        m = self.wait_lines(rf"established {name} (\d+)", before + 1)[before]
        return ws, int(m.group(1))


class PyServices(Target):
    """services_helper.c's protocol, in Python, served in this process."""

    def __init__(self, serve: Callable[..., Server], www: Path, interf: str | None = None):
        super().__init__()
        self.www = www
        self.conns: dict[int, Any] = {}  # fd -> wsi of established connections
        self.resume_at: dict[int, float] = {}
        self.hang_others = False
        self.http_paths: dict[int, str] = {}  # wsi address -> path being served
        self.server = serve([(name, self.callback, 16) for name in PROTOCOL_NAMES], interf=interf)
        self.server.tick = self.resume_due
        self.ctx = self.server.ctx
        self.port = self.server.port
        self.pid = os.getpid()
        self.protocols = self.server.protocols

    def cpu_seconds(self) -> float:
        tid = self.server.thread_id
        return cpu_seconds(f"/proc/{self.pid}/task/{tid}/stat")

    # ---- the main loop
    def resume_due(self) -> None:
        now = time.monotonic()
        for fd, when in list(self.resume_at.items()):
            if when <= now:
                del self.resume_at[fd]
                if fd in self.conns:
                    rc = lws.libwebsocket_rx_flow_control(self.conns[fd], 1)
                    self._emit(f"resumed {fd} {rc}")

    def command(self, line: str) -> None:
        self.server.call(lambda: self._run_command(line))

    def _run_command(self, line: str) -> None:
        words = line.split()
        cmd, args = words[0], words[1:]
        if cmd == "writable-all":
            p = int(args[0])
            rc = lws.libwebsocket_callback_on_writable_all_protocol(self.protocols[p])
            self._emit(f"ok writable-all {p} {rc}")
        elif cmd == "broadcast":
            p, payload = int(args[0]), args[1].encode()
            rc = lws.libwebsockets_broadcast(self.protocols[p], payload, len(payload))
            self._emit(f"ok broadcast {p} {rc}")
        elif cmd == "broadcast-hangup":
            p, payload = int(args[0]), args[1].encode()
            self.hang_others = True
            rc = lws.libwebsockets_broadcast(self.protocols[p], payload, len(payload))
            self.hang_others = False
            self._emit(f"ok broadcast-hangup {p} {rc}")
        elif cmd == "hangup":
            lws.libwebsockets_hangup_on_client(self.ctx, int(args[0]))
            self._emit(f"ok hangup {args[0]}")
        elif cmd == "flow":
            fd, on = int(args[0]), int(args[1])
            rc = lws.libwebsocket_rx_flow_control(self.conns[fd], on) if fd in self.conns else -99
            self._emit(f"ok flow {fd} {on} {rc}")
        elif cmd == "peer":
            name, rip = lws.libwebsockets_get_peer_addresses(int(args[0]))
            self._emit(f"peer {args[0]} name=[{name}] rip=[{rip}]")
        elif cmd == "timeout":
            fd, secs = int(args[0]), int(args[1])
            if fd in self.conns:
                lws.libwebsocket_set_timeout(
                    self.conns[fd], lws.PENDING_TIMEOUT_AWAITING_PING, secs
                )
            self._emit(f"ok timeout {fd} {secs}")
        else:
            raise AssertionError(f"unknown command {line!r}")

    # ---- the callback of every protocol
    def callback(self, ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        fd = lws.libwebsocket_get_socket_fd(wsi) if wsi != ffi.NULL else -1
        name = ffi.string(lws.libwebsockets_get_protocol(wsi).name).decode() if fd >= 0 else ""
        if reason == lws.LWS_CALLBACK_ESTABLISHED:
            self._emit(f"established {name} {fd}")
            self.conns[fd] = wsi
            if name == "svc-paused":
                rc = lws.libwebsocket_rx_flow_control(wsi, 0)
                self._emit(f"paused {fd} {rc}")
                self.resume_at[fd] = time.monotonic() + RESUME_AFTER
        elif reason == lws.LWS_CALLBACK_CLOSED:
            self._emit(f"closed {name} {fd}")
            self.conns.pop(fd, None)
            self.resume_at.pop(fd, None)
        elif reason == lws.LWS_CALLBACK_RECEIVE:
            return self.on_receive(ctx, wsi, fd, in_, len_)
        elif reason == lws.LWS_CALLBACK_SERVER_WRITEABLE:
            self._emit(f"writeable {name} {fd}")
            return self.write_line(wsi, f"writeable {name}")
        elif reason == lws.LWS_CALLBACK_BROADCAST:
            self._emit(f"broadcast {name} {fd} {len_}")
            if self.hang_others:  # closes connections the broadcast has yet to reach
                self.hang_others = False
                mine = lws.libwebsockets_get_protocol(wsi)
                for other, conn in list(self.conns.items()):
                    if other != fd and lws.libwebsockets_get_protocol(conn) == mine:
                        lws.libwebsockets_hangup_on_client(ctx, other)
            # in place, as C does: the buffer has the padding around it
            n = lws.libwebsocket_write(
                wsi, ffi.cast("unsigned char *", in_), len_, lws.LWS_WRITE_TEXT
            )
            return 0 if n >= 0 else -1
        elif reason == lws.LWS_CALLBACK_HTTP:
            return self.on_http(ctx, wsi, fd, lws.payload(in_, len_).decode())
        elif reason == lws.LWS_CALLBACK_HTTP_FILE_COMPLETION:
            self._emit(f"completion {fd} {self.http_paths.get(addr(wsi), '?')}")
        return 0

    @staticmethod
    def write_line(wsi: Any, line: str) -> int:
        return 0 if lws.libwebsocket_write(wsi, line, len(line), lws.LWS_WRITE_TEXT) >= 0 else -1

    def on_receive(self, ctx: Any, wsi: Any, fd: int, in_: Any, len_: int) -> int:
        data = lws.payload(in_, len_)
        msg = data.decode(errors="replace")
        if msg == "pause":
            rc = lws.libwebsocket_rx_flow_control(wsi, 0)
            self._emit(f"paused {fd} {rc}")
            self.resume_at[fd] = time.monotonic() + RESUME_AFTER
            return self.write_line(wsi, "paused")
        m = re.fullmatch(r"bcast:(\d):(.*)", msg, re.S)
        if m:
            p, payload = int(m.group(1)), m.group(2).encode()
            rc = lws.libwebsockets_broadcast(self.protocols[p], payload, len(payload))
            self._emit(f"ok bcast {p} {rc}")
            return 0
        m = re.match(r"mirror:(\d)", msg)
        if m:
            # 'in' as it is: the receive buffer has the padding before it
            rc = lws.libwebsockets_broadcast(self.protocols[int(m.group(1))], in_, len_)
            self._emit(f"ok mirror {m.group(1)} {rc}")
            return 0
        m = re.fullmatch(r"wall:(\d)", msg)
        if m:
            p = int(m.group(1))
            rc = lws.libwebsocket_callback_on_writable_all_protocol(self.protocols[p])
            self._emit(f"ok wall {p} {rc}")
            return 0
        if msg == "hangup":
            lws.libwebsockets_hangup_on_client(ctx, fd)
            self._emit(f"ok hangup-self {fd}")
            return 0
        m = re.fullmatch(r"hangup:(\d+)", msg)
        if m:
            lws.libwebsockets_hangup_on_client(ctx, int(m.group(1)))
            self._emit(f"ok hangup-other {m.group(1)}")
            return self.write_line(wsi, f"hung up {m.group(1)}")
        if msg == "peer":
            name, rip = lws.libwebsockets_get_peer_addresses(fd)
            self._emit(f"peer {fd} name=[{name}] rip=[{rip}]")
            return self.write_line(wsi, f"{name} {rip}")
        m = re.fullmatch(r"timeout:(\d+)", msg)
        if m:
            secs = int(m.group(1))
            lws.libwebsocket_set_timeout(wsi, lws.PENDING_TIMEOUT_AWAITING_PING, secs)
            self._emit(f"ok timeout {fd} {secs}")
            return self.write_line(wsi, f"timeout {secs}")
        if msg == "fragment":
            rc = lws.libwebsockets_serve_http_file_fragment(ctx, wsi)
            self._emit(f"fragment {fd} {rc}")
            return self.write_line(wsi, f"fragment {rc}")
        if msg == "servefile":
            rc = lws.libwebsockets_serve_http_file(ctx, wsi, self.www / "small.txt", "text/plain")
            self._emit(f"servefile {fd} {rc}")
            return self.write_line(wsi, f"servefile {rc}")
        return 0 if lws.libwebsocket_write(wsi, data, len(data), lws.LWS_WRITE_TEXT) >= 0 else -1

    def on_http(self, ctx: Any, wsi: Any, fd: int, path: str) -> int:
        self._emit(f"http {fd} {path}")
        if path == "/fragment":
            rc = lws.libwebsockets_serve_http_file_fragment(ctx, wsi)
            self._emit(f"fragment {fd} {rc}")
            body = f"fragment={rc}".encode()
            page = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
            page %= (len(body), body)
            lws.libwebsocket_write(wsi, page, len(page), lws.LWS_WRITE_HTTP)
            return 1
        close_after = path.startswith("/close/")
        name = path[len("/close") :] if close_after else path
        self.http_paths[addr(wsi)] = path
        rc = lws.libwebsockets_serve_http_file(
            ctx, wsi, str(self.www) + name, content_type_of(name)
        )
        self._emit(f"serve {fd} {path} {rc}")
        return 1 if close_after else 0


class CHelper(Target):
    """tests/c/services_helper.c (sanitizer build) in a subprocess."""

    def __init__(self, exe: Path, args: list[str], tag: str) -> None:
        super().__init__()
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=99"
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:exitcode=98"
        self.log_path = ROOT / "build-asan" / f"services-helper-{tag}-{os.getpid()}.log"
        self._log = open(self.log_path, "w+b")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(exe), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
        )
        self.pid = self.proc.pid
        self._stopped = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self._emit(raw.decode(errors="replace").rstrip("\n"))

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def stderr(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM by PID; fail on a hang, a crash, a nonzero exit or a sanitizer report."""
        if self._stopped:
            return
        self._stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError("services_helper did not stop on SIGTERM") from None
        self._reader.join(5)
        if self.proc.stdin:
            self.proc.stdin.close()
        err = self.stderr()
        self._log.close()
        bad = [m for m in SANITIZER_MARKERS if m in err]
        assert not bad, f"services_helper: sanitizer report:\n{err[-8000:]}"
        assert self.proc.returncode == 0, (
            f"services_helper exited with {self.proc.returncode}:\n{err[-3000:]}\n"
            f"stdout: {self.lines[-20:]}"
        )
        assert "destroyed" in self.lines, f"no clean destroy: {self.lines[-20:]}"


_built: list[Path] = []


def build_helper() -> Path:
    """The sanitizer build's services_helper (built once per session)."""
    if not _built:
        exe = asan_build() / "services_helper"
        assert exe.exists(), f"{exe} was not built: is it in meson.build's tests section?"
        _built.append(exe)
    return _built[0]


@pytest.fixture
def helper_exe() -> Path:
    return build_helper()


@pytest.fixture
def c_helper() -> Iterator[Callable[..., CHelper]]:
    """c_helper(mode, *args) -> a started helper (``serve``/``broadcast-fork``
    get a free port as their first argument, retried if raced).  Built on
    first use, so the [python] tests do not need the sanitizer build."""
    started: list[CHelper] = []

    def start(mode: str, *args: str) -> CHelper:
        exe = build_helper()
        for _ in range(5):
            port = free_port()
            helper = CHelper(exe, [mode, str(port), *args], mode)
            started.append(helper)
            m = helper.wait_line(r"(ready|create-failed) (\d+).*", timeout=30)
            if m.group(1) == "ready":
                helper.port = port
                return helper
            if int(m.group(2)) != errno.EADDRINUSE:
                raise AssertionError(f"services_helper: {m.group(0)}")
        raise AssertionError("no free port")

    yield start
    for helper in started:
        helper.stop()


@pytest.fixture(params=["python", "c"])
def services(
    request: pytest.FixtureRequest, www: Path, serve: Any, c_helper: Any
) -> Callable[..., Target]:
    """services(interf=None) -> the protocol of services_helper.c, served by
    pylws_ffi in this process ([python]) or by the C helper ([c])."""

    def start(interf: str | None = None) -> Target:
        if request.param == "python":
            return PyServices(serve, www, interf)
        return c_helper("serve", str(www), interf or "any")

    return start


# ====================================================== 1. serve_http_file


@pytest.mark.parametrize("name", ["small.txt", "page.html", "empty.txt", "mid.bin"])
def test_serve_http_file_sends_status_type_length_and_body(
    services: Any, www: Path, name: str
) -> None:
    t = services()
    with socket.create_connection((LOCAL, t.port), timeout=10) as s:
        s.sendall(http_get("/" + name))
        status, headers, body = read_response(s, bytearray())
        m = t.wait_line(rf"completion (\d+) /{re.escape(name)}")
        assert is_open(s), "HTTP/1.1 without Connection: close must stay open"
    assert status == 200
    assert headers["content-type"] == content_type_of(name)
    assert headers["content-length"] == str((www / name).stat().st_size)
    assert body == (www / name).read_bytes()
    fd = m.group(1)
    assert t.matching(rf"serve {fd} /{re.escape(name)} 0")
    time.sleep(0.1)
    assert len(t.matching(r"completion .*")) == 1


def test_serve_http_file_accepts_str_bytes_and_path_and_checks_types(serve: Any, www: Path) -> None:
    results: list[Any] = []
    forms: list[Any] = [str(www / "small.txt"), os.fsencode(www / "small.txt"), www / "small.txt"]

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_HTTP:
            i = int(lws.payload(in_, len_)[1:])
            if i == 3:
                try:
                    lws.libwebsockets_serve_http_file(ctx, wsi, 42, "text/plain")
                except TypeError as e:
                    results.append(("TypeError", str(e)))
                return 1  # nothing written: 404
            kind = [b"text/plain", "text/plain", b"text/plain"][i]
            results.append(lws.libwebsockets_serve_http_file(ctx, wsi, forms[i], kind))
        return 0

    server = serve([("http", cb, 0)])
    for i in range(3):
        with socket.create_connection((LOCAL, server.port), timeout=10) as s:
            s.sendall(http_get(f"/{i}"))
            status, headers, body = read_response(s, bytearray())
            assert (status, headers["content-type"], body) == (200, "text/plain", b"hello, file\n")
    with socket.create_connection((LOCAL, server.port), timeout=10) as s:
        s.sendall(http_get("/3"))
        assert read_to_eof(s).startswith(b"HTTP/1.1 404 ")
    assert results[:3] == [0, 0, 0]
    assert results[3][0] == "TypeError"


def test_serve_http_file_content_type_none_is_octet_stream_as_null_in_c(
    serve: Any, www: Path
) -> None:
    """content_type None is C's NULL: application/octet-stream (the default
    of native/src/http_file.c); bad values raise before C is called."""
    results: list[Any] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_HTTP:
            path = lws.payload(in_, len_)
            if path == b"/bad":
                for args, exc in [
                    (("text/plain\r\nX-Injected: 1",), ValueError),
                    (("text\0plain",), ValueError),
                    ((42,), TypeError),
                ]:
                    with pytest.raises(exc) as info:
                        lws.libwebsockets_serve_http_file(ctx, wsi, www / "small.txt", *args)
                    results.append((exc.__name__, str(info.value)))
                with pytest.raises(ValueError, match="NUL"):
                    lws.libwebsockets_serve_http_file(ctx, wsi, b"small\0.txt", None)
                return 1  # nothing written: 404
            if path == b"/default":  # content_type left out
                results.append(lws.libwebsockets_serve_http_file(ctx, wsi, www / "small.txt"))
            else:
                results.append(lws.libwebsockets_serve_http_file(ctx, wsi, www / "small.txt", None))
        return 0

    server = serve([("http", cb, 0)])
    for path in ("/none", "/default"):
        with socket.create_connection((LOCAL, server.port), timeout=10) as s:
            s.sendall(http_get(path))
            status, headers, body = read_response(s, bytearray())
        assert (status, headers["content-type"], body) == (
            200,
            "application/octet-stream",
            b"hello, file\n",
        )
    with socket.create_connection((LOCAL, server.port), timeout=10) as s:
        s.sendall(http_get("/bad"))
        assert read_to_eof(s).startswith(b"HTTP/1.1 404 ")
    assert results[:2] == [0, 0]
    assert [kind for kind, _ in results[2:]] == ["ValueError", "ValueError", "TypeError"], results
    assert "CR or LF" in results[2][1] and "content_type" in results[4][1]


@pytest.mark.parametrize("name", ["missing.txt", "adir", "adir/"])
def test_serve_http_file_of_a_missing_file_or_a_directory_gives_404_and_nonzero(
    services: Any, name: str
) -> None:
    t = services()
    with socket.create_connection((LOCAL, t.port), timeout=10) as s:
        s.sendall(http_get("/" + name))
        data = read_to_eof(s)
    assert data.startswith(b"HTTP/1.1 404 "), data[:200]
    m = t.wait_line(rf"serve \d+ /{re.escape(name)} (-?\d+)")
    assert int(m.group(1)) != 0, "serve_http_file returned 0 for a file it could not serve"
    time.sleep(0.2)
    assert t.matching(r"completion .*") == [], "FILE_COMPLETION for a file never sent"


@pytest.mark.parametrize("pipelined", [False, True], ids=["one-by-one", "pipelined"])
def test_keep_alive_serves_files_in_order_with_one_completion_each(
    services: Any, www: Path, pipelined: bool
) -> None:
    t = services()
    names = ["mid.bin", "small.txt", "page.html", "empty.txt", "mid.bin"]
    with socket.create_connection((LOCAL, t.port), timeout=20) as s:
        buf = bytearray()
        got = []
        if pipelined:
            s.sendall(b"".join(http_get("/" + n) for n in names))
            got = [read_response(s, buf) for _ in names]
        else:
            for n in names:
                s.sendall(http_get("/" + n))
                got.append(read_response(s, buf))
                # the completion comes before the next request is read
                t.wait_lines(r"completion \d+ /.*", len(got))
        assert is_open(s)
        assert bytes(buf) == b""
    for n, (status, headers, body) in zip(names, got):
        assert status == 200
        assert headers["content-type"] == content_type_of(n)
        assert body == (www / n).read_bytes(), f"{n}: wrong body"
    completions = t.wait_lines(r"completion (\d+) (\S+)", len(names))
    time.sleep(0.2)
    completions = t.matching(r"completion (\d+) (\S+)")
    assert [m.group(2) for m in completions] == ["/" + n for n in names]
    assert len({m.group(1) for m in completions}) == 1, "not one connection"


def test_upgrade_pipelined_behind_a_file_request(services: Any, www: Path) -> None:
    """A file request, then a WebSocket upgrade and a frame, in one write:
    the file, then the 101, then the echo."""
    t = services()
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection((LOCAL, t.port), timeout=10) as s:
        s.sendall(
            http_get("/mid.bin")
            + (
                f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Protocol: svc-a\r\n\r\n"
            ).encode()
            + text("behind a file")
        )
        buf = bytearray()
        assert read_response(s, buf)[2] == (www / "mid.bin").read_bytes()
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            assert chunk, bytes(buf)
            buf += chunk
        head, _, rest = bytes(buf).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        ws = RawWs(s, rest)
        assert ws.next_text() == "behind a file"
    t.wait_line(r"completion \d+ /mid\.bin")
    t.wait_line(r"established svc-a \d+")


def test_callback_returning_1_after_serve_closes_only_after_the_whole_file(
    services: Any, www: Path
) -> None:
    t = services()
    with socket.create_connection((LOCAL, t.port), timeout=20) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        s.sendall(http_get("/close/mid.bin"))
        time.sleep(0.3)  # the server is choked: the rest waits in its file
        data = read_to_eof(s, 20)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert body == (www / "mid.bin").read_bytes(), f"{len(body)} bytes of {3 * MIB + 123}"
    t.wait_line(r"completion \d+ /close/mid\.bin")
    time.sleep(0.2)
    assert len(t.matching(r"completion .*")) == 1


def test_connection_close_or_http10_closes_after_the_file(services: Any, www: Path) -> None:
    t = services()
    for request in (
        http_get("/page.html", "Connection: close\r\n"),
        http_get("/page.html", version="1.0"),
    ):
        with socket.create_connection((LOCAL, t.port), timeout=10) as s:
            s.sendall(request)
            data = read_to_eof(s)
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and body == (www / "page.html").read_bytes()
    t.wait_lines(r"completion \d+ /page\.html", 2)


def test_file_completion_returning_nonzero_closes_the_connection(serve: Any, www: Path) -> None:
    calls: list[int] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_HTTP:
            assert lws.libwebsockets_serve_http_file(ctx, wsi, www / "page.html", "text/html") == 0
        elif reason == lws.LWS_CALLBACK_HTTP_FILE_COMPLETION:
            calls.append(lws.libwebsocket_get_socket_fd(wsi))
            return 1
        return 0

    server = serve([("http", cb, 0)])
    with socket.create_connection((LOCAL, server.port), timeout=10) as s:
        s.sendall(http_get("/x"))  # keep-alive, but the callback says close
        data = read_to_eof(s)
    assert data.partition(b"\r\n\r\n")[2] == (www / "page.html").read_bytes()
    assert len(calls) == 1


def test_serve_http_file_fragment_with_no_file_returns_minus_one(services: Any) -> None:
    t = services()
    # in the HTTP callback, before anything is served
    with socket.create_connection((LOCAL, t.port), timeout=10) as s:
        s.sendall(http_get("/fragment"))
        data = read_to_eof(s)
    assert data.endswith(b"\r\n\r\nfragment=-1"), data
    # on a WebSocket connection
    ws, fd = t.connect("svc-a")
    ws.send_text("fragment")
    assert ws.next_text() == "fragment -1"
    assert [m.group(1) for m in t.wait_lines(r"fragment \d+ (-?\d+)", 2)] == ["-1", "-1"]
    ws.close()


def test_serve_http_file_fragment_after_the_file_is_sent_returns_minus_one(
    serve: Any, www: Path
) -> None:
    got: list[int] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_HTTP:
            lws.libwebsockets_serve_http_file(ctx, wsi, www / "small.txt", "text/plain")
        elif reason == lws.LWS_CALLBACK_HTTP_FILE_COMPLETION:
            got.append(lws.libwebsockets_serve_http_file_fragment(ctx, wsi))
        return 0

    server = serve([("http", cb, 0)])
    with socket.create_connection((LOCAL, server.port), timeout=10) as s:
        s.sendall(http_get("/small.txt"))
        assert read_response(s, bytearray())[2] == b"hello, file\n"
        wait_for(lambda: got, what="FILE_COMPLETION")
    assert got == [-1]


def test_serve_http_file_on_a_websocket_fails_and_the_connection_goes_on(
    services: Any,
) -> None:
    t = services()
    ws, fd = t.connect("svc-a")
    ws.send_text("servefile")
    reply = ws.next_text()
    assert re.fullmatch(r"servefile -?\d+", reply) and reply != "servefile 0", reply
    ws.send_text("still a websocket?")
    assert ws.next_text() == "still a websocket?"
    ws.close()


@pytest.mark.parametrize("count", [40, 400])
def test_many_pipelined_file_requests_are_all_answered_in_order(
    services: Any, www: Path, count: int
) -> None:
    """400 requests of ~130 bytes: more than one request head's worth (16 KiB)
    arrives while the first file is going out."""
    t = services()
    names = ["small.txt", "page.html"]
    pad = "X-Padding: " + "p" * 80 + "\r\n"
    with socket.create_connection((LOCAL, t.port), timeout=20) as s:
        s.sendall(b"".join(http_get("/" + names[i % 2], pad) for i in range(count)))
        buf = bytearray()
        for i in range(count):
            try:
                status, _, body = read_response(s, buf)
            except (EOFError, ConnectionResetError, AssertionError) as e:
                raise AssertionError(f"request {i} of {count} unanswered: {e!r}") from None
            assert status == 200, (i, status, body[:100])
            assert body == (www / names[i % 2]).read_bytes(), i
    t.wait_lines(r"completion .*", count)


def test_concurrent_downloads_on_several_connections(services: Any, www: Path) -> None:
    t = services()
    socks = [socket.create_connection((LOCAL, t.port), timeout=20) for _ in range(4)]
    for i, s in enumerate(socks):
        s.sendall(http_get(["/mid.bin", "/page.html"][i % 2]) + http_get("/mid.bin"))
    for i, s in enumerate(socks):  # each read whole while the others wait
        buf = bytearray()
        first = read_response(s, buf)[2]
        assert first == (www / ["mid.bin", "page.html"][i % 2]).read_bytes(), i
        assert read_response(s, buf)[2] == (www / "mid.bin").read_bytes(), i
        s.close()
    assert len(t.wait_lines(r"completion \d+ /\S+", 8)) == 8


def test_client_leaving_in_the_middle_of_a_file_releases_it(
    services: Any, big_file: tuple[Path, str]
) -> None:
    t = services()
    with socket.create_connection((LOCAL, t.port), timeout=10) as s:  # warm up
        s.sendall(http_get("/small.txt", "Connection: close\r\n"))
        read_to_eof(s)
    time.sleep(0.2)
    before = open_fds(t.pid)
    for _ in range(5):
        s = socket.create_connection((LOCAL, t.port), timeout=10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        s.sendall(http_get("/big.bin"))
        assert len(s.recv(65536)) > 0
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # reset in the middle of the file
    wait_for(lambda: open_fds(t.pid) <= before, what="the file and socket fds to close")
    # the server goes on
    with socket.create_connection((LOCAL, t.port), timeout=10) as s:
        s.sendall(http_get("/small.txt"))
        assert read_response(s, bytearray())[2] == b"hello, file\n"
    t.wait_lines(r"completion \d+ /small\.txt", 2)
    assert t.matching(r"completion \d+ /big\.bin") == [], "completion for files never sent"


def test_50_mib_file_to_a_slow_reader_is_not_held_in_memory(
    services: Any, big_file: tuple[Path, str]
) -> None:
    path, sha = big_file
    t = services()
    # warm up (first request allocations, page cache)
    with socket.create_connection((LOCAL, t.port), timeout=10) as s:
        s.sendall(http_get("/small.txt", "Connection: close\r\n"))
        read_to_eof(s)
    baseline = rss(t.pid)
    peak = baseline
    digest = hashlib.sha256()
    got = 0
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.settimeout(20)
        s.connect((LOCAL, t.port))
        s.sendall(http_get("/big.bin", "Connection: close\r\n"))
        buf = bytearray()
        status, headers = read_head(s, buf)
        assert status == 200 and int(headers["content-length"]) == BIG_FILE_SIZE
        digest.update(buf)
        got = len(buf)
        # slow: 16 KiB every 10 ms for 2 s, watching the server's memory
        slow_until = time.monotonic() + 2.0
        while time.monotonic() < slow_until:
            chunk = s.recv(16384)
            assert chunk, "EOF in the slow phase"
            digest.update(chunk)
            got += len(chunk)
            peak = max(peak, rss(t.pid))
            time.sleep(0.01)
        assert got < BIG_FILE_SIZE // 2, "not a slow reader: the test is wrong"
        # then the rest as fast as it comes
        while True:
            chunk = s.recv(MIB)
            if not chunk:
                break
            digest.update(chunk)
            got += len(chunk)
            if got % (8 * MIB) < len(chunk):
                peak = max(peak, rss(t.pid))
    assert got == BIG_FILE_SIZE
    assert digest.hexdigest() == sha, "the body differs from the file"
    grew = peak - baseline
    assert grew < 8 * MIB, f"the server grew by {grew / MIB:.1f} MiB serving a 50 MiB file"
    t.wait_line(r"completion \d+ /big\.bin")


def test_c_serve_http_file_with_a_null_content_type(c_helper: Any, www: Path) -> None:
    t = c_helper("serve", str(www))
    with socket.create_connection((LOCAL, t.port), timeout=10) as s:
        s.sendall(http_get("/nullct/small.txt"))
        status, headers, body = read_response(s, bytearray())
    assert status == 200 and body == b"hello, file\n"
    assert headers.get("content-type"), "no Content-Type at all"
    t.wait_line(r"completion \d+ /nullct/small\.txt")


# =========================================================== 2. rx flow control


def msgs(first: int, count: int) -> list[str]:
    return [f"m{i:04d}" for i in range(first, first + count)]


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


def _connect_mix(t: Target) -> dict[str, list[tuple[RawWs, int]]]:
    conns: dict[str, list[tuple[RawWs, int]]] = {"svc-a": [], "svc-b": [], "http": []}
    for name, n in (("svc-a", 3), ("svc-b", 2), ("http", 1)):
        for _ in range(n):
            conns[name].append(t.connect(None if name == "http" else name))
    return conns


def test_writable_all_protocol_gives_one_writeable_to_each_connection_of_it_only(
    services: Any,
) -> None:
    t = services()
    conns = _connect_mix(t)
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


# ================================================================== 4. broadcast


def test_broadcast_reaches_every_connection_of_that_protocol_only(services: Any) -> None:
    t = services()
    conns = _connect_mix(t)
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


# ========================================================== 5. get_peer_addresses


def test_peer_addresses_of_an_ipv4_client_on_a_dual_stack_server(services: Any) -> None:
    t = services(None)
    ws, fd = t.connect("svc-a")
    ws.send_text("peer")
    name, rip = ws.next_text().split(" ")
    assert rip == "127.0.0.1"
    assert name and name in reverse_names("127.0.0.1"), name
    # the same through the main loop, and for fds that are no peer
    t.command(f"peer {fd}")
    t.wait_line(rf"peer {fd} name=\[{re.escape(name)}\] rip=\[127\.0\.0\.1\]")
    for bad in (-1, 0, 9999):  # no fd; not a socket (stdin); no such fd
        t.command(f"peer {bad}")
        t.wait_line(rf"peer {bad} name=\[\] rip=\[\]")
    ws.close()


def test_peer_addresses_of_an_ipv4_client_on_an_ipv4_server(services: Any) -> None:
    t = services("127.0.0.1")
    ws, fd = t.connect("svc-a")
    ws.send_text("peer")
    name, rip = ws.next_text().split(" ")
    assert (rip, name in reverse_names("127.0.0.1")) == ("127.0.0.1", True)
    ws.close()


def test_peer_addresses_of_an_ipv6_client(services: Any) -> None:
    if not ipv6_loopback():
        pytest.skip("no IPv6 loopback on this host")
    t = services(None)
    ws, fd = t.connect("svc-a", host="::1")
    ws.send_text("peer")
    name, rip = ws.next_text().split(" ")
    assert rip == "::1"
    assert name and name in reverse_names("::1"), name
    ws.close()


def test_c_peer_addresses_truncate_into_small_buffers_and_stay_terminated(
    c_helper: Any, www: Path
) -> None:
    t = c_helper("serve", str(www))
    ws, fd = t.connect("svc-a")
    ws.send_text("peer")
    name, rip = ws.next_text().split(" ")
    for n_len, r_len in ((4, 4), (1, 1), (0, 0), (len(name), len(rip)), (len(name) + 1, 10)):
        t.command(f"small {fd} {n_len} {r_len}")
        m = t.wait_line(
            rf"small {fd} {n_len} {r_len} name=\[(.*)\] rip=\[(.*)\] nul=(\d) guard=(\d)"
        )
        assert m.group(1) == name[: max(n_len - 1, 0)], (n_len, m.group(0))
        assert m.group(2) == rip[: max(r_len - 1, 0)], (r_len, m.group(0))
        assert m.group(3) == "1", f"not NUL-terminated within its length: {m.group(0)}"
        assert m.group(4) == "1", f"wrote past the given length: {m.group(0)}"
    ws.close()


def test_python_peer_addresses_fill_c_buffers_as_c_does(serve: Any) -> None:
    fds: list[int] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_ESTABLISHED:
            fds.append(lws.libwebsocket_get_socket_fd(wsi))
        return 0

    server = serve([("p", cb, 0)], interf=LOCAL)
    ws = RawWs.connect(server.port)
    wait_for(lambda: fds)
    fd = fds[0]

    def at_loop() -> dict[str, Any]:
        out: dict[str, Any] = {"full": lws.libwebsockets_get_peer_addresses(fd)}
        out["small"] = lws.libwebsockets_get_peer_addresses(fd, None, 4, None, 4)
        out["tiny"] = lws.libwebsockets_get_peer_addresses(fd, None, 1, None, 1)
        name = ffi.new("char[]", b"X" * 15)
        rip = ffi.new("char[]", b"X" * 15)
        lws.libwebsockets_get_peer_addresses(fd, name, 6, rip, 6)
        out["c"] = (ffi.buffer(name)[:], ffi.buffer(rip)[:])
        with socket.socket() as listening:
            listening.bind((LOCAL, 0))
            listening.listen()
            out["listening"] = lws.libwebsockets_get_peer_addresses(listening.fileno())
        with open(os.devnull) as f:
            out["file"] = lws.libwebsockets_get_peer_addresses(f.fileno())
        out["negative"] = lws.libwebsockets_get_peer_addresses(-1)
        return out

    out = server.call(at_loop)
    name, rip = out["full"]
    assert rip == "127.0.0.1" and name in reverse_names(rip)
    assert out["small"] == (name[:3], "127")
    assert out["tiny"] == ("", "")
    c_name, c_rip = out["c"]
    # 5 characters and a NUL, nothing written beyond the 6 bytes given
    assert c_rip == b"127.0\x00" + b"X" * 9 + b"\x00", c_rip
    assert c_name == name[:5].encode() + b"\x00" + b"X" * 9 + b"\x00", c_name
    assert out["listening"] == ("", "")
    assert out["file"] == ("", "")
    assert out["negative"] == ("", "")
    ws.close()


def test_peer_addresses_in_filter_network_connection(serve: Any) -> None:
    seen: list[tuple[str, str]] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
            seen.append(lws.libwebsockets_get_peer_addresses(int(ffi.cast("intptr_t", user))))
        return 0

    server = serve([("p", cb, 0)])
    hosts = [LOCAL] + (["::1"] if ipv6_loopback() else [])
    for host in hosts:
        RawWs.connect(server.port, host=host).close()
    assert [rip for _, rip in seen] == hosts
    assert all(name in reverse_names(rip) for name, rip in seen), seen


# ======================================================== 6. hangup_on_client


def test_hangup_on_client_closes_the_connection_and_closed_comes_once(services: Any) -> None:
    t = services()
    main_ws, main_fd = t.connect("svc-a")
    self_ws, self_fd = t.connect("svc-a")
    victim_ws, victim_fd = t.connect("svc-b")
    killer_ws, killer_fd = t.connect("svc-b")
    bystander, by_fd = t.connect("svc-a")

    t.command(f"hangup {main_fd}")  # from the main loop
    assert main_ws.frames_until_eof() == [], "hangup is not a close handshake"
    self_ws.send_text("hangup")  # from its own RECEIVE
    assert self_ws.frames_until_eof() == []
    killer_ws.send_text(f"hangup:{victim_fd}")  # from another connection's callback
    assert killer_ws.next_text() == f"hung up {victim_fd}"
    assert victim_ws.frames_until_eof() == []
    t.command("hangup 9999")  # no such connection: nothing happens
    t.wait_line(r"ok hangup 9999")

    for name, fd in (("svc-a", main_fd), ("svc-a", self_fd), ("svc-b", victim_fd)):
        t.wait_line(rf"closed {name} {fd}")
    time.sleep(0.3)
    closed = t.matching(r"closed (\S+) (\d+)")
    assert sorted((m.group(1), int(m.group(2))) for m in closed) == sorted(
        [("svc-a", main_fd), ("svc-a", self_fd), ("svc-b", victim_fd)]
    ), "CLOSED not exactly once per hung-up WebSocket"
    for ws in (killer_ws, bystander):
        ws.send_text("still here")
        assert ws.next_text() == "still here"
    for ws in (main_ws, self_ws, victim_ws, killer_ws, bystander):
        ws.close()


def test_hangup_on_an_http_connection_closes_it_without_closed(
    services: Any, big_file: tuple[Path, str]
) -> None:
    t = services()
    s = socket.create_connection((LOCAL, t.port), timeout=10)
    s.sendall(http_get("/small.txt"))
    read_response(s, bytearray())
    fd = int(t.wait_line(r"http (\d+) /small\.txt").group(1))
    t.command(f"hangup {fd}")
    assert read_to_eof(s) == b""
    s.close()
    time.sleep(0.2)
    assert t.matching(r"closed .*") == []
    # and in the middle of a file (50 MiB: more than the socket buffers take),
    # with the client not reading: the server neither sends on nor spins
    s = socket.create_connection((LOCAL, t.port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    s.sendall(http_get("/big.bin"))
    assert s.recv(4096)
    fd = int(t.wait_line(r"http (\d+) /big\.bin").group(1))
    time.sleep(0.2)
    t.command(f"hangup {fd}")
    t.wait_line(rf"ok hangup {fd}")
    cpu = t.cpu_seconds()
    time.sleep(1.0)
    cpu = t.cpu_seconds() - cpu
    assert cpu < 0.3, f"the service loop used {cpu:.2f} s of CPU in 1 s after the hangup"
    data = read_to_eof(s, 20)
    assert len(data) < BIG_FILE_SIZE // 2, "the file went on after the hangup"
    s.close()
    time.sleep(0.2)
    assert t.matching(r"completion \d+ /big\.bin") == [], "FILE_COMPLETION after a hangup"


def test_hangup_on_client_with_a_destroyed_context_raises(serve: Any) -> None:
    server = serve([("p", lambda *a: 0, 0)])
    ctx = server.ctx
    server.destroy()
    with pytest.raises(ValueError):
        lws.libwebsockets_hangup_on_client(ctx, 5)
    with pytest.raises(ValueError):
        lws.libwebsocket_canonical_hostname(ctx)


# ===================================================== 7. canonical_hostname


def _expected_canonical() -> str:
    host = socket.gethostname()
    try:
        infos = socket.getaddrinfo(host, None, 0, 0, 0, socket.AI_CANONNAME)
    except OSError:
        return host
    return infos[0][3] or host if infos else host


def test_canonical_hostname_from_python() -> None:
    names = {}
    for options in (0, lws.LWS_SERVER_OPTION_SKIP_SERVER_CANONICAL_NAME):
        ctx = lws.libwebsocket_create_context(
            lws.CONTEXT_PORT_NO_LISTEN, None, [("p", lambda *a: 0, 0)], options=options
        )
        try:
            names[options] = lws.libwebsocket_canonical_hostname(ctx)
        finally:
            lws.libwebsocket_context_destroy(ctx)
    assert names[0] and isinstance(names[0], str)
    assert names[0] == _expected_canonical()
    assert names[lws.LWS_SERVER_OPTION_SKIP_SERVER_CANONICAL_NAME] == socket.gethostname()


def test_canonical_hostname_from_c(helper_exe: Path) -> None:
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:exitcode=99")
    out = subprocess.run(
        [str(helper_exe), "hostname", "0"], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert not [m for m in SANITIZER_MARKERS if m in out.stderr], out.stderr
    names = dict(re.findall(r"hostname (\d+) \[(.*)\]", out.stdout))
    assert names["0"] and names["0"] == _expected_canonical()
    assert names[str(lws.LWS_SERVER_OPTION_SKIP_SERVER_CANONICAL_NAME)] == socket.gethostname()


# =========================================================== 8. set_timeout


def test_set_timeout_closes_with_1001_and_zero_seconds_cancels(services: Any) -> None:
    t = services()
    timed, timed_fd = t.connect("svc-a")
    kept, kept_fd = t.connect("svc-a")
    kept.send_text("timeout:1")
    assert kept.next_text() == "timeout 1"
    kept.send_text("timeout:0")  # the same reason, 0 seconds: cancelled
    assert kept.next_text() == "timeout 0"
    timed.send_text("timeout:1")
    assert timed.next_text() == "timeout 1"
    t0 = time.monotonic()
    frames = timed.frames_until_eof(10)
    elapsed = time.monotonic() - t0
    assert [f[0] for f in frames] == [0x88] and close_code(frames[0][1]) == 1001, frames
    assert 0.9 <= elapsed <= 3.0, f"a 1 s timeout fired after {elapsed:.2f} s"
    t.wait_line(rf"closed svc-a {timed_fd}")
    time.sleep(2.5 - elapsed if elapsed < 2.5 else 0)
    kept.send_text("alive")
    assert kept.next_text() == "alive"
    # set from the main loop too
    t.command(f"timeout {kept_fd} 1")
    t.wait_line(rf"ok timeout {kept_fd} 1")
    frames = kept.frames_until_eof(10)
    assert [f[0] for f in frames] == [0x88] and close_code(frames[0][1]) == 1001
    t.wait_lines(r"closed .*", 2)
    time.sleep(0.1)
    assert len(t.matching(r"closed .*")) == 2
    timed.close()
    kept.close()


# ================================================================ 10. dual stack


def _echo(port: int, host: str) -> None:
    ws = RawWs.connect(port, host=host, protocol="svc-a")
    ws.send_text("over " + host)
    assert ws.next_text() == "over " + host
    ws.close()


def test_c_dual_stack_listening(c_helper: Any, www: Path) -> None:
    """(The same from Python is test_server_api.py's.)"""
    both = c_helper("serve", str(www), "any")
    _echo(both.port, LOCAL)
    v4 = c_helper("serve", str(www), LOCAL)
    _echo(v4.port, LOCAL)
    if not ipv6_loopback():
        pytest.skip("no IPv6 loopback on this host (IPv4 was checked)")
    _echo(both.port, "::1")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("::1", v4.port), timeout=5).close()
    v6 = c_helper("serve", str(www), "::1")
    _echo(v6.port, "::1")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((LOCAL, v6.port), timeout=5).close()
    # the peer address of an IPv4 client on the dual-stack socket is plain IPv4
    ws, fd = both.connect("svc-a")
    ws.send_text("peer")
    assert ws.next_text().split(" ")[1] == "127.0.0.1"
    ws.close()


# ================================================ 11. FILTER_PROTOCOL_CONNECTION, from C

# (The same from Python is test_server_api.py's; here services_helper.c reads
# the tokens as a classic C program does, under the sanitizers.)

FILTER_TOKENS = [
    "uri", "host", "origin", "protocol", "upgrade", "connection", "key", "version",
    "sworigin", "extensions", "key1", "key2", "draft", "accept", "nonce",
]  # fmt: skip


def parse_filter(line: str) -> dict[str, Any]:
    """services_helper.c's "filter P FD wsi=Q in=I len=L nul=N name=[v]|name=- ..."
    as {"to", "fd", "wsi", "in", "len", "nul", name: value or None}."""
    m = re.fullmatch(r"filter (\S+) (\d+) wsi=(\S+) in=(\d) len=(\d+) nul=(\d)(.*)", line)
    assert m, line
    got: dict[str, Any] = {
        "to": m.group(1),
        "fd": int(m.group(2)),
        "wsi": m.group(3),
        "in": int(m.group(4)),
        "len": int(m.group(5)),
        "nul": int(m.group(6)),
    }
    rest = m.group(7)
    for name in FILTER_TOKENS:
        t = re.match(rf" {name}=(?:-|\[([^\]]*)\])", rest)
        assert t, (name, rest)
        got[name] = t.group(1)
        rest = rest[t.end() :]
    assert rest == "", rest
    return got


def ws_request(path: str, *headers: str, key: str | None = None, version: int = 13) -> bytes:
    """An upgrade request with exactly these extra header lines."""
    key = key or base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        f"Sec-WebSocket-Version: {version}",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def filter_of(t: Target, request: bytes) -> tuple[dict[str, Any], int, dict[str, str], bytes]:
    """Send request on a new connection: (the filter's tokens, the answer's
    status and headers, its body up to EOF for a refusal).  A 101 is closed
    again at once."""
    before = len(t.matching(r"filter .*"))
    with socket.create_connection((LOCAL, t.port), timeout=10) as s:
        s.sendall(request)
        buf = bytearray()
        status, headers = read_head(s, buf)
        body = bytes(buf) + read_to_eof(s) if status != 101 else b""
    line = t.wait_lines(r"filter .*", before + 1)[before].group(0)
    return parse_filter(line), status, headers, body


def test_c_filter_goes_to_the_asked_protocol_with_c_string_tokens(c_helper: Any, www: Path) -> None:
    t = c_helper("serve", str(www))
    key = base64.b64encode(os.urandom(16)).decode()
    got, status, headers, _ = filter_of(
        t,
        ws_request(
            "/chat/room?id=7&x=%20y",
            "Host: example.test:8080",
            "Origin: http://origin.test",
            "Sec-WebSocket-Protocol: nonesuch, svc-b",
            key=key,
        ),
    )
    assert status == 101 and headers["sec-websocket-protocol"] == "svc-b"
    # svc-b's own callback, not protocols[0]'s, and the connection is svc-b's
    # already (libwebsockets_get_protocol in the filter, as classically)
    assert got["to"] == "svc-b" and got["wsi"] == "svc-b"
    # user = the tokens; in = NULL, len = 0; each token ends at its token_len
    assert got["in"] == 0 and got["len"] == 0 and got["nul"] == 1
    assert got["uri"] == "/chat/room?id=7&x=%20y"
    assert got["host"] == "example.test:8080"
    assert got["origin"] == "http://origin.test"
    assert got["protocol"] == "nonesuch, svc-b"
    assert got["key"] == key and got["version"] == "13"
    assert got["upgrade"] == "websocket" and got["connection"] == "Upgrade"
    for absent in ("sworigin", "extensions", "key1", "key2", "draft", "accept", "nonce"):
        assert got[absent] is None, (absent, got[absent])
    t.wait_line(rf"established svc-b {got['fd']}")

    # no protocol asked for: protocols[0]'s, and no Origin/Protocol tokens
    got, status, _, _ = filter_of(t, ws_request("/", "Host: h"))
    assert status == 101
    assert (got["to"], got["wsi"], got["uri"], got["host"]) == ("http", "http", "/", "h")
    assert got["origin"] is None and got["protocol"] is None and got["nul"] == 1

    # names in any case, blanks around values, the last header's value ending
    # at the CR before the blank line, an empty value (present: "")
    got, status, _, _ = filter_of(
        t,
        (
            "GET /x HTTP/1.1\r\nhost:   spaced.test  \r\nUPGRADE: websocket\r\n"
            "connection: keep-alive, Upgrade\r\nsec-websocket-version: 13\r\n"
            "Sec-WebSocket-Extensions:\r\norigin:\thttp://tab.test\t\r\n"
            f"sec-websocket-key: {key}\r\nSec-WebSocket-Protocol: svc-a\r\n\r\n"
        ).encode(),
    )
    assert status == 101 and (got["to"], got["wsi"]) == ("svc-a", "svc-a")
    assert got["host"] == "spaced.test" and got["origin"] == "http://tab.test"
    assert got["upgrade"] == "websocket" and got["connection"] == "keep-alive, Upgrade"
    assert got["protocol"] == "svc-a" and got["extensions"] == "" and got["nul"] == 1

    # version 8 (hybi-10) names its origin Sec-WebSocket-Origin
    got, status, _, _ = filter_of(
        t, ws_request("/v8", "Host: h", "Sec-WebSocket-Origin: http://old.test", version=8)
    )
    assert status == 101 and got["version"] == "8"
    assert got["sworigin"] == "http://old.test" and got["origin"] is None

    # one filter per upgrade, none for plain HTTP
    with socket.create_connection((LOCAL, t.port), timeout=10) as s:
        s.sendall(http_get("/small.txt"))
        assert read_response(s, bytearray())[0] == 200
    t.wait_line(r"completion \d+ /small\.txt")
    assert len(t.matching(r"filter .*")) == 4
    assert len(t.matching(r"established .*")) == 4


def test_c_filter_returning_nonzero_refuses_with_403(c_helper: Any, www: Path) -> None:
    t = c_helper("serve", str(www))
    got, status, headers, body = filter_of(
        t, ws_request("/refuse/this", "Host: h", "Sec-WebSocket-Protocol: svc-a")
    )
    assert status == 403, (status, headers, body)
    assert got["to"] == "svc-a" and got["uri"] == "/refuse/this"
    assert int(headers["content-length"]) == len(body)  # then EOF
    assert "sec-websocket-accept" not in headers

    # refused behind a file on a keep-alive connection (whose per-session
    # area protocols[0] had)
    with socket.create_connection((LOCAL, t.port), timeout=10) as s:
        s.sendall(http_get("/small.txt") + ws_request("/refuse", "Host: h"))
        buf = bytearray()
        assert read_response(s, buf)[0] == 200
        assert read_response(s, buf)[0] == 403
        assert bytes(buf) + read_to_eof(s) == b""
    t.wait_lines(r"filter http \d+ .* uri=\[/refuse\] .*", 1)

    # a refused connection was never established: no ESTABLISHED, no CLOSED
    ws, fd = t.connect("svc-a")  # and the server goes on
    ws.send_text("still here")
    assert ws.next_text() == "still here"
    ws.close()
    t.wait_line(rf"closed svc-a {fd}")
    assert [m.group(0) for m in t.matching(r"(established|closed) .*")] == [
        f"established svc-a {fd}",
        f"closed svc-a {fd}",
    ]
    assert len(t.matching(r"filter .*")) == 3


# ============================================ 12. remaining_packet_payload, from C


def rx_pieces(t: Target, fd: int, count: int) -> list[tuple[int, int, int]]:
    """The first ``count`` "rx FD LEN REMAINING FINAL" lines for fd."""
    return [
        (int(m.group(1)), int(m.group(2)), int(m.group(3)))
        for m in t.wait_lines(rf"rx {fd} (\d+) (\d+) (\d)", count)
    ]


def frames_of(pieces: list[tuple[int, int, int]]) -> list[list[tuple[int, int, int]]]:
    """Pieces grouped by frame: a frame ends at the piece with 0 remaining."""
    frames: list[list[tuple[int, int, int]]] = [[]]
    for p in pieces:
        frames[-1].append(p)
        if p[1] == 0:
            frames.append([])
    assert frames[-1] == [], f"pieces after the last frame's end: {frames[-1]}"
    return frames[:-1]


def check_countdown(frame_pieces: list[tuple[int, int, int]], frame_len: int) -> None:
    got = 0
    for length, remaining, _ in frame_pieces:
        assert length > 0, frame_pieces
        got += length
        assert got + remaining == frame_len, (got, remaining, frame_len)
    assert frame_pieces[-1][1] == 0


def send_slowly(ws: RawWs, data: bytes, chunk: int = 64 * 1024) -> None:
    """In chunks a little apart, so that a frame arrives in several reads."""
    for i in range(0, len(data), chunk):
        ws.sock.sendall(data[i : i + chunk])
        time.sleep(0.002)


def test_c_remaining_packet_payload_counts_down_over_the_pieces(c_helper: Any, www: Path) -> None:
    t = c_helper("serve", str(www))
    ws, fd = t.connect("svc-a")
    ws.send_text("rxlog")
    assert ws.next_text() == "rxlog"
    t.wait_line(rf"ok rxlog {fd}")
    seen = 0

    # one large binary frame
    big = 3 * MIB + 123
    send_slowly(ws, frame(0x2, os.urandom(big)))
    assert ws.next_text(30) == f"rx-done {big}"
    t.wait_line(rf"rx {fd} \d+ 0 1")
    pieces = rx_pieces(t, fd, len(t.matching(rf"rx {fd} .*")))
    [only] = frames_of(pieces)
    assert len(only) > 1, "a 3 MiB frame came in one RECEIVE"
    check_countdown(only, big)
    assert [p[2] for p in only] == [0] * (len(only) - 1) + [1]
    seen = len(pieces)

    # a message of two frames: the count is per frame, FINAL only at the end
    first, second = MIB + 7, 2 * MIB
    send_slowly(ws, frame(0x2, os.urandom(first), fin=False) + frame(0x0, os.urandom(second)))
    assert ws.next_text(30) == f"rx-done {first + second}"
    t.wait_lines(rf"rx {fd} \d+ 0 1", 2)
    pieces = rx_pieces(t, fd, len(t.matching(rf"rx {fd} .*")))[seen:]
    one, two = frames_of(pieces)
    check_countdown(one, first)
    check_countdown(two, second)
    assert all(p[2] == 0 for p in one)
    assert [p[2] for p in two] == [0] * (len(two) - 1) + [1]
    seen += len(pieces)

    # a small frame: one piece, nothing remaining
    ws.send(0x1, b"0123456789")
    assert ws.next_text() == "rx-done 10"
    t.wait_lines(rf"rx {fd} \d+ 0 1", 3)
    assert rx_pieces(t, fd, seen + 1)[seen:] == [(10, 0, 1)]
    ws.close()
    t.wait_line(rf"closed svc-a {fd}")

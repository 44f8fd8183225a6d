"""The harness of the server-services tests (tests/services/): the files
served, the in-process server, the two implementations of the little
protocol (Python: PyServices; C: tests/c/services_helper.c) the tests drive.

The tests: the server services, against real peers, from Python and from C.

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

import contextlib
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from servers import ROOT, SANITIZER_MARKERS, asan_build

import pylws_ffi as lws
from pylws_ffi import ffi
from support.raw import LOCAL, MIB, RawWs, addr
from support.served import ServedContext

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


def rotated_block(block: bytes, i: int) -> bytes:
    k = (i * 4099) % len(block)
    return block[k:] + block[:k]


CONTENT_TYPES = {
    ".html": "text/html",
    ".txt": "text/plain; charset=utf-8",
    ".png": "image/png",
}


def content_type_of(path: str) -> str:
    return CONTENT_TYPES.get(os.path.splitext(path)[1], "application/octet-stream")


# ====================================================== the in-process server


#: the in-process server (support/served.py)
Server = ServedContext


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


# ---- shared by several sections


def msgs(first: int, count: int) -> list[str]:
    return [f"m{i:04d}" for i in range(first, first + count)]


def connect_mix(t: Target) -> dict[str, list[tuple[RawWs, int]]]:
    conns: dict[str, list[tuple[RawWs, int]]] = {"svc-a": [], "svc-b": [], "http": []}
    for name, n in (("svc-a", 3), ("svc-b", 2), ("http", 1)):
        for _ in range(n):
            conns[name].append(t.connect(None if name == "http" else name))
    return conns

#!/usr/bin/env python3
"""Memory per idle WebSocket connection: open N connections to an echo
server, complete each handshake and one message, then compare the server's
resident memory (VmRSS) before and after.  Kernel socket buffers are not in
RSS; this measures what the server process itself keeps per connection.

    python bench/idle_memory.py [--server c|python|websockets] [-n 5000]

The C server is the release build made by bench/run.py
(bench/build-release/echo_server); build it with
`meson setup bench/build-release --buildtype=release -Dpython=false`, then
`meson compile -C bench/build-release`.
"""

from __future__ import annotations

import argparse
import base64
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVERS = {
    "c": [str(ROOT / "bench" / "build-release" / "echo_server"), "--port"],
    "python": [sys.executable, str(ROOT / "examples" / "echo_server.py"), "--port"],
    "websockets": [sys.executable, str(ROOT / "bench" / "websockets_echo.py"), "--port"],
}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def open_connection(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("server closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(head[:60])
    # one masked 4-byte text message and its echo, so the connection has
    # been through the receive and send paths once
    s.sendall(b"\x81\x84\x00\x00\x00\x00ping")
    reply = b""
    while len(reply) < 6:
        reply += s.recv(64)
    return s


def measure(kind: str, count: int) -> tuple[float, int, int]:
    port = free_port()
    argv = SERVERS[kind] + [str(port)]
    if kind == "c" and not Path(argv[0]).exists():
        sys.exit(f"build the C server first: {argv[0]} is missing (see --help)")
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conns: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        # warm up: the first connections allocate the shared buffers
        warm = [open_connection(port) for _ in range(20)]
        time.sleep(0.3)
        before = rss_kib(proc.pid)
        conns = [open_connection(port) for _ in range(count)]
        time.sleep(0.5)
        after = rss_kib(proc.pid)
        conns += warm
        return (after - before) * 1024 / count, before, after
    finally:
        for s in conns:
            s.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", action="append", choices=list(SERVERS))
    ap.add_argument("-n", "--connections", type=int, default=5000)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.connections + 1000), hard))

    header = ("server", "connections", "RSS before", "RSS after", "per conn")
    print("{:<12} {:>11} {:>11} {:>10} {:>9}".format(*header))
    for kind in args.server or ["c", "python", "websockets"]:
        per, before, after = measure(kind, args.connections)
        print(
            f"{kind:<12} {args.connections:>11} {before:>8} KiB {after:>7} KiB "
            f"{per / 1024:>6.2f} KiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

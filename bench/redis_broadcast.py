#!/usr/bin/env python3
"""Broadcast through the Redis backplane: deliveries per second and latency.

The C demo server (examples/test-server, a release build) relays every
lws-mirror-protocol message through libwebsockets_broadcast.  One publisher
connection sends fixed-size messages carrying their send time; ``--conns``
receiving connections count the frames they get and the delay of each.

  without Redis: one server process (--workers 1, so the mirror goes through
                 libwebsockets_broadcast too), every connection on it
  with Redis:    two server processes attached to one redis-server (started
                 here on a free loopback port), the connections split between
                 them, the publisher on the first

Throughput: ``--burst`` messages sent back to back, deliveries (messages x
receiving connections) per second until the last one arrived everywhere.
Latency: ``--paced`` messages at ``--rate`` per second, publish -> receive,
p50/p99 over every delivery (and over the other process's deliveries alone).

    python bench/redis_broadcast.py [--server build/test-server] [--conns 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = 40  # bytes of each message: "P" seq(9) t_ns(20) padding
FRAME = 2 + PAYLOAD  # unmasked server frame, 7-bit length


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(port)


class Receiver(asyncio.Protocol):
    def __init__(self, stats: Stats, remote: bool) -> None:
        self.stats = stats
        self.remote = remote
        self.buf = b""
        self.head_done = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        if not self.head_done.done():
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            assert buf.startswith(b"HTTP/1.1 101"), buf[:100]
            buf = buf[end + 4 :]
            self.head_done.set_result(None)
        n = len(buf) // FRAME
        now = time.perf_counter_ns()
        st = self.stats
        for i in range(n):
            frame = buf[i * FRAME : (i + 1) * FRAME]
            if frame[1] != PAYLOAD or frame[2:3] != b"P":
                continue  # a probe
            st.count += 1
            if st.measure:
                sent = int(frame[12:32])
                st.delays.append(now - sent)
                if self.remote:
                    st.remote_delays.append(now - sent)
        self.buf = buf[n * FRAME :]


class Stats:
    def __init__(self) -> None:
        self.count = 0
        self.measure = False
        self.delays: list[int] = []
        self.remote_delays: list[int] = []


def handshake(port: int) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: lws-mirror-protocol\r\n\r\n"
    ).encode()


def masked(payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + body


def message(seq: int) -> bytes:
    m = b"P%09d%020d" % (seq, time.perf_counter_ns())
    return m + b"." * (PAYLOAD - len(m))


async def run(ports: list[int], conns: int, burst: int, paced: int, rate: float) -> dict:
    loop = asyncio.get_running_loop()
    stats = Stats()
    receivers = []
    for i in range(conns):
        port = ports[i % len(ports)]
        tr, proto = await loop.create_connection(
            lambda p=port: Receiver(stats, p != ports[0]), "127.0.0.1", port
        )
        tr.write(handshake(port))
        await proto.head_done
        receivers.append(tr)
    reader, writer = await asyncio.open_connection("127.0.0.1", ports[0])
    writer.write(handshake(ports[0]))
    await reader.readuntil(b"\r\n\r\n")

    async def drain_publisher() -> None:  # its own copies of the mirror
        while await reader.read(65536):
            pass

    drain = asyncio.ensure_future(drain_publisher())
    # linked: a message reaches every connection
    deadline = time.monotonic() + 20
    while True:
        stats.count = 0
        writer.write(masked(message(0)))
        await asyncio.sleep(0.3)
        if stats.count >= conns:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the servers did not link through Redis")
    await asyncio.sleep(0.3)

    stats.count = 0
    t0 = time.perf_counter()
    for k in range(burst):
        writer.write(masked(message(k)))
    want = burst * conns
    while stats.count < want and time.perf_counter() - t0 < 60:
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - t0
    got = stats.count

    await asyncio.sleep(0.5)
    stats.measure = True
    for k in range(paced):
        writer.write(masked(message(k)))
        await asyncio.sleep(1 / rate)
    await asyncio.sleep(1.0)
    stats.measure = False
    drain.cancel()
    writer.close()
    for tr in receivers:
        tr.close()

    def pct(values: list[int], q: float) -> float:
        if not values:
            return float("nan")
        return statistics.quantiles(values, n=100)[int(q) - 1] / 1e6

    return {
        "deliveries_per_s": got / elapsed,
        "complete": got == want,
        "p50_ms": pct(stats.delays, 50),
        "p99_ms": pct(stats.delays, 99),
        "remote_p50_ms": pct(stats.remote_delays, 50),
        "remote_p99_ms": pct(stats.remote_delays, 99),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", default=str(ROOT / "build" / "test-server"))
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--burst", type=int, default=200)
    ap.add_argument("--paced", type=int, default=100)
    ap.add_argument("--rate", type=float, default=20.0)
    a = ap.parse_args()
    redis_exe = shutil.which("redis-server")
    if not redis_exe or not Path(a.server).exists():
        print("needs redis-server and the demo server (--server)", file=sys.stderr)
        return 2
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        rport = free_port()
        redis = subprocess.Popen(
            [redis_exe, "--port", str(rport), "--bind", "127.0.0.1", "--dir", tmp,
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            for name, nserv, redis_args in (
                # --workers 1: the mirror through libwebsockets_broadcast, no Redis
                ("without Redis, 1 process", 1, ["--workers", "1"]),
                ("with Redis, 2 processes", 2, ["--redis", f"redis://127.0.0.1:{rport}/0"]),
            ):
                ports = [free_port() for _ in range(nserv)]
                servers = [
                    subprocess.Popen([a.server, "--port", str(p), "--debug", "1", *redis_args])
                    for p in ports
                ]
                try:
                    for p in ports:
                        wait_port(p)
                    results[name] = asyncio.run(run(ports, a.conns, a.burst, a.paced, a.rate))
                finally:
                    for s in servers:
                        s.terminate()
                        s.wait(10)
        finally:
            redis.terminate()
            redis.wait(10)
    print(f"{a.conns} receiving connections, 1 publisher, {PAYLOAD}-byte messages")
    print(f"{'':28} {'deliveries/s':>13} {'p50 ms':>8} {'p99 ms':>8} {'other p50':>10} "
          f"{'other p99':>10}")  # fmt: skip
    for name, r in results.items():
        print(
            f"{name:28} {r['deliveries_per_s']:13.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
            f"{r['remote_p50_ms']:10.2f} {r['remote_p99_ms']:10.2f}"
            + ("" if r["complete"] else "  (incomplete)")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

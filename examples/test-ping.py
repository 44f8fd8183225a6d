#!/usr/bin/env python3
"""ping(8) for WebSocket on pylws_ffi: the same program as test-ping.c.

Sends PING frames of --size bytes every --interval seconds on one or more
connections to a WebSocket server, and prints a line per PONG:

    64 bytes from 127.0.0.1: req=3 time=0.142 ms

On Ctrl-C (or after --count pings per connection) it closes every connection
with 1000 and prints the statistics:

    --- 127.0.0.1 websocket ping statistics ---
    10 pings transmitted, 10 received, 0% loss, time 9003 ms
    rtt min/avg/max/mdev = 0.081/0.127/0.201/0.034 ms

Each ping's payload starts with its sequence number and the time it was sent
(two big-endian 64-bit numbers; the rest is a fixed pattern), so the PONG,
which carries the same payload, says which ping it answers and how long the
round trip took.

    python examples/test-ping.py HOST [--port 7681] [--path /] [--protocol NAME]
        [--size 64] [--interval 1] [--count N] [--flood] [--connections N]
        [--wait SECS] [--debug LLL_BITS]

--flood sends the next ping as soon as the pong of the previous one is in,
printing '.' for each ping sent and a backspace for each pong, like ping -f.
Exit status: 0 when pongs came back, 1 when none did or a connection failed,
2 for bad options.
"""

from __future__ import annotations

import argparse
import math
import signal
import struct
import sys
import time
from typing import Any

import pylws_ffi as lws
from pylws_ffi import ffi, lib

MIN_SIZE = 16  # sequence number + timestamp
MAX_SIZE = 125  # the most a control frame carries

now_ns = time.monotonic_ns
CONNECTION_EVENTS = {
    lws.LWS_CALLBACK_CLIENT_ESTABLISHED,
    lws.LWS_CALLBACK_CLIENT_CONNECTION_ERROR,
    lws.LWS_CALLBACK_CLIENT_WRITEABLE,
    lws.LWS_CALLBACK_CLIENT_RECEIVE_PONG,
    lws.LWS_CALLBACK_CLOSED,
}
header = struct.Struct(">QQ")


class Conn:
    def __init__(self, index: int) -> None:
        self.index = index
        self.wsi: Any = None
        self.userdata = ffi.new("int *", index)  # the connection's user area
        self.established = self.closed = self.failed = False
        self.sent = self.received = 0
        self.next_send_ns = 0
        self.ping_due = False
        self.last_sent_ns = 0


class Pinger:
    def __init__(self, args: argparse.Namespace) -> None:
        self.host = args.host
        self.size = args.size
        self.count = args.count
        self.flood = args.flood
        self.interval_ns = int(args.interval * 1e9)
        self.wait_ns = int(args.wait * 1e9)
        self.conns = [Conn(i) for i in range(args.connections)]
        self.stop = False
        self.pad = bytes(i & 0xFF for i in range(MIN_SIZE, self.size))
        self.transmitted = self.received = 0
        self.rtt_min, self.rtt_max, self.rtt_sum, self.rtt_sum2 = math.inf, 0.0, 0.0, 0.0

    def count_reached(self, c: Conn) -> bool:
        return bool(self.count) and c.sent >= self.count

    def send_ping(self, c: Conn) -> int:
        c.sent += 1
        c.last_sent_ns = now_ns()
        payload = header.pack(c.sent, c.last_sent_ns) + self.pad
        if lws.libwebsocket_write(c.wsi, payload, len(payload), lws.LWS_WRITE_PING) < 0:
            return -1
        self.transmitted += 1
        if self.flood:
            sys.stdout.write(".")
            sys.stdout.flush()
        return 0

    def got_pong(self, c: Conn, data: bytes) -> None:
        now = now_ns()
        if len(data) < MIN_SIZE:
            print(f"test-ping: a pong of {len(data)} bytes that is not ours", file=sys.stderr)
            return
        seq, sent_at = header.unpack_from(data)
        if not seq or seq > c.sent or sent_at > now:
            print("test-ping: a pong that answers no ping of ours", file=sys.stderr)
            return
        ms = (now - sent_at) / 1e6
        c.received += 1
        self.received += 1
        self.rtt_min = min(self.rtt_min, ms)
        self.rtt_max = max(self.rtt_max, ms)
        self.rtt_sum += ms
        self.rtt_sum2 += ms * ms
        if self.flood:
            sys.stdout.write("\b")
            sys.stdout.flush()
            return
        conn = f" conn={c.index}" if len(self.conns) > 1 else ""
        print(f"{len(data)} bytes from {self.host}: req={seq}{conn} time={ms:.3f} ms", flush=True)

    def callback(self, context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason not in CONNECTION_EVENTS:
            return 0  # e.g. the external-poll calls, whose user is an fd
        # the user area is the int given to _extended: this connection's index
        c = self.conns[ffi.cast("int *", user)[0]] if user != ffi.NULL else self.find(wsi)
        if c is None:
            return 0
        if reason == lws.LWS_CALLBACK_CLIENT_RECEIVE_PONG:
            self.got_pong(c, ffi.buffer(in_, len_)[:])
            if self.flood and not self.count_reached(c) and not self.stop:
                c.ping_due = True
                lib.libwebsocket_callback_on_writable(context, wsi)
        elif reason == lws.LWS_CALLBACK_CLIENT_WRITEABLE:
            if c.ping_due and not self.count_reached(c):
                c.ping_due = False
                return self.send_ping(c)
        elif reason == lws.LWS_CALLBACK_CLIENT_ESTABLISHED:
            c.established = True
            c.next_send_ns = now_ns()  # the first ping at once
            if self.flood:
                c.ping_due = True
                lib.libwebsocket_callback_on_writable(context, wsi)
        elif reason == lws.LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
            why = ffi.string(ffi.cast("char *", in_)).decode() if in_ != ffi.NULL else "unknown"
            print(f"test-ping: connection {c.index} failed: {why}", file=sys.stderr)
            c.failed = True
            c.wsi = None
        elif reason == lws.LWS_CALLBACK_CLOSED:
            if not self.stop and not c.closed:
                print(f"test-ping: connection {c.index} closed", file=sys.stderr)
            c.closed = True
            c.wsi = None
        return 0

    def find(self, wsi: Any) -> Conn | None:
        for c in self.conns:
            if c.wsi == wsi:
                return c
        return None

    def all_done(self, now: int) -> bool:
        for c in self.conns:
            if c.failed or c.closed:
                continue
            if not self.count_reached(c):
                return False
            if c.received < c.sent and now - c.last_sent_ns < self.wait_ns:
                return False  # still waiting for the last pongs
        return True

    def run(self, port: int, path: str, protocol: str | None) -> int:
        context = lws.libwebsocket_create_context(
            lws.CONTEXT_PORT_NO_LISTEN, None, [("ping", self.callback, 0)]
        )
        print(
            f"PING {self.host}:{port}{path}: {self.size} bytes of payload, "
            f"{len(self.conns)} connection{'' if len(self.conns) == 1 else 's'}",
            flush=True,
        )
        start = now_ns()
        try:
            for c in self.conns:
                try:
                    # c.userdata becomes the connection's user area
                    c.wsi = lws.libwebsocket_client_connect_extended(
                        context, self.host, port, 0, path, self.host, None, protocol, -1,
                        c.userdata,
                    )  # fmt: skip
                except OSError as e:
                    print(f"test-ping: connection {c.index}: {e}", file=sys.stderr)
                    c.failed = True

            while not self.stop:
                now = now_ns()
                nxt = now + 100_000_000
                if self.all_done(now):
                    break
                if not self.flood:
                    for c in self.conns:
                        if not c.established or c.closed or c.failed or self.count_reached(c):
                            continue
                        if c.next_send_ns <= now and not c.ping_due:
                            c.ping_due = True
                            c.next_send_ns += self.interval_ns
                            lws.libwebsocket_callback_on_writable(context, c.wsi)
                        nxt = min(nxt, c.next_send_ns)
                ms = max(0, (nxt - now + 999_999) // 1_000_000)
                if lws.libwebsocket_service(context, ms) < 0:
                    break
            self.stop = True

            # close what is still open with 1000, and let the close frames go out
            for c in self.conns:
                if c.wsi is not None and c.established and not c.closed:
                    lws.libwebsocket_close_and_free_session(
                        context, c.wsi, lws.LWS_CLOSE_STATUS_NORMAL
                    )
            until = now_ns() + 200_000_000
            while now_ns() < until:
                lws.libwebsocket_service(context, 10)
        finally:
            self.stop = True
            lws.libwebsocket_context_destroy(context)

        failures = sum(c.failed for c in self.conns)
        if self.flood:
            print()
        elapsed_ms = (now_ns() - start) / 1e6
        lost = self.transmitted - self.received
        loss = 100.0 * lost / self.transmitted if self.transmitted else 0.0
        print(f"\n--- {self.host} websocket ping statistics ---")
        print(
            f"{self.transmitted} pings transmitted, {self.received} received, "
            f"{loss:.0f}% loss, time {elapsed_ms:.0f} ms"
        )
        if self.received:
            avg = self.rtt_sum / self.received
            mdev = math.sqrt(max(self.rtt_sum2 / self.received - avg * avg, 0.0))
            print(
                f"rtt min/avg/max/mdev = {self.rtt_min:.3f}/{avg:.3f}/"
                f"{self.rtt_max:.3f}/{mdev:.3f} ms"
            )
        if failures:
            print(f"{failures} connection{'' if failures == 1 else 's'} failed")
        sys.stdout.flush()
        return 0 if self.received and not failures else 1


def main(argv: list[str] | None = None) -> int:
    def secs(text: str) -> float:
        v = float(text)
        if not 0.001 <= v <= 86400:
            raise argparse.ArgumentTypeError(f"out of range: {text}")
        return v

    def ranged(lo: int, hi: int) -> Any:
        def parse(text: str) -> int:
            v = int(text, 0)
            if not lo <= v <= hi:
                raise argparse.ArgumentTypeError(f"not in {lo}..{hi}: {text}")
            return v

        return parse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("--port", "-p", type=ranged(1, 65535), default=7681)
    ap.add_argument("--path", "-P", default="/")
    ap.add_argument("--protocol", "-r", default=None)
    ap.add_argument("--size", "-s", type=ranged(MIN_SIZE, MAX_SIZE), default=64)
    ap.add_argument("--interval", "-i", type=secs, default=1.0)
    ap.add_argument("--count", "-c", type=ranged(0, 1 << 62), default=0,
                    help="pings per connection (0: until Ctrl-C)")  # fmt: skip
    ap.add_argument("--flood", "-f", action="store_true")
    ap.add_argument("--connections", "-n", type=ranged(1, 100000), default=1)
    ap.add_argument("--wait", "-W", type=secs, default=2.0,
                    help="seconds to wait for the last pongs")  # fmt: skip
    ap.add_argument("--debug", "-d", type=lambda s: int(s, 0), default=lws.LLL_ERR | lws.LLL_WARN)
    args = ap.parse_args(argv)

    lws.lws_set_log_level(args.debug)
    pinger = Pinger(args)

    def on_signal(signum: int, frame: Any) -> None:
        pinger.stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return pinger.run(args.port, args.path, args.protocol)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The client of the demo server on pylws_ffi: the same program as test-client.c.

Two connections to one server, each asking for its own protocol:

  dumb-increment-protocol  the server sends a growing number, as text, a few
                           times a second; each one is printed:
                               dumb-increment: 42
  lws-mirror-protocol      the server sends every message to every client of
                           the protocol; we draw random circles by sending
                           "c #RRGGBB X Y R;" every --interval seconds and
                           print what comes back:
                               mirror: c #4fa0c2 120 87 14;

Each connection's events go to the callback of the protocol it asked for.  It
runs until Ctrl-C, or until --count numbers and --count circles came back,
then closes both connections with 1000.

    python examples/test-client.py HOST [--port 7681] [--path /] [--count N]
        [--interval SECS] [--no-mirror] [--debug LLL_BITS]

Exit status: 0 when both protocols answered, 1 when a connection failed or
closed early, 2 for bad options.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import time
from typing import Any

import pylws_ffi as lws
from pylws_ffi import ffi


class Conn:
    def __init__(self, name: str) -> None:
        self.name = name
        self.wsi: Any = None
        self.established = self.closed = self.failed = False
        self.received = 0  # numbers, or circles
        self.pieces: list[bytes] = []  # a message being gathered from its pieces

    def gather(self, wsi: Any, in_: Any, len_: int) -> str | None:
        """The whole message once its last piece is in, else None."""
        self.pieces.append(ffi.buffer(in_, len_)[:])
        if not lws.libwebsocket_is_final_fragment(wsi):
            return None
        text = b"".join(self.pieces).decode("utf-8", "replace")
        self.pieces = []
        return text


class TestClient:
    def __init__(self, count: int) -> None:
        self.count = count
        self.stop = False
        self.dumb = Conn("dumb-increment")
        self.mirror = Conn("mirror")
        self.circle_due = False
        self.circles_sent = 0
        self.rng = random.Random()

    def done(self, c: Conn) -> bool:
        return c.closed or c.failed or (bool(self.count) and c.received >= self.count)

    def common(self, c: Conn, reason: int, in_: Any) -> int:
        """What both protocols do alike."""
        if reason == lws.LWS_CALLBACK_CLIENT_ESTABLISHED:
            print(f"test-client: {c.name} connection established", file=sys.stderr)
            c.established = True
        elif reason == lws.LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
            why = ffi.string(ffi.cast("char *", in_)).decode() if in_ != ffi.NULL else "unknown"
            print(f"test-client: {c.name} connection failed: {why}", file=sys.stderr)
            c.failed = True
            c.wsi = None
        elif reason == lws.LWS_CALLBACK_CLOSED:
            if not self.stop:
                print(f"test-client: {c.name} connection closed", file=sys.stderr)
            c.closed = True
            c.wsi = None
        return 0

    def callback_dumb_increment(
        self, context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int
    ) -> int:
        if reason != lws.LWS_CALLBACK_CLIENT_RECEIVE:
            return self.common(self.dumb, reason, in_)
        text = self.dumb.gather(wsi, in_, len_)
        if text is not None:
            print(f"dumb-increment: {text}", flush=True)
            self.dumb.received += 1
        return 0

    def callback_mirror(
        self, context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int
    ) -> int:
        if reason == lws.LWS_CALLBACK_CLIENT_RECEIVE:
            text = self.mirror.gather(wsi, in_, len_)
            if text is not None:
                print(f"mirror: {text}", flush=True)
                self.mirror.received += 1
            return 0
        if reason == lws.LWS_CALLBACK_CLIENT_WRITEABLE:
            if not self.circle_due:
                return 0
            self.circle_due = False
            r = self.rng
            circle = (
                f"c #{r.getrandbits(24):06x} {r.randrange(500)} {r.randrange(250)} "
                f"{r.randrange(24) + 1};"
            )
            if lws.libwebsocket_write(wsi, circle, len(circle), lws.LWS_WRITE_TEXT) < 0:
                return -1
            self.circles_sent += 1
            return 0
        return self.common(self.mirror, reason, in_)


def main(argv: list[str] | None = None) -> int:
    def ranged(lo: int, hi: int) -> Any:
        def parse(text: str) -> int:
            v = int(text, 0)
            if not lo <= v <= hi:
                raise argparse.ArgumentTypeError(f"not in {lo}..{hi}: {text}")
            return v

        return parse

    def secs(text: str) -> float:
        v = float(text)
        if not 0.001 <= v <= 3600:
            raise argparse.ArgumentTypeError(f"out of range: {text}")
        return v

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("--port", "-p", type=ranged(1, 65535), default=7681)
    ap.add_argument("--path", "-P", default="/")
    ap.add_argument("--count", "-c", type=ranged(0, 1 << 62), default=0)
    ap.add_argument("--interval", "-i", type=secs, default=0.05)
    ap.add_argument("--no-mirror", "-n", action="store_true")
    ap.add_argument("--debug", "-d", type=lambda s: int(s, 0), default=lws.LLL_ERR | lws.LLL_WARN)
    args = ap.parse_args(argv)

    lws.lws_set_log_level(args.debug)
    tc = TestClient(args.count)
    use_mirror = not args.no_mirror

    def on_signal(signum: int, frame: Any) -> None:
        tc.stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    # protocols[0] also gets CLIENT_APPEND_HANDSHAKE_HEADER, which we leave alone
    protocols = [
        ("dumb-increment-protocol", tc.callback_dumb_increment, 0),
        ("lws-mirror-protocol", tc.callback_mirror, 0),
    ]
    context = lws.libwebsocket_create_context(lws.CONTEXT_PORT_NO_LISTEN, None, protocols)
    host, port, path = args.host, args.port, args.path
    try:
        # each connection asks for its protocol: its callbacks go there
        for conn, name, wanted in (
            (tc.dumb, protocols[0][0], True),
            (tc.mirror, protocols[1][0], use_mirror),
        ):
            if not wanted:
                continue
            try:
                conn.wsi = lws.libwebsocket_client_connect(
                    context, host, port, 0, path, host, host, name, -1
                )
            except OSError as e:
                print(f"test-client: libwebsocket_client_connect ({name}): {e}", file=sys.stderr)
                conn.failed = True

        next_circle = time.monotonic()
        while not tc.stop and not (tc.done(tc.dumb) and (not use_mirror or tc.done(tc.mirror))):
            if lws.libwebsocket_service(context, 10) < 0:
                break
            m = tc.mirror
            if (
                use_mirror
                and m.established
                and not m.closed
                and not tc.circle_due
                and (not args.count or tc.circles_sent < args.count)
                and time.monotonic() >= next_circle
            ):
                tc.circle_due = True
                next_circle += args.interval
                lws.libwebsocket_callback_on_writable(context, m.wsi)
        interrupted = tc.stop
        tc.stop = True

        for c in (tc.dumb, tc.mirror):
            if c.wsi is not None and c.established and not c.closed:
                lws.libwebsocket_close_and_free_session(context, c.wsi, lws.LWS_CLOSE_STATUS_NORMAL)
        until = time.monotonic() + 0.2
        while time.monotonic() < until:
            lws.libwebsocket_service(context, 10)
    finally:
        tc.stop = True
        lws.libwebsocket_context_destroy(context)

    print(
        f"test-client: {tc.dumb.received} numbers, {tc.circles_sent} circles sent, "
        f"{tc.mirror.received} came back",
        file=sys.stderr,
    )
    ok = not tc.dumb.failed and tc.dumb.received > 0
    ok = ok and (not use_mirror or (not tc.mirror.failed and tc.mirror.received > 0))
    if not interrupted and args.count:
        ok = ok and tc.dumb.received >= args.count
        ok = ok and (not use_mirror or tc.mirror.received >= args.count)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The pylws demo server on pylws_ffi: the same service as test-server.c.

One port serves a page and two WebSocket protocols:

  "http-only" (protocols[0])   the page, its icon and images, from a fixed list
                               of names (anything else is a 404)
  "dumb-increment-protocol"    every 50 ms each connection gets its own counter,
                               as text; "reset\\n" sets it back to 0
  "lws-mirror-protocol"        every message goes to every connection of the
                               protocol, the sender's included

Open http://127.0.0.1:7681/ in a few browsers: strokes drawn in one appear in
all of them.  Ctrl-C / SIGTERM stop it.

    python examples/test-server.py [-p|--port 7681] [-i|--interface IF] [-d|--debug LLL_BITS]
                                   [-r|--resource-path DIR] [-s|--ssl]
                                   [--cert FILE --key FILE]
                                   [--workers N] [--redis URL]

--ssl serves https:// and wss:// with --cert and --key (PEM), or without them
a self-signed certificate for localhost made on first use in ~/.cache/pylws
(see examples/example_tls.py); the page then connects with wss://.

--workers N runs N processes on the port (SO_REUSEPORT), stopped together by
SIGTERM/SIGINT; --redis URL (redis://[[user]:password@]host[:port][/db])
attaches each to Redis (stream "lws-demo"), so a mirror stroke reaches the
pages of every worker and every host, through libwebsockets_broadcast.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any

import example_tls  # examples/example_tls.py: --ssl, --cert, --key, the default certificate
from example_args import int_arg  # examples/example_args.py

import pylws_ffi as lws
from pylws_ffi import ffi

TICK = 0.050  # seconds between two numbers of the counters
MIRROR_RING = 256  # messages the mirror keeps for connections that have not sent them yet
MIRROR_MAX_MESSAGE = 64 * 1024  # a longer mirror message closes its sender with 1009

DEFAULT_RESOURCES = Path(__file__).resolve().parent / "resources"

# ---- "http-only": the page and its files, from this list only ----

SERVED_FILES = {
    "/": ("test.html", "text/html; charset=utf-8"),
    "/favicon.ico": ("favicon.ico", "image/x-icon"),
    "/logo.svg": ("logo.svg", "image/svg+xml"),
    "/pylws.png": ("pylws.png", "image/png"),
}

resource_path = DEFAULT_RESOURCES


def callback_http(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
    if reason == lws.LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        # user is the new socket: look at who it is, let everyone in
        fd = int(ffi.cast("intptr_t", user))
        name, rip = lws.libwebsockets_get_peer_addresses(fd)
        lws.lwsl_log(lws.LLL_WARN, f"connection from {name} ({rip})")
        return 0

    if reason == lws.LWS_CALLBACK_HTTP:
        uri = lws.payload(in_, len_).decode("utf-8", "replace")
        served = SERVED_FILES.get(uri.split("?", 1)[0].split("#", 1)[0])
        if served is None:
            lws.lwsl_log(lws.LLL_INFO, f"404 for {uri}")
            return 1  # nothing written: the library answers 404
        file, content_type = served
        path = str(resource_path / file)
        if lws.libwebsockets_serve_http_file(context, wsi, path, content_type):
            lws.lwsl_log(lws.LLL_WARN, f"cannot serve {path}")
            return 1  # the client gets a 404; close
        return 0  # the file goes out in the background; keep-alive

    # LWS_CALLBACK_HTTP_FILE_COMPLETION: keep the connection for the next request
    return 0


# ---- "dumb-increment-protocol" ----

#: wsi -> the number it gets next
numbers: dict[Any, int] = {}


def callback_dumb_increment(
    context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int
) -> int:
    if reason == lws.LWS_CALLBACK_SERVER_WRITEABLE:
        text = str(numbers[wsi])
        if lws.libwebsocket_write(wsi, text, len(text), lws.LWS_WRITE_TEXT) < len(text):
            return -1
        numbers[wsi] += 1
    elif reason == lws.LWS_CALLBACK_ESTABLISHED:
        numbers[wsi] = 0
    elif reason == lws.LWS_CALLBACK_RECEIVE:
        if len_ == 6 and lws.payload(in_, len_) == b"reset\n":
            numbers[wsi] = 0
    elif reason == lws.LWS_CALLBACK_CLOSED:
        numbers.pop(wsi, None)
    return 0


# ---- "lws-mirror-protocol" ----


class Mirror:
    """The last MIRROR_RING messages: message i (counting from the start) is
    ``ring[i % MIRROR_RING]``, as ``(payload, write_protocol)``."""

    def __init__(self) -> None:
        self.ring: list[tuple[bytes, int] | None] = [None] * MIRROR_RING
        self.head = 0  # messages stored so far
        self.tail: dict[Any, int] = {}  # wsi -> the next message it gets
        self.rx: dict[Any, bytearray] = {}  # wsi -> a message arriving in pieces

    def store(self, data: bytes, binary: bool) -> None:
        # overwrites the message MIRROR_RING older: late readers skip it
        self.ring[self.head % MIRROR_RING] = (
            data,
            lws.LWS_WRITE_BINARY if binary else lws.LWS_WRITE_TEXT,
        )
        self.head += 1


mirror = Mirror()
mirror_broadcast = False  # --workers/--redis: the mirror goes through libwebsockets_broadcast


def callback_lws_mirror(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
    if reason == lws.LWS_CALLBACK_SERVER_WRITEABLE:
        tail = mirror.tail[wsi]
        if mirror.head - tail > MIRROR_RING:
            # a whole ring behind: skip to the oldest message kept
            skipped = mirror.head - MIRROR_RING - tail
            lws.lwsl_log(lws.LLL_INFO, f"mirror: a slow reader skips {skipped} messages")
            tail = mirror.head - MIRROR_RING
        ring, head = mirror.ring, mirror.head
        while tail < head:
            data, kind = ring[tail % MIRROR_RING]  # type: ignore[misc]
            if lws.libwebsocket_write(wsi, data, len(data), kind) < 0:
                return -1
            tail += 1
            if lws.lws_send_pipe_choked(wsi):
                # the rest when this connection has taken what is queued
                lws.libwebsocket_callback_on_writable(context, wsi)
                break
        mirror.tail[wsi] = tail

    elif reason == lws.LWS_CALLBACK_RECEIVE:
        final = lws.libwebsocket_is_final_fragment(wsi)
        binary = bool(lws.lws_frame_is_binary(wsi))
        pending = mirror.rx.get(wsi)
        if (len(pending) if pending else 0) + len_ > MIRROR_MAX_MESSAGE:
            lws.lwsl_log(lws.LLL_WARN, f"mirror: message longer than {MIRROR_MAX_MESSAGE} refused")
            lws.libwebsocket_close_and_free_session(
                context, wsi, lws.LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE
            )
            return -1
        piece = lws.payload(in_, len_)
        if mirror_broadcast and final:
            # to every connection of every process, through the backplane
            msg = bytes(pending) + piece if pending is not None else piece
            mirror.rx.pop(wsi, None)
            if lws.libwebsockets_broadcast(lws.libwebsockets_get_protocol(wsi), msg, len(msg)):
                lws.lwsl_log(lws.LLL_WARN, f"mirror: broadcast of {len(msg)} bytes failed")
            return 0
        if pending is None and final:
            mirror.store(piece, binary)  # the whole message in one piece: the usual case
        else:
            if pending is None:
                pending = mirror.rx[wsi] = bytearray()
            pending += piece
            if not final:
                return 0
            del mirror.rx[wsi]
            mirror.store(bytes(pending), binary)
        lws.libwebsocket_callback_on_writable_all_protocol(lws.libwebsockets_get_protocol(wsi))

    elif reason == lws.LWS_CALLBACK_BROADCAST:
        # mirror_broadcast: a message from any connection of any process (padded)
        if lws.libwebsocket_write(wsi, in_, len_, lws.LWS_WRITE_TEXT) < 0:
            return -1
    elif reason == lws.LWS_CALLBACK_ESTABLISHED:
        mirror.tail[wsi] = mirror.head  # from now on
    elif reason == lws.LWS_CALLBACK_CLOSED:
        mirror.tail.pop(wsi, None)
        mirror.rx.pop(wsi, None)
    return 0


# ---- main ----


def parse_args(argv: list[str] | None, description: str) -> argparse.Namespace:
    """The command line of test-server.c (demo_setup in
    examples/test-server-protocols.h), shared with test-server-extpoll.py."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("-p", "--port", type=int_arg(1, 65535, base=10), default=7681)
    ap.add_argument("-i", "--interface", default=None)
    ap.add_argument(
        "-d",
        "--debug",
        type=int_arg(0),
        default=lws.LLL_ERR | lws.LLL_WARN,
        help="LLL_* log level bits (default 3: errors and warnings)",
    )
    ap.add_argument(
        "-r",
        "--resource-path",
        type=Path,
        default=DEFAULT_RESOURCES,
        help="folder of test.html and its files (default: resources/ beside this script)",
    )
    example_tls.add_arguments(ap)
    ap.add_argument("--workers", type=int_arg(1, 256, base=10), default=None)
    ap.add_argument("--redis", default=None, metavar="URL")
    return ap.parse_args(argv)


def start_workers(args: argparse.Namespace, prog: str) -> int | None:
    """--workers N: fork them (SO_REUSEPORT on the port); the options for
    create_context in a worker; in the supervisor once all have stopped, None
    (all went well) or -1 (one failed)."""
    global mirror_broadcast
    mirror_broadcast = bool(args.workers or args.redis)
    if not args.workers:
        return 0
    try:
        worker = lws.start_workers(args.workers)
    except ChildProcessError:
        return -1  # a worker failed (said above); all have stopped
    if worker is None:
        return None
    if not args.redis and worker == 0:
        print(
            f"{prog}: --workers without --redis: the mirror reaches the connections "
            "of one worker only",
            file=sys.stderr,
        )
    return lws.LWS_SERVER_OPTION_REUSEPORT


def attach_redis(context: Any, args: argparse.Namespace, prog: str) -> bool:
    """--redis URL: the context on the backplane (stream "lws-demo"); False
    (context destroyed) on a bad URL."""
    if not args.redis:
        return True
    try:
        lws.lws_context_attach_redis(context, args.redis, "lws-demo")
    except ValueError as e:
        print(f"{prog}: --redis: {e}", file=sys.stderr)
        lws.libwebsocket_context_destroy(context)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    global resource_path
    args = parse_args(argv, __doc__.splitlines()[0])

    prog = Path(sys.argv[0]).name
    if bool(args.cert) != bool(args.key):
        print(f"{prog}: give both --cert and --key, or neither", file=sys.stderr)
        return 2
    if not (args.resource_path / "test.html").is_file():
        print(f"{prog}: no test.html in {args.resource_path}", file=sys.stderr)
        return 1
    resource_path = args.resource_path.resolve()

    tls = example_tls.context_arguments(args, prog)

    lws.lws_set_log_level(args.debug)

    stop = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    protocols = [
        ("http-only", callback_http, 0),  # the first protocol gets the HTTP requests
        ("dumb-increment-protocol", callback_dumb_increment, 0),
        ("lws-mirror-protocol", callback_lws_mirror, 0),
    ]
    options = start_workers(args, prog)  # before any context
    if options is None or options < 0:
        return 0 if options is None else 1  # the supervisor: every worker has stopped
    try:
        tls_args = dict(tls)
        options |= tls_args.pop("options", 0)
        context = lws.libwebsocket_create_context(
            args.port, args.interface, protocols, options=options, **tls_args
        )
    except OSError as e:
        print(f"{prog}: cannot start: {e}", file=sys.stderr)
        return 1
    if not attach_redis(context, args, prog):
        return 2

    print(
        f"pylws test server on {lws.libwebsocket_canonical_hostname(context)}, "
        f"port {args.port}: open {'https' if tls else 'http'}://127.0.0.1:{args.port}/\n"
        f"(serving {resource_path})",
        file=sys.stderr,
    )

    # the service loop, and every TICK a WRITEABLE for each counter
    dumb_increment = lws.lws_get_protocols(context)[1]  # C: &protocols[1]
    next_tick = time.monotonic() + TICK
    n = 0
    while not stop and n >= 0:
        now = time.monotonic()
        if now >= next_tick:
            lws.libwebsocket_callback_on_writable_all_protocol(dumb_increment)
            next_tick += TICK
            if next_tick <= now:  # we fell behind: no burst to catch up
                next_tick = now + TICK
        n = lws.libwebsocket_service(context, max(1, min(50, round((next_tick - now) * 1000))))
    lws.libwebsocket_context_destroy(context)
    return 1 if n < 0 else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The Python echo server the benchmarks run (bench/run.py's "python" server):
examples/echo_server.py's service with its receive path tuned for speed.

Every piece of a message is echoed the moment it arrives, as a fragment of the
same message; plain HTTP requests get a short page.  What differs from the
example is only how the RECEIVE path is written: it calls the C functions
directly (``lib.*``, no argument checks), writes the piece from the
callback's own buffer (``lws_write_unpadded``, no copy into Python bytes) and
binds everything it calls as module globals.  Only for code that is measured:
the example's plain calls check their arguments and read more clearly.

    python bench/echo_server_tuned.py [-p|--port 7681] [-i|--interface IF] [-n|--no-extensions]
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

import pylws_ffi as lws
from pylws_ffi import ffi, lib

PAGE_BODY = (
    b"This is the pylws echo server: connect a WebSocket client to this\n"
    b"address and every message you send comes back.\n"
)
PAGE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: %d\r\n"
    b"Connection: close\r\n"
    b"\r\n" % len(PAGE_BODY)
) + PAGE_BODY

# Connections in the middle of a message.
in_message: set[Any] = set()

# The RECEIVE path runs once per piece of every message: bind what it calls.
RECEIVE = lws.LWS_CALLBACK_RECEIVE
TEXT, BINARY, CONTINUATION = lws.LWS_WRITE_TEXT, lws.LWS_WRITE_BINARY, lws.LWS_WRITE_CONTINUATION
NO_FIN = lws.LWS_WRITE_NO_FIN
write_unpadded = lib.lws_write_unpadded  # `in_` has no room for a header we may use
is_final = lib.libwebsocket_is_final_fragment
is_binary = lib.lws_frame_is_binary
as_bytes = ffi.cast
continuing, begin, end = in_message.__contains__, in_message.add, in_message.discard


def callback_echo(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
    if reason == RECEIVE:
        proto = CONTINUATION if continuing(wsi) else (BINARY if is_binary(wsi) else TEXT)
        if is_final(wsi):
            if proto == CONTINUATION:
                end(wsi)
        else:
            proto |= NO_FIN
            begin(wsi)
        return -1 if write_unpadded(wsi, as_bytes("unsigned char *", in_), len_, proto) < 0 else 0
    if reason == lws.LWS_CALLBACK_HTTP:
        lws.libwebsocket_write(wsi, PAGE, len(PAGE), lws.LWS_WRITE_HTTP)
        return 1  # close after the page
    if reason == lws.LWS_CALLBACK_CLOSED:
        end(wsi)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-p", "--port", type=int, default=7681)
    ap.add_argument("-i", "--interface", default=None)
    ap.add_argument("-n", "--no-extensions", action="store_true")
    args = ap.parse_args(argv)
    lws.lws_set_log_level(lws.LLL_ERR | lws.LLL_WARN)

    stop = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    extensions = None if args.no_extensions else lws.libwebsocket_internal_extensions
    try:
        context = lws.libwebsocket_create_context(
            args.port, args.interface, [("echo", callback_echo, 0)], extensions
        )
    except OSError as e:
        print(f"echo_server_tuned: cannot start: {e}", file=sys.stderr)
        return 1
    print(f"echo server (tuned) on port {args.port}", file=sys.stderr)
    n = 0
    while not stop and n >= 0:
        n = lws.libwebsocket_service(context, 1000)
    lws.libwebsocket_context_destroy(context)
    return 1 if n < 0 else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""A Python echo server that receives whole messages (lws_set_whole_messages).

Each connection asks for whole messages in ESTABLISHED; every RECEIVE then
carries one complete message (gathered by the library from its fragments,
after permessage-deflate when it is on), which is sent straight back as one
message from the callback's own buffer: no piece is joined in Python and no
Python bytes object is made.  Plain HTTP requests get a short page.  Written
the tuned way (``lib.*`` bound as globals, no argument checks) because it is
measured; the CLI is bench/echo_server_tuned.py's.

    python bench/echo_server_whole.py [-p|--port 7681] [-i|--interface IF] [-n|--no-extensions]
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

import pylws_ffi as lws
from pylws_ffi import ffi, lib

PAGE_BODY = (
    b"This is the pylws echo server (whole messages): connect a WebSocket\n"
    b"client to this address and every message you send comes back.\n"
)
PAGE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: %d\r\n"
    b"Connection: close\r\n"
    b"\r\n" % len(PAGE_BODY)
) + PAGE_BODY

RECEIVE = lws.LWS_CALLBACK_RECEIVE
ESTABLISHED = lws.LWS_CALLBACK_ESTABLISHED
TEXT, BINARY = lws.LWS_WRITE_TEXT, lws.LWS_WRITE_BINARY
write_unpadded = lib.lws_write_unpadded  # `in_` has no room for a header before it
is_binary = lib.lws_frame_is_binary
whole_messages = lib.lws_set_whole_messages
as_bytes = ffi.cast


def callback_echo(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
    if reason == RECEIVE:
        kind = BINARY if is_binary(wsi) else TEXT
        return -1 if write_unpadded(wsi, as_bytes("unsigned char *", in_), len_, kind) < 0 else 0
    if reason == ESTABLISHED:
        whole_messages(wsi, 1)
        return 0
    if reason == lws.LWS_CALLBACK_HTTP:
        lws.libwebsocket_write(wsi, PAGE, len(PAGE), lws.LWS_WRITE_HTTP)
        return 1  # close after the page
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
        print(f"echo_server_whole: cannot start: {e}", file=sys.stderr)
        return 1
    print(f"echo server (whole messages) on port {args.port}", file=sys.stderr)
    n = 0
    while not stop and n >= 0:
        n = lws.libwebsocket_service(context, 1000)
    lws.libwebsocket_context_destroy(context)
    return 1 if n < 0 else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""A minimal WebSocket client on pylws_ffi: the same program as echo_client.c.

Connects to an echo server, sends each line of stdin (or --message TEXT,
--count times) as a text message, waits for its echo and prints it, then
closes the connection cleanly with status 1000.

    python examples/echo_client.py [-H|--host 127.0.0.1] [-p|--port 7681] [-P|--path /]
                                   [-r|--protocol NAME] [-m|--message TEXT [-n|--count N]]
                                   [-t|--handshake-timeout SECS] [-d|--debug LLL_BITS]

    printf 'hello\\nworld\\n' | python examples/echo_client.py --port 7681

Exit status: 0 when every message came back and we closed; 1 when the
connection failed or the server closed first; 2 for bad options.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import sys
import time
from typing import Any

from example_args import int_arg  # examples/example_args.py

import pylws_ffi as lws
from pylws_ffi import ffi


class Connection:
    """The one connection's state."""

    def __init__(self) -> None:
        self.wsi: Any = None
        self.established = self.closed = self.failed = self.closing = False
        self.out: bytes | None = None  # the message waiting for CLIENT_WRITEABLE
        self.awaiting_echo = False
        self.pieces: list[bytes] = []  # the echo being gathered


conn = Connection()


def callback_echo(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
    if reason == lws.LWS_CALLBACK_CLIENT_RECEIVE:
        # a message may come in several pieces: gather them
        conn.pieces.append(ffi.buffer(in_, len_)[:])
        if lws.libwebsocket_is_final_fragment(wsi):
            sys.stdout.write(b"".join(conn.pieces).decode("utf-8", "replace") + "\n")
            sys.stdout.flush()
            conn.pieces.clear()
            conn.awaiting_echo = False
    elif reason == lws.LWS_CALLBACK_CLIENT_WRITEABLE:
        if conn.out is not None:
            if lws.libwebsocket_write(wsi, conn.out, len(conn.out), lws.LWS_WRITE_TEXT) < 0:
                return -1
            conn.out = None
            conn.awaiting_echo = True
    elif reason == lws.LWS_CALLBACK_CLIENT_ESTABLISHED:
        conn.established = True
    elif reason == lws.LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        why = ffi.string(ffi.cast("char *", in_)).decode() if in_ != ffi.NULL else "unknown"
        print(f"echo_client: connection failed: {why}", file=sys.stderr)
        conn.failed = True
    elif reason == lws.LWS_CALLBACK_CLOSED:
        conn.closed = True
    return 0


class Messages:
    """The messages to send: --message (count times), or the lines of stdin,
    read without blocking so the connection is served meanwhile."""

    def __init__(self, message: str | None, count: int) -> None:
        self.message = message.encode() if message is not None else None
        self.count = count
        self.buf = b""
        self.eof = False

    def next(self) -> bytes | None | bool:
        """The next message; None when none is ready yet; False at the end."""
        if self.message is not None:
            if self.count <= 0:
                return False
            self.count -= 1
            return self.message
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0 or (self.eof and self.buf):
                line, self.buf = (self.buf[:nl], self.buf[nl + 1 :]) if nl >= 0 else (self.buf, b"")
                return line[:-1] if line.endswith(b"\r") else line
            if self.eof:
                return False
            fd = sys.stdin.fileno()
            if not select.select([fd], [], [], 0)[0]:
                return None  # nothing to read yet
            data = os.read(fd, 65536)
            if data:
                self.buf += data
            else:
                self.eof = True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # the options of echo_client.c (getopt "H:p:P:r:m:n:d:h")
    ap.add_argument("-H", "--host", default="127.0.0.1")
    ap.add_argument("-p", "--port", type=int_arg(1, 65535), default=7681)
    ap.add_argument("-P", "--path", default="/")
    ap.add_argument("-r", "--protocol", default=None, help="subprotocol to ask for")
    ap.add_argument("-m", "--message", default=None, help="send TEXT instead of the lines of stdin")
    ap.add_argument(
        "-n",
        "--count",
        type=int_arg(0, 1 << 62),
        default=1,
        help="send --message N times (default 1)",
    )
    ap.add_argument(
        "-t",
        "--handshake-timeout",
        type=int_arg(1, 1 << 30),
        default=None,
        metavar="SECS",
        help="seconds from the connect to the server's 101 (default 10)",
    )
    ap.add_argument(
        "-d",
        "--debug",
        type=int_arg(0, 0xFFFF),
        default=lws.LLL_ERR | lws.LLL_WARN,
        help="LLL_* log level bits (default 3: errors and warnings)",
    )
    args = ap.parse_args(argv)

    lws.lws_set_log_level(args.debug)

    stop = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    context = lws.libwebsocket_create_context(
        lws.CONTEXT_PORT_NO_LISTEN, None, [("echo-client", callback_echo, 0)]
    )
    try:
        if args.handshake_timeout is not None:
            lws.lws_set_handshake_timeout(context, args.handshake_timeout)
        try:
            conn.wsi = lws.libwebsocket_client_connect(
                context, args.host, args.port, 0, args.path, args.host, None, args.protocol, -1
            )
        except (OSError, ValueError) as e:
            print(f"echo_client: {e}", file=sys.stderr)
            return 1
        messages = Messages(args.message, args.count)

        n = 0
        while not stop and n >= 0 and not conn.closed and not conn.failed:
            n = lws.libwebsocket_service(context, 20)
            if not conn.established or conn.closing or conn.out is not None:
                continue
            if conn.awaiting_echo or conn.closed:
                continue
            message = messages.next()
            if message is False:
                # everything echoed: close with 1000 (CLOSED follows at once)
                conn.closing = True
                lws.libwebsocket_close_and_free_session(
                    context, conn.wsi, lws.LWS_CLOSE_STATUS_NORMAL
                )
            elif isinstance(message, bytes):
                conn.out = message
                lws.libwebsocket_callback_on_writable(context, conn.wsi)

        if stop and conn.established and not conn.closed:
            # Ctrl-C: close cleanly too
            conn.closing = True
            lws.libwebsocket_close_and_free_session(context, conn.wsi, lws.LWS_CLOSE_STATUS_NORMAL)
        # let the close frame go out and the server's answer come back
        until = time.monotonic() + 0.2
        while conn.closing and time.monotonic() < until:
            lws.libwebsocket_service(context, 10)
    finally:
        lws.libwebsocket_context_destroy(context)

    if conn.closed and not conn.closing:
        print("echo_client: the server closed the connection", file=sys.stderr)
    return 0 if conn.closing else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""A WebSocket echo server on pylws_ffi: the same service as echo_server.c.

Every piece of a message is echoed the moment it arrives, as a fragment of the
same message (with --whole the library gathers each message, lws_set_whole_messages,
and it goes back in one write); plain HTTP requests get a short page;
Ctrl-C / SIGTERM stop it.
(examples/aio_echo_server.py is the asyncio version, with whole messages; the
benchmarks run bench/echo_server_tuned.py, this service with its receive path
tuned.)

    python examples/echo_server.py [-p|--port 7681] [-i|--interface IF] [-d|--debug LLL_BITS]
                                   [-m|--max-message-size BYTES] [-t|--handshake-timeout SECS]
                                   [--limit NAME=VALUE ...] [--whole]
                                   [-n|--no-extensions] [-s|--ssl] [--cert FILE --key FILE]
                                   [--ca FILE [--require-client-cert]]

--ssl serves wss:// (and https://): see examples/example_tls.py for the
certificate it uses when --cert/--key are not given (a self-signed one for
localhost, made on first use in ~/.cache/pylws).  --ca names the CAs client
certificates must chain to; --require-client-cert refuses clients without one.
--limit sets one of the context's limits (lws_context_set_limit), NAME being
the end of its LWS_LIMIT_ name in lower case with '-' for '_' (e.g.
--limit keepalive-idle-secs=30).
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

import example_tls  # examples/example_tls.py: --ssl, --cert, --key, the default certificate
from example_args import INT_MAX, int_arg  # examples/example_args.py

import pylws_ffi as lws

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

# Connections in the middle of a message (the binding hands out one wsi
# object per connection, so it can be kept in a set).
in_message: set[Any] = set()


def callback_echo(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
    if reason == lws.LWS_CALLBACK_RECEIVE:
        # One piece of a message (as much of it as one read brought): send it
        # back at once, as a piece of the same message.
        data = lws.payload(in_, len_)
        if wsi in in_message:
            proto = lws.LWS_WRITE_CONTINUATION
        elif lws.lws_frame_is_binary(wsi):
            proto = lws.LWS_WRITE_BINARY
        else:
            proto = lws.LWS_WRITE_TEXT
        if lws.libwebsocket_is_final_fragment(wsi):
            in_message.discard(wsi)
        else:
            proto |= lws.LWS_WRITE_NO_FIN
            in_message.add(wsi)
        return -1 if lws.libwebsocket_write(wsi, data, len(data), proto) < 0 else 0
    if reason == lws.LWS_CALLBACK_HTTP:
        lws.libwebsocket_write(wsi, PAGE, len(PAGE), lws.LWS_WRITE_HTTP)
        return 1  # close after the page
    if reason == lws.LWS_CALLBACK_CLOSED:
        in_message.discard(wsi)
    return 0


def callback_echo_whole(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
    """--whole: each RECEIVE is one whole message, gathered by the library."""
    if reason == lws.LWS_CALLBACK_ESTABLISHED:
        lws.lws_set_whole_messages(wsi, 1)
        return 0
    if reason == lws.LWS_CALLBACK_RECEIVE:
        proto = lws.LWS_WRITE_BINARY if lws.lws_frame_is_binary(wsi) else lws.LWS_WRITE_TEXT
        data = lws.payload(in_, len_)
        return -1 if lws.libwebsocket_write(wsi, data, len(data), proto) < 0 else 0
    return callback_echo(context, wsi, reason, user, in_, len_)


LIMITS = {
    name[len("LWS_LIMIT_") :].lower().replace("_", "-"): getattr(lws, name)
    for name in dir(lws)
    if name.startswith("LWS_LIMIT_") and name != "LWS_LIMIT_COUNT"
}


def limit_arg(text: str) -> tuple[int, int]:
    name, eq, value = text.partition("=")
    if not eq or name not in LIMITS:
        raise argparse.ArgumentTypeError(f"NAME=VALUE, NAME one of {', '.join(sorted(LIMITS))}")
    return LIMITS[name], int_arg(0)(value)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # the options of echo_server.c (getopt "p:i:d:m:t:nsh"; --cert, --key, --ca and
    # --require-client-cert are long only, as there)
    ap.add_argument("-p", "--port", type=int_arg(0, 65535), default=7681)
    ap.add_argument("-i", "--interface", default=None)
    ap.add_argument(
        "-d",
        "--debug",
        type=int_arg(0, INT_MAX),
        default=lws.LLL_ERR | lws.LLL_WARN,
        help="LLL_* log level bits (default 3: errors and warnings)",
    )
    ap.add_argument("-m", "--max-message-size", type=int_arg(0), default=None)
    ap.add_argument("-t", "--handshake-timeout", type=int_arg(1, INT_MAX), default=None)
    ap.add_argument("--limit", type=limit_arg, action="append", default=[])
    ap.add_argument(
        "-n",
        "--no-extensions",
        action="store_true",
        help="do not offer the built-in extensions "
        "(permessage-deflate, deflate-frame, deflate-stream)",
    )
    ap.add_argument(
        "--whole",
        action="store_true",
        help="receive whole messages (lws_set_whole_messages): one write per message",
    )
    example_tls.add_arguments(ap, client_certs=True)
    args = ap.parse_args(argv)
    tls = example_tls.context_arguments(args, "echo_server")

    lws.lws_set_log_level(args.debug)

    stop = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    # Autobahn names no subprotocol, so it lands on protocols[0]
    protocols = [("echo", callback_echo_whole if args.whole else callback_echo, 0)]
    try:
        extensions = None if args.no_extensions else lws.libwebsocket_internal_extensions
        context = lws.libwebsocket_create_context(
            args.port, args.interface, protocols, extensions, **tls
        )
    except OSError as e:
        print(f"echo_server: cannot start: {e}", file=sys.stderr)
        return 1
    if args.max_message_size is not None:
        lws.lws_set_max_message_size(context, args.max_message_size)
    if args.handshake_timeout is not None:
        lws.lws_set_handshake_timeout(context, args.handshake_timeout)
    for limit, value in args.limit:
        try:
            lws.lws_context_set_limit(context, limit, value)
        except ValueError as e:
            print(f"echo_server: {e}", file=sys.stderr)
            lws.libwebsocket_context_destroy(context)
            return 2

    print(f"echo server on port {args.port}{' (TLS)' if tls else ''}", file=sys.stderr)
    n = 0
    while not stop and n >= 0:
        n = lws.libwebsocket_service(context, 1000)
    lws.libwebsocket_context_destroy(context)
    return 1 if n < 0 else 0


if __name__ == "__main__":
    sys.exit(main())

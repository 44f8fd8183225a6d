#!/usr/bin/env python3
"""Fragmented messages, sent and reassembled, on pylws_ffi: the same program
as test-fraggle.c.  A server by default, a client with -c.

The server, on each connection, sends --messages N messages.  Each is a
random number of random-size fragments (TEXT or BINARY with LWS_WRITE_NO_FIN,
then CONTINUATION; a fragment may be empty), followed by a small text message
carrying the message's checksum: the sum of its bytes modulo 2^32, in
decimal.  Then it closes the connection with 1000.

The client reassembles each message from the pieces CLIENT_RECEIVE hands it
(libwebsocket_is_final_fragment marks the last), checks the checksum and
prints

    verified message 3: 5114 bytes, checksum 651862

and, when the server closes, "N messages verified, 0 bad".  It exits 1 on a
mismatch, when nothing was verified or the connection failed.

    python examples/test-fraggle.py [--port 7681] [--interface IF] [--messages 10]
        [--max-fragments 16] [--max-fragment-size 4096] [--seed N]
    python examples/test-fraggle.py -c HOST [--port 7681] [--path /]

Both take --debug LLL_BITS and --extension NAME: "none" (the default),
"all" (libwebsocket_internal_extensions) or one of them by name
(permessage-deflate, deflate-frame, deflate-stream): the client offers it, the
server accepts it.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
from typing import Any

import pylws_ffi as lws
from pylws_ffi import ffi, lib

PROTOCOL_NAME = "fraggle-protocol"
# random bytes -> printable ASCII, so every text fragment is valid UTF-8
PRINTABLE = bytes(32 + b % 95 for b in range(256))


class ServerSession:
    def __init__(self) -> None:
        self.message = 0  # messages begun so far
        self.frags_left = 0  # fragments of the current message still to send
        self.in_message = False  # a fragment without FIN went out
        self.is_text = False
        self.sum = 0
        self.total = 0
        self.checksum_due = False  # the message is out, its checksum is not
        self.done = False


class Server:
    def __init__(self, args: argparse.Namespace, rng: random.Random) -> None:
        self.messages = args.messages
        self.max_fragments = args.max_fragments
        self.max_fragment_size = args.max_fragment_size
        self.rng = rng
        self.sessions: dict[Any, ServerSession] = {}

    def send_one(self, wsi: Any, s: ServerSession) -> int:
        rng = self.rng
        if s.checksum_due:
            text = str(s.sum).encode()
            if lws.libwebsocket_write(wsi, text, len(text), lws.LWS_WRITE_TEXT) < 0:
                return -1
            print(f"sent message {s.message}: {s.total} bytes, checksum {s.sum}")
            s.checksum_due = False
            s.done = s.message >= self.messages
            return 0
        if not s.in_message:
            s.message += 1
            s.frags_left = 1 + rng.randint(0, self.max_fragments - 1)
            s.is_text = rng.getrandbits(1) == 1
            s.sum = 0
            s.total = 0
        data = rng.randbytes(rng.randint(0, self.max_fragment_size))
        if s.is_text:
            data = data.translate(PRINTABLE)
        s.sum = (s.sum + sum(data)) & 0xFFFFFFFF
        s.total += len(data)
        if s.in_message:
            proto = lws.LWS_WRITE_CONTINUATION
        else:
            proto = lws.LWS_WRITE_TEXT if s.is_text else lws.LWS_WRITE_BINARY
        s.frags_left -= 1
        if s.frags_left > 0:
            proto |= lws.LWS_WRITE_NO_FIN
        if lws.libwebsocket_write(wsi, data, len(data), proto) < 0:
            return -1
        s.in_message = s.frags_left > 0
        s.checksum_due = not s.in_message
        return 0

    def callback(self, context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_SERVER_WRITEABLE:
            s = self.sessions[wsi]
            # send while the socket takes it, then wait for the next WRITEABLE
            while not s.done and not lib.lws_send_pipe_choked(wsi):
                if self.send_one(wsi, s):
                    return -1
            sys.stdout.flush()
            if s.done:
                lws.libwebsocket_close_and_free_session(context, wsi, lws.LWS_CLOSE_STATUS_NORMAL)
            else:
                lws.libwebsocket_callback_on_writable(context, wsi)
        elif reason == lws.LWS_CALLBACK_ESTABLISHED:
            self.sessions[wsi] = ServerSession()
            print("test-fraggle: client connected", file=sys.stderr)
            lws.libwebsocket_callback_on_writable(context, wsi)
        elif reason == lws.LWS_CALLBACK_CLOSED:
            gone = self.sessions.pop(wsi, None)
            if gone is not None:
                print(f"test-fraggle: client gone after {gone.message} messages", file=sys.stderr)
        return 0


class Client:
    def __init__(self) -> None:
        self.pieces: list[bytes] = []  # the message being reassembled
        self.length = 0
        self.have_message = False  # a whole message is in, its checksum is next
        self.sum = 0
        self.digits: list[bytes] = []  # the checksum message being reassembled
        self.verified = self.bad = self.number = 0
        self.closed = self.failed = False

    def receive(self, wsi: Any, data: bytes) -> int:
        final = lib.libwebsocket_is_final_fragment(wsi)
        if not self.have_message:
            self.pieces.append(data)
            self.length += len(data)
            if final:
                self.sum = sum(b"".join(self.pieces)) & 0xFFFFFFFF
                self.have_message = True
                self.digits = []
            return 0
        # the checksum message
        self.digits.append(data)
        if sum(map(len, self.digits)) >= 32:
            print("test-fraggle: a checksum message of more than 31 bytes", file=sys.stderr)
            self.bad += 1
            return -1
        if not final:
            return 0
        self.number += 1
        said = b"".join(self.digits).decode("ascii", "replace")
        if said.isdigit() and int(said) == self.sum:
            print(f"verified message {self.number}: {self.length} bytes, checksum {self.sum}")
            self.verified += 1
        else:
            print(
                f"BAD message {self.number}: {self.length} bytes, checksum {self.sum}, "
                f'the server says "{said}"'
            )
            self.bad += 1
        sys.stdout.flush()
        self.have_message = False
        self.pieces = []
        self.length = 0
        return 0

    def callback(self, context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_CLIENT_RECEIVE:
            return self.receive(wsi, ffi.buffer(in_, len_)[:])
        if reason == lws.LWS_CALLBACK_CLIENT_CONFIRM_EXTENSION_SUPPORTED:
            name = ffi.string(ffi.cast("char *", in_)).decode()
            print(f"test-fraggle: extension {name} confirmed", file=sys.stderr)
        elif reason == lws.LWS_CALLBACK_CLIENT_ESTABLISHED:
            print("test-fraggle: connected", file=sys.stderr)
        elif reason == lws.LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
            why = ffi.string(ffi.cast("char *", in_)).decode() if in_ != ffi.NULL else "unknown"
            print(f"test-fraggle: connection failed: {why}", file=sys.stderr)
            self.failed = True
        elif reason == lws.LWS_CALLBACK_CLOSED:
            self.closed = True
        return 0


def pick_extensions(name: str) -> Any:
    """--extension: None, all the built-in extensions, or one by name."""
    if name == "none":
        return None
    if name == "all":
        return lws.libwebsocket_internal_extensions
    i = 0
    while lws.libwebsocket_internal_extensions[i].callback != ffi.NULL:
        ext = lws.libwebsocket_internal_extensions[i]
        if ffi.string(ext.name).decode() == name:
            return [ext]
        i += 1
    raise ValueError(f"unknown extension: {name}")


def main(argv: list[str] | None = None) -> int:
    def ranged(lo: int, hi: int) -> Any:
        def parse(text: str) -> int:
            v = int(text, 0)
            if not lo <= v <= hi:
                raise argparse.ArgumentTypeError(f"not in {lo}..{hi}: {text}")
            return v

        return parse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-c", "--client", metavar="HOST", default=None)
    ap.add_argument("--port", "-p", type=ranged(1, 65535), default=7681)
    ap.add_argument("--interface", "-i", default=None)
    ap.add_argument("--path", "-P", default="/")
    ap.add_argument("--messages", "-m", type=ranged(0, 1 << 40), default=10)
    ap.add_argument("--max-fragments", "-F", type=ranged(1, 1 << 20), default=16)
    ap.add_argument("--max-fragment-size", "-S", type=ranged(0, 64 << 20), default=4096)
    ap.add_argument("--seed", "-s", type=ranged(0, 1 << 62), default=None)
    ap.add_argument("--debug", "-d", type=lambda s: int(s, 0), default=lws.LLL_ERR | lws.LLL_WARN)
    ap.add_argument("--extension", "-e", default="none", metavar="none|all|NAME")
    args = ap.parse_args(argv)
    try:
        extensions = pick_extensions(args.extension)
    except ValueError as e:
        print(f"test-fraggle: {e}", file=sys.stderr)
        return 2

    lws.lws_set_log_level(args.debug)
    stop = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    if args.client is None:
        server = Server(args, random.Random(args.seed))
        try:
            context = lws.libwebsocket_create_context(
                args.port, args.interface, [(PROTOCOL_NAME, server.callback, 0)], extensions
            )
        except OSError as e:
            print(f"test-fraggle: cannot start: {e}", file=sys.stderr)
            return 1
        print(f"test-fraggle server on port {args.port}", file=sys.stderr)
        n = 0
        while not stop and n >= 0:
            n = lws.libwebsocket_service(context, 1000)
        lws.libwebsocket_context_destroy(context)
        return 1 if n < 0 else 0

    client = Client()
    context = lws.libwebsocket_create_context(
        lws.CONTEXT_PORT_NO_LISTEN, None, [(PROTOCOL_NAME, client.callback, 0)], extensions
    )
    try:
        try:
            wsi = lws.libwebsocket_client_connect(
                context, args.client, args.port, 0, args.path, args.client, None,
                PROTOCOL_NAME, -1,
            )  # fmt: skip
        except OSError as e:
            print(f"test-fraggle: {e}", file=sys.stderr)
            return 1
        n = 0
        while not stop and n >= 0 and not client.closed and not client.failed:
            n = lws.libwebsocket_service(context, 1000)
        if stop and not client.closed and not client.failed:
            lws.libwebsocket_close_and_free_session(context, wsi, lws.LWS_CLOSE_STATUS_NORMAL)
    finally:
        lws.libwebsocket_context_destroy(context)

    unfinished = client.have_message or bool(client.pieces)
    if unfinished:
        print(f"message {client.number + 1} arrived without its checksum")
    print(f"{client.verified} messages verified, {client.bad} bad")
    return 1 if client.failed or client.bad or unfinished or not client.verified else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""x-pylws-rot13: a WebSocket extension written in Python, with a server and
a client that both use it.

The extension rotates the ASCII letters of every data payload by 13 places
on the wire, both ways (bytes outside A-Z and a-z, so every byte of a
multi-byte UTF-8 character, pass unchanged: text stays valid UTF-8, and
binary messages survive since rot13 undoes itself).  It is negotiated like
any extension: the client offers ``Sec-WebSocket-Extensions: x-pylws-rot13``
and the server accepts it; a peer that does not offer it talks plain text.

    python examples/ext_rot13.py server [--port 7681] [--deflate]
    python examples/ext_rot13.py client [--host 127.0.0.1] [--port 7681]
                                        [--no-rot13] [--deflate] MESSAGE...

The server answers each text message with "echo: " + the message (binary
ones come back as they are).  The client sends each MESSAGE, prints each
answer and says whether the server accepted x-pylws-rot13.  With --deflate
they also offer the built-in permessage-deflate after it
(``pylws_ffi.libwebsocket_internal_extensions``): Python extensions and
built-in ones mix in one list.

How it works: the extension's callback gets LWS_EXT_CALLBACK_PACKET_RX_PREPARSE
for each received payload and PACKET_TX_PRESEND for each one sent, with
``in_`` pointing at a ``struct lws_tokens``; ``lws_tokens_payload`` reads it
and ``lws_tokens_replace`` points it at the transformed copy, which must stay
alive until the extension's next call on that connection: it is kept in a
list per connection and direction, dropped at LWS_EXT_CALLBACK_DESTROY.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

import pylws_ffi as lws
from pylws_ffi import ffi

NAME = "x-pylws-rot13"
PROTOCOL = "rot13-echo"
ROT13 = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    b"NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm",
)


def rot13(data: bytes) -> bytes:
    return data.translate(ROT13)


class Rot13Extension:
    """The extension: ``entry()`` is what goes into create_context's list."""

    def __init__(self) -> None:
        self.active: set[Any] = set()  # connections it is active on
        self.constructed = 0  # how many connections it was ever negotiated on
        self.rx: dict[Any, list[Any]] = {}  # wsi -> the last received payload made
        self.tx: dict[Any, list[Any]] = {}  # wsi -> the last payload to send made

    def entry(self) -> tuple[str, Any, int]:
        return (NAME, self.callback, 0)

    def callback(
        self, context: Any, ext: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int
    ) -> int:
        if reason == lws.LWS_EXT_CALLBACK_PACKET_RX_PREPARSE:
            data = lws.lws_tokens_payload(in_)
            if data:
                lws.lws_tokens_replace(in_, rot13(data), self.rx.setdefault(wsi, []))
        elif reason == lws.LWS_EXT_CALLBACK_PACKET_TX_PRESEND:
            data = lws.lws_tokens_payload(in_)
            if data:
                lws.lws_tokens_replace(in_, rot13(data), self.tx.setdefault(wsi, []))
        elif reason in (lws.LWS_EXT_CALLBACK_CONSTRUCT, lws.LWS_EXT_CALLBACK_CLIENT_CONSTRUCT):
            # in_ holds the parameters of the offer (or of the server's answer):
            # this extension has none, so anything there is declined
            if len_ and ffi.string(ffi.cast("char *", in_), len_):
                return 1
            self.active.add(wsi)
            self.constructed += 1
        elif reason == lws.LWS_EXT_CALLBACK_DESTROY:
            self.active.discard(wsi)
            self.rx.pop(wsi, None)
            self.tx.pop(wsi, None)
        return 0


def extensions_list(rot: Rot13Extension | None, deflate: bool) -> list[Any]:
    exts: list[Any] = []
    if rot is not None:
        exts.append(rot.entry())
    if deflate:
        exts.append(lws.libwebsocket_internal_extensions)
    return exts


# ---------------------------------------------------------------- server


def serve(port: int, deflate: bool) -> int:
    rot = Rot13Extension()
    pieces: dict[Any, list[bytes]] = {}

    def callback(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_RECEIVE:
            pieces.setdefault(wsi, []).append(lws.payload(in_, len_))
            if not lws.libwebsocket_is_final_fragment(wsi):
                return 0
            data = b"".join(pieces.pop(wsi))
            if lws.lws_frame_is_binary(wsi):
                return (
                    -1
                    if lws.libwebsocket_write(wsi, data, len(data), lws.LWS_WRITE_BINARY) < 0
                    else 0
                )
            answer = b"echo: " + data
            return (
                -1
                if lws.libwebsocket_write(wsi, answer, len(answer), lws.LWS_WRITE_TEXT) < 0
                else 0
            )
        if reason == lws.LWS_CALLBACK_CLOSED:
            pieces.pop(wsi, None)
        return 0

    stop = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        context = lws.libwebsocket_create_context(
            port, None, [(PROTOCOL, callback, 0)], extensions_list(rot, deflate)
        )
    except OSError as e:
        print(f"ext_rot13: cannot start: {e}", file=sys.stderr)
        return 1
    print(f"rot13 echo server on port {port}", file=sys.stderr, flush=True)
    n = 0
    while not stop and n >= 0:
        n = lws.libwebsocket_service(context, 1000)
    lws.libwebsocket_context_destroy(context)
    return 1 if n < 0 else 0


# ---------------------------------------------------------------- client


def client(host: str, port: int, messages: list[str], use_rot13: bool, deflate: bool) -> int:
    rot = Rot13Extension() if use_rot13 else None
    answers: list[str] = []
    state: dict[str, Any] = {"sent": 0, "done": False, "error": ""}
    got: list[bytes] = []

    def callback(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_CLIENT_ESTABLISHED:
            lws.libwebsocket_callback_on_writable(context, wsi)
        elif reason == lws.LWS_CALLBACK_CLIENT_WRITEABLE and state["sent"] < len(messages):
            text = messages[state["sent"]]
            state["sent"] += 1
            lws.libwebsocket_write(wsi, text, len(text), lws.LWS_WRITE_TEXT)
        elif reason == lws.LWS_CALLBACK_CLIENT_RECEIVE:
            got.append(lws.payload(in_, len_))
            if lws.libwebsocket_is_final_fragment(wsi):
                answers.append(b"".join(got).decode())
                got.clear()
                print(f"<- {answers[-1]}", flush=True)
                if len(answers) == len(messages):
                    state["done"] = True
                    return -1  # close: we are finished
                lws.libwebsocket_callback_on_writable(context, wsi)
        elif reason == lws.LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
            state["error"] = ffi.string(ffi.cast("char *", in_)).decode() if in_ else "?"
            state["done"] = True
        elif reason == lws.LWS_CALLBACK_CLOSED:
            state["done"] = True
        return 0

    exts = extensions_list(rot, deflate)
    context = lws.libwebsocket_create_context(
        lws.CONTEXT_PORT_NO_LISTEN, None, [(PROTOCOL, callback, 0)], exts
    )
    try:
        lws.libwebsocket_client_connect(context, host, port, 0, "/", host, None, PROTOCOL)
        while not state["done"]:
            if lws.libwebsocket_service(context, 1000) < 0:
                break
    finally:
        lws.libwebsocket_context_destroy(context)
    if state["error"]:
        print(f"connection failed: {state['error']}", file=sys.stderr)
        return 1
    negotiated = rot is not None and rot.constructed > 0
    print(f"{NAME}: {'negotiated' if negotiated else 'not negotiated'}")
    return 0 if len(answers) == len(messages) else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server", help="the rot13 echo server")
    s.add_argument("--port", type=int, default=7681)
    s.add_argument("--deflate", action="store_true", help="accept permessage-deflate too")
    c = sub.add_parser("client", help="send messages to the server")
    c.add_argument("--host", default="127.0.0.1")
    c.add_argument("--port", type=int, default=7681)
    c.add_argument("--no-rot13", action="store_true", help="do not offer x-pylws-rot13")
    c.add_argument("--deflate", action="store_true", help="offer permessage-deflate too")
    c.add_argument("messages", nargs="+", metavar="MESSAGE")
    args = ap.parse_args(argv)
    if args.mode == "server":
        return serve(args.port, args.deflate)
    return client(args.host, args.port, args.messages, not args.no_rot13, args.deflate)


if __name__ == "__main__":
    sys.exit(main())

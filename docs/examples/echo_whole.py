"""Echo server in the C style: whole messages, however they were fragmented.

The library hands a message to LWS_CALLBACK_RECEIVE in pieces (a frame may be
split across reads, a message across frames): keep the pieces until
libwebsocket_is_final_fragment() says the message is complete, then echo it
as one message of the same type.

    python echo_whole.py [PORT]      (default 7681; Ctrl-C stops it)
"""

from __future__ import annotations

import sys
from typing import Any

import pylws_ffi as lws

# the message being received on each connection, by its wsi
pieces: dict[Any, bytearray] = {}


def echo(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int):
    if reason == lws.LWS_CALLBACK_RECEIVE:
        buf = pieces.setdefault(wsi, bytearray())
        buf += lws.payload(in_, len_)
        if len(buf) > 1 << 20:
            return -1  # refuse messages over 1 MiB: nonzero closes the connection
        if not lws.libwebsocket_is_final_fragment(wsi):
            return 0  # more of this message to come
        message = bytes(pieces.pop(wsi))
        binary = lws.lws_frame_is_binary(wsi)
        kind = lws.LWS_WRITE_BINARY if binary else lws.LWS_WRITE_TEXT
        if lws.libwebsocket_write(wsi, message, len(message), kind) < 0:
            return -1
    elif reason == lws.LWS_CALLBACK_CLOSED:
        pieces.pop(wsi, None)  # a message cut short by the close
    return 0


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 7681
    # protocols: (name, callback, per_session_data_size); a client asking for
    # no subprotocol gets protocols[0]
    context = lws.libwebsocket_create_context(port, None, [("echo", echo, 0)])
    print(f"listening on ws://127.0.0.1:{port}/", flush=True)
    try:
        while lws.libwebsocket_service(context, 1000) >= 0:
            pass
    except KeyboardInterrupt:
        pass
    finally:
        lws.libwebsocket_context_destroy(context)


if __name__ == "__main__":
    main()

"""ns per pylws_ffi.libwebsocket_write call (the Python wrapper's cost).

A self-contained loopback pair in one context: the server, in one RECEIVE
callback, writes N small binary frames through the wrapper and through
``lib.lws_write_unpadded`` (no wrapper); writes made while input is being
dispatched are gathered by the core (no system call each), so the
difference is the wrapper's own cost.  Prints both figures, best of 5.

    python bench/write_overhead.py [N]
"""

from __future__ import annotations

import socket
import sys
import time
from typing import Any

import pylws_ffi as lws
from pylws_ffi import ffi, lib

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
PAYLOAD = b"x" * 16
results: dict[str, float] = {}


def server(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
    if reason == lws.LWS_CALLBACK_RECEIVE:
        write = lws.libwebsocket_write
        raw = lib.lws_write_unpadded
        buf = ffi.from_buffer(PAYLOAD)
        for name in ("wrapper", "raw"):
            best = float("inf")
            for _ in range(5):
                t = time.perf_counter_ns()
                if name == "wrapper":
                    for _ in range(N):
                        write(wsi, PAYLOAD, 16, lws.LWS_WRITE_BINARY)
                else:
                    for _ in range(N):
                        raw(wsi, buf, 16, lws.LWS_WRITE_BINARY)
                best = min(best, (time.perf_counter_ns() - t) / N)
            results[name] = best
    return 0


def main() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = lws.libwebsocket_create_context(port, "lo", [("bench", server)])
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Protocol: bench\r\n\r\n"
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lws.libwebsocket_service(ctx, 10)
        sock.setblocking(False)
        try:
            if b"\r\n\r\n" in sock.recv(4096):
                break
        except BlockingIOError:
            pass
    sock.setblocking(True)
    sock.sendall(bytes([0x82, 0x81, 0, 0, 0, 0]) + b"x")  # one masked binary frame
    while not results and time.monotonic() < deadline + 30:
        lws.libwebsocket_service(ctx, 10)
    sock.close()
    lws.libwebsocket_context_destroy(ctx)
    w, r = results["wrapper"], results["raw"]
    print(
        f"libwebsocket_write: {w:.0f} ns/call; lib.lws_write_unpadded: {r:.0f} ns/call; "
        f"wrapper overhead {w - r:.0f} ns"
    )


if __name__ == "__main__":
    main()

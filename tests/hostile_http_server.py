"""A pylws_ffi HTTP server for tests/test_hostile_http.py, run as a subprocess
(a crash must not take pytest with it).

    hostile_http_server.py PORT DIR [service|aio]

"/inline" is answered from the HTTP callback with LWS_WRITE_HTTP and the
connection kept (the callback returns 0); any other path serves DIR/PATH with
libwebsockets_serve_http_file (404 when missing).  WebSocket connections echo.
``service``: the library's own loop (libwebsocket_service); ``aio``: an asyncio
loop watching the descriptors (pylws_ffi.aio, the poll callbacks).  Prints
"ready PORT" once listening; SIGTERM stops it (exit 0).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

import pylws_ffi as lws
from pylws_ffi import aio

PAGE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\ninline\n"


def make_callback(www: Path) -> Any:
    def callback(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_HTTP:
            path = lws.ffi.string(lws.ffi.cast("char *", in_)).decode()
            if path == "/inline":
                return (
                    0
                    if lws.libwebsocket_write(wsi, PAGE, len(PAGE), lws.LWS_WRITE_HTTP) > 0
                    else -1
                )
            file = www / path.lstrip("/")
            if ".." in path or not file.is_file():
                return 1  # nothing written: the library answers 404
            return (
                1 if lws.libwebsockets_serve_http_file(context, wsi, str(file), "text/plain") else 0
            )
        if reason == lws.LWS_CALLBACK_RECEIVE:
            data = lws.ffi.buffer(in_, len_)[:]
            return (
                0 if lws.libwebsocket_write(wsi, data, len(data), lws.LWS_WRITE_TEXT) >= 0 else -1
            )
        return 0

    return callback


def main() -> int:
    port, www = int(sys.argv[1]), Path(sys.argv[2])
    mode = sys.argv[3] if len(sys.argv) > 3 else "service"
    lws.lws_set_log_level(lws.LLL_ERR | lws.LLL_WARN)
    protocols = [("http", make_callback(www), 0)]
    stop = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    if mode == "aio":

        async def run() -> None:
            ctx = aio.create_context(port, "127.0.0.1", protocols)
            done = asyncio.Event()
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, done.set)
            print(f"ready {port}", flush=True)
            await done.wait()
            ctx.close()

        asyncio.run(run())
        return 0

    signal.signal(signal.SIGTERM, on_signal)
    context = lws.libwebsocket_create_context(port, "127.0.0.1", protocols)
    print(f"ready {port}", flush=True)
    while not stop:
        if lws.libwebsocket_service(context, 100) < 0:
            return 1
    lws.libwebsocket_context_destroy(context)
    return 0


if __name__ == "__main__":
    sys.exit(main())

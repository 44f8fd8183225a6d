#!/usr/bin/env python3
"""What a pylws_ffi.aio server knows of each client: the request's path and
query, its headers (Cookie, Authorization, X-Forwarded-For...), the peer's
address and the subprotocol agreed on.

    python examples/aio_request_info.py [--host 127.0.0.1] [--port 8765]

Each client is sent one JSON message describing its own connection, then
the connection is closed (1000).  Port 0: the system picks one; the line
"listening on ws://HOST:PORT/" says which.  Try it with

    python -m websockets 'ws://127.0.0.1:8765/room?id=7'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from urllib.parse import parse_qs, urlsplit

from pylws_ffi import aio


async def describe(conn: aio.Connection) -> None:
    request = conn.request
    assert request is not None  # a server's connection always has one
    url = urlsplit(request.path)
    info = {
        "path": url.path,
        "query": parse_qs(url.query),
        # a header may come more than once: every value, in order
        "headers": {name: request.headers.get_all(name) for name in request.headers},
        "cookie": request.headers.get("Cookie"),
        "remote_address": list(conn.remote_address) if conn.remote_address else None,
        "subprotocol": conn.subprotocol,
    }
    await conn.send(json.dumps(info))
    print(f"{conn.remote_address} asked for {request.path}", flush=True)


async def main(host: str, port: int) -> None:
    # a client asking for no subprotocol is served too (subprotocol None)
    async with aio.serve(describe, host, port, subprotocols=["info.v2", "info.v1"]) as server:
        print(f"listening on ws://{host}:{server.port}/", flush=True)
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port))

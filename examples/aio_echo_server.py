#!/usr/bin/env python3
"""A WebSocket echo server on asyncio: pylws_ffi.aio.serve.

One coroutine per connection; messages arrive whole (str for text, bytes for
binary) and go back as they came.  Ctrl-C stops it.

    python examples/aio_echo_server.py [-H|--host 127.0.0.1] [-p|--port 7681]
                                       [--cert FILE --key FILE]

With --cert and --key it serves wss:// (PEM files).  Try it with
examples/aio_echo_client.py, or any WebSocket client.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from example_args import int_arg  # examples/example_args.py

from pylws_ffi import aio


async def echo(conn: aio.Connection) -> None:
    """Serve one connection: send every message back until it closes."""
    async for message in conn:
        await conn.send(message)


async def main(host: str, port: int, certfile: str | None, keyfile: str | None) -> None:
    async with aio.serve(echo, host, port, certfile=certfile, keyfile=keyfile) as server:
        scheme = "wss" if certfile else "ws"
        print(f"echo server on {scheme}://{host}:{server.port}/", file=sys.stderr, flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-H", "--host", default="127.0.0.1")
    ap.add_argument("-p", "--port", type=int_arg(0, 65535), default=7681)
    ap.add_argument("--cert", help="PEM certificate chain: serve wss://")
    ap.add_argument("--key", help="PEM private key of --cert")
    args = ap.parse_args()
    if (args.cert is None) != (args.key is None):
        ap.error("--cert and --key go together")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(args.host, args.port, args.cert, args.key))

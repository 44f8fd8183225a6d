#!/usr/bin/env python3
"""Echo server on the pylws asyncio layer (pylws_ffi.aio), for bench/run.py.

    python bench/aio_echo.py --port 9000

The shape of examples/aio_echo_server.py: one coroutine per connection,
``async for message in conn: await conn.send(message)``, on uvloop when it is
installed.  Keepalive pings are off, messages up to 64 MiB, and compression is
off explicitly (``compression=None``) where serve() has that option, so the
figures stay comparable if permessage-deflate becomes the default.
"""

import argparse
import asyncio
import inspect

from pylws_ffi import aio


async def echo(conn: aio.Connection) -> None:
    async for message in conn:
        await conn.send(message)


async def main(host: str, port: int) -> None:
    kwargs = dict(max_size=64 * 1024 * 1024, ping_interval=None)
    if "compression" in inspect.signature(aio.serve).parameters:
        kwargs["compression"] = None
    async with aio.serve(echo, host, port, **kwargs) as server:
        print("aio echo server on ws://%s:%d/" % (host, server.port), flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9000)
    args = ap.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(args.host, args.port))
    else:
        uvloop.run(main(args.host, args.port))

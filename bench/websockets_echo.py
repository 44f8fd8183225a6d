#!/usr/bin/env python3
"""Echo server built on the `websockets` library (asyncio), as a baseline.

    python bench/websockets_echo.py --port 9000

Every message received is sent back unchanged.  Compression is off (unless
--compression deflate: permessage-deflate with websockets' defaults, for
bench/deflate_bench.py), keepalive pings are off (they would add traffic to
a benchmark), and max_size is large enough for every scenario of
bench/run.py.  uvloop is used when installed.

--frag-size N echoes each message as fragments of at most N bytes, and
--ping-interval S sends a ping every S seconds: both exist to check that
echo_load copes with fragmented replies and interleaved control frames.
"""

import argparse
import asyncio
import signal
import sys

import websockets
from websockets.asyncio.server import serve


def chunks(msg, n):
    for i in range(0, len(msg), n):
        yield msg[i : i + n]
    if not msg:
        yield msg


async def main(args):
    frag = args.frag_size

    async def echo(ws):
        try:
            if frag:
                async for msg in ws:
                    await ws.send(chunks(msg, frag))
            else:
                async for msg in ws:
                    await ws.send(msg)
        except websockets.ConnectionClosed:
            pass

    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(
        echo,
        args.host,
        args.port,
        compression=args.compression,
        max_size=args.max_size,
        max_queue=None if args.max_queue == 0 else args.max_queue,
        ping_interval=args.ping_interval,
        ping_timeout=None,
    ):
        print(f"websockets_echo listening on {args.host}:{args.port}", file=sys.stderr, flush=True)
        await stop


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--max-size", type=int, default=64 * 1024 * 1024)
    ap.add_argument(
        "--max-queue",
        type=int,
        default=16,
        help="incoming message queue per connection (0 = unbounded)",
    )
    ap.add_argument(
        "--frag-size",
        type=int,
        default=0,
        help="echo messages as fragments of at most N bytes (testing)",
    )
    ap.add_argument(
        "--ping-interval",
        type=float,
        default=None,
        help="send a ping every S seconds (testing; default off)",
    )
    ap.add_argument(
        "--compression",
        choices=["deflate"],
        default=None,
        help="offer permessage-deflate (default: no compression)",
    )
    ap.add_argument("--no-uvloop", action="store_true")
    args = ap.parse_args()
    if not args.no_uvloop:
        try:
            import uvloop
        except ImportError:
            uvloop = None
        if uvloop is not None:
            uvloop.install()
    asyncio.run(main(args))

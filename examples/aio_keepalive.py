#!/usr/bin/env python3
"""Keepalive with pylws_ffi.aio: ping_interval / ping_timeout on either side,
and ``conn.ping()`` to measure the round trip.

    python examples/aio_keepalive.py server [--host 127.0.0.1] [--port 8765]
                                            [--ping-interval 20] [--ping-timeout 20]
    python examples/aio_keepalive.py client URL [--pings 5]
                                            [--ping-interval 20] [--ping-timeout 20]

The server pings every client every ``--ping-interval`` seconds; a client
that sends no pong within ``--ping-timeout`` (frozen, or its network gone
without a FIN) is closed with 1011, which it prints ("closed 1011 ...").
``conn.latency`` holds the last round trip measured.  Port 0: the system picks
one; the line "listening on ws://HOST:PORT/" says which.

The client sends ``--pings`` pings of its own, one a second, prints each
round trip (``await (await conn.ping())``, as in websockets), and closes.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from pylws_ffi import aio


async def watch(conn: aio.Connection) -> None:
    """Server side: read until the connection ends, whoever ends it."""
    print(f"connected: {conn.remote_address}", flush=True)
    try:
        async for message in conn:
            await conn.send(message)
            print(f"latency {conn.latency * 1000:.2f} ms", flush=True)
    except aio.ConnectionClosedError:
        pass  # a keepalive timeout, or a dropped client: reported below
    print(f"closed {conn.close_code} {conn.close_reason!r}", flush=True)


async def server(host: str, port: int, interval: float | None, timeout: float | None) -> None:
    async with aio.serve(watch, host, port, ping_interval=interval, ping_timeout=timeout) as srv:
        print(f"listening on ws://{host}:{srv.port}/", flush=True)
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await stop.wait()


async def client(url: str, pings: int, interval: float | None, timeout: float | None) -> None:
    async with aio.connect(url, ping_interval=interval, ping_timeout=timeout) as conn:
        for n in range(pings):
            pong = await conn.ping()
            rtt = await asyncio.wait_for(pong, 10)
            print(f"ping {n}: {rtt * 1000:.2f} ms", flush=True)
            if n + 1 < pings:
                await asyncio.sleep(1)
        print(f"last latency {conn.latency * 1000:.2f} ms", flush=True)


def seconds(text: str) -> float | None:
    """A keepalive setting: seconds > 0, or "none" (off)."""
    return None if text.lower() == "none" else float(text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["server", "client"])
    parser.add_argument("url", nargs="?", help="client: ws://HOST:PORT/")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--pings", type=int, default=5)
    parser.add_argument("--ping-interval", type=seconds, default=20.0)
    parser.add_argument("--ping-timeout", type=seconds, default=20.0)
    args = parser.parse_args()
    if args.mode == "server":
        asyncio.run(server(args.host, args.port, args.ping_interval, args.ping_timeout))
    elif args.url is None:
        parser.error("client needs a URL")
    else:
        asyncio.run(client(args.url, args.pings, args.ping_interval, args.ping_timeout))

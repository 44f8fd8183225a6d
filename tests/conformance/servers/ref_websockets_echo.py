#!/usr/bin/env python3
"""Reference echo server for Autobahn fuzzingclient validation (websockets lib).

Usage: ref_websockets_echo.py PORT [LIFETIME_SECONDS]
Binds 127.0.0.1 only; exits by itself after LIFETIME_SECONDS (default 3600).
"""

import asyncio
import sys

from websockets.asyncio.server import serve


async def echo(ws):
    try:
        async for message in ws:
            await ws.send(message)
    except Exception:
        pass


async def main(port, lifetime):
    # max_size=None: 9.x sends up to 16 MiB messages; ping_interval=None: no
    # keepalive pings that would show up as unexpected frames in the wire log.
    async with serve(
        echo,
        "127.0.0.1",
        port,
        max_size=None,
        ping_interval=None,
        compression="deflate",
        server_header="websockets-ref",
    ):
        await asyncio.sleep(lifetime)


if __name__ == "__main__":
    port = int(sys.argv[1])
    lifetime = float(sys.argv[2]) if len(sys.argv) > 2 else 3600
    asyncio.run(main(port, lifetime))

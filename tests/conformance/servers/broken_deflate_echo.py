#!/usr/bin/env python3
"""websockets echo server with permessage-deflate that deliberately CORRUPTS
echoes: every 500th message loses its last character/byte (so compression
cases 12.x/13.x must report FAILED).  Usage: broken_deflate_echo.py PORT [LIFETIME]
"""

import asyncio
import sys

from websockets.asyncio.server import serve


async def echo(ws):
    n = 0
    try:
        async for message in ws:
            n += 1
            if n % 500 == 0 and len(message) > 1:
                message = message[:-1]
            await ws.send(message)
    except Exception:
        pass


async def main(port, lifetime):
    async with serve(
        echo,
        "127.0.0.1",
        port,
        max_size=None,
        ping_interval=None,
        compression="deflate",
        server_header="broken-deflate",
    ):
        await asyncio.sleep(lifetime)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 3600))

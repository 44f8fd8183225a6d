"""Echo server and client on asyncio: pylws_ffi.aio.serve and connect.

python echo_aio.py [PORT]      (default 8765; serves until Ctrl-C)
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from pylws_ffi import aio


async def echo(conn: aio.Connection) -> None:
    # one task per connection; messages arrive whole (str for text, bytes
    # for binary), reassembled from their fragments by the library
    async for message in conn:
        await conn.send(message)


async def main(port: int) -> None:
    async with aio.serve(echo, "127.0.0.1", port) as server:
        # a client in the same loop, to show the other side
        async with aio.connect(f"ws://127.0.0.1:{port}/") as conn:
            await conn.send("hello")
            print("echoed:", await conn.recv())
        print(f"serving on ws://127.0.0.1:{port}/", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 8765))

#!/usr/bin/env python3
"""A WebSocket client on asyncio: pylws_ffi.aio.connect.

Connects to URL, sends each MESSAGE (or each line of stdin when none is
given) as a text message, prints the echo of each, then closes with 1000.

    python examples/aio_echo_client.py [URL] [MESSAGE ...] [--cafile FILE]

    python examples/aio_echo_client.py ws://127.0.0.1:7681/ hello world

URL defaults to ws://127.0.0.1:7681/ (examples/aio_echo_server.py); a wss://
URL verifies the server's certificate (system CAs, plus --cafile).  Exit
status: 0 when every message came back, 1 when the connection failed or
closed first.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from pylws_ffi import aio


async def main(url: str, messages: list[str], cafile: str | None) -> int:
    try:
        async with aio.connect(url, cafile=cafile) as conn:
            for message in messages:
                await conn.send(message)
                print(await conn.recv(), flush=True)
    except aio.InvalidHandshake as e:  # refused, unreachable, bad certificate...
        print(f"aio_echo_client: {e}", file=sys.stderr)
        return 1
    except aio.ConnectionClosed as e:
        print(f"aio_echo_client: the server closed first: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url", nargs="?", default="ws://127.0.0.1:7681/")
    ap.add_argument("messages", nargs="*", metavar="MESSAGE")
    ap.add_argument("--cafile", help="PEM CAs to trust beside the system's (wss://)")
    args = ap.parse_args()
    if args.cafile is not None and not args.url.startswith("wss://"):
        ap.error("--cafile is for wss:// URLs")
    messages = args.messages or [line.rstrip("\n") for line in sys.stdin]
    sys.exit(asyncio.run(main(args.url, messages, args.cafile)))

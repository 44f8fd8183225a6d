#!/usr/bin/env python3
"""Deliberately NON-conforming WebSocket echo server (for validating that the
Autobahn fuzzingclient detects failures).

Broken on purpose:
  * echoes every frame as-is (opcode, FIN and RSV bits preserved), so reserved
    bits / reserved opcodes / bad fragmentation are reflected instead of failing
  * never validates UTF-8 in text messages or close reasons
  * no control-frame checks (ping payload > 125, fragmented control frames)
  * echoes any close code (including invalid ones) back
  * no permessage-deflate
Usage: broken_echo.py PORT [LIFETIME_SECONDS]   (binds 127.0.0.1 only)
"""

import asyncio
import base64
import contextlib
import hashlib
import struct
import sys

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(opcode, payload, fin=True, rsv=0):
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    n = len(payload)
    if n <= 125:
        hdr = struct.pack("!BB", b0, n)
    elif n <= 0xFFFF:
        hdr = struct.pack("!BBH", b0, 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, 127, n)
    return hdr + payload


async def handle(reader, writer):
    try:
        req = await reader.readuntil(b"\r\n\r\n")
        key = None
        for line in req.split(b"\r\n"):
            if line.lower().startswith(b"sec-websocket-key:"):
                key = line.split(b":", 1)[1].strip()
        if key is None:
            writer.close()
            return
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
            + accept
            + b"\r\nServer: broken-echo\r\n\r\n"
        )
        while True:
            b0, b1 = await reader.readexactly(2)
            fin = bool(b0 & 0x80)
            rsv = (b0 >> 4) & 7
            opcode = b0 & 0x0F
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await reader.readexactly(8))
            mask = await reader.readexactly(4) if b1 & 0x80 else None
            data = await reader.readexactly(n)
            if mask:
                whole_mask = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
                data = (int.from_bytes(data, "big") ^ whole_mask).to_bytes(n, "big")
            if opcode == 9:  # ping -> pong (no length check)
                writer.write(frame(10, data))
            elif opcode == 10:  # pong -> ignore
                pass
            elif opcode == 8:  # close -> echo whatever we got, then drop
                writer.write(frame(8, data))
                await writer.drain()
                break
            else:  # data / reserved opcodes: echo verbatim
                writer.write(frame(opcode, data, fin, rsv))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def main(port, lifetime):
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await asyncio.sleep(lifetime)


if __name__ == "__main__":
    port = int(sys.argv[1])
    lifetime = float(sys.argv[2]) if len(sys.argv) > 2 else 3600
    asyncio.run(main(port, lifetime))

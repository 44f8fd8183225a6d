"""Keepalive as in `websockets`: ``await conn.ping()`` gives a future its
pong resolves (server side too: LWS_SERVER_OPTION_REPORT_PONGS), and with
``ping_interval``/``ping_timeout`` a frozen peer is closed with 1011 in
bounded time, on both sides."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from typing import Any

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve

from pylws_ffi import aio

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def test_server_side_ping_gets_its_pong(run: Any) -> None:
    latencies: list[float] = []

    async def handler(conn: aio.Connection) -> None:
        await conn.recv()
        pong = await conn.ping()
        latencies.append(await asyncio.wait_for(pong, 5))
        two = [await conn.ping(b"a"), await conn.ping("b")]
        await asyncio.wait_for(asyncio.gather(*two), 5)
        with pytest.raises(ValueError):
            await conn.ping(b"x" * 126)
        await conn.send("done")

    async def main() -> None:
        async with aio.serve(handler, "127.0.0.1", 0) as server:  # noqa: SIM117
            async with ws_connect(f"ws://127.0.0.1:{server.port}") as ws:
                await ws.send("go")
                assert await asyncio.wait_for(ws.recv(), 10) == "done"

    run(main())
    assert latencies and 0 <= latencies[0] < 5


def test_client_side_ping_gets_its_pong(run: Any) -> None:
    async def echo(ws: Any) -> None:
        async for m in ws:
            await ws.send(m)

    async def main() -> None:
        async with ws_serve(echo, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            async with aio.connect(f"ws://127.0.0.1:{port}") as conn:
                latency = await asyncio.wait_for(await conn.ping(), 5)
                assert 0 <= latency < 5 and conn.latency == latency
            with pytest.raises(aio.ConnectionClosed):
                await conn.ping()

    run(main())


async def frozen_client(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A client that completes the handshake, then never reads again."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    return reader, writer


def test_server_closes_a_frozen_client(run: Any) -> None:
    seen: list[aio.ConnectionClosed] = []

    async def handler(conn: aio.Connection) -> None:
        try:
            async for _ in conn:
                pass
        except aio.ConnectionClosedError as e:
            seen.append(e)

    async def main() -> None:
        async with aio.serve(
            handler, "127.0.0.1", 0, ping_interval=0.2, ping_timeout=0.3
        ) as server:
            _, writer = await frozen_client(server.port)
            try:
                for _ in range(100):
                    if seen:
                        break
                    await asyncio.sleep(0.05)
            finally:
                writer.close()

    run(main())
    assert seen and seen[0].code == 1011


def test_client_closes_a_frozen_server(run: Any) -> None:
    handlers: list[tuple[asyncio.Task[Any], asyncio.StreamWriter]] = []

    async def frozen(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append((asyncio.current_task(), writer))  # type: ignore[arg-type]
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        await asyncio.sleep(30)  # never answers a ping

    async def main() -> None:
        server = await asyncio.start_server(frozen, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            conn = await aio.connect(f"ws://127.0.0.1:{port}", ping_interval=0.2, ping_timeout=0.3)
            await asyncio.wait_for(conn.wait_closed(), 5)
            assert conn.close_code == 1011
            with pytest.raises(aio.ConnectionClosedError):
                await conn.recv()
        finally:
            server.close()
            for task, writer in handlers:
                task.cancel()
                writer.close()
            await asyncio.gather(*(t for t, _ in handlers), return_exceptions=True)

    run(main(), timeout=20)


def test_bad_keepalive_arguments() -> None:
    with pytest.raises(ValueError, match="ping_interval"):
        aio.serve(lambda c: c.wait_closed(), "127.0.0.1", 0, ping_interval=0)
    with pytest.raises(ValueError, match="ping_timeout"):
        aio.connect("ws://127.0.0.1:1", ping_timeout=-1)

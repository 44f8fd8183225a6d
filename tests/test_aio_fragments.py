"""Streaming send: ``await conn.send(pieces)`` (an iterable or async
iterable) sends one fragmented message, as websockets does; websockets on
the other side sees the fragments (recv_streaming) and the whole message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosedError as WsClosedError

from pylws_ffi import aio


async def ws_server(handler: Any) -> tuple[Any, str]:
    server = await ws_serve(handler, "127.0.0.1", 0, max_size=None)
    return server, f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"


async def agen(pieces: list[Any]) -> AsyncIterator[Any]:
    for p in pieces:
        await asyncio.sleep(0)
        yield p


def test_pylws_client_sends_fragments_to_websockets(run: Any) -> None:
    got: asyncio.Queue[Any] = asyncio.Queue()

    async def collect(ws: Any) -> None:
        try:
            while True:
                got.put_nowait([f async for f in ws.recv_streaming()])
        except Exception as e:  # the end: tell the test how it ended
            got.put_nowait(e)

    async def main() -> None:
        server, url = await ws_server(collect)
        big = [bytes([i]) * 65536 for i in range(100)]  # 6.4 MiB: chokes on the way
        async with aio.connect(url, max_size=None) as conn:
            await conn.send(["hé", "l", "", "lo"])
            await conn.send(iter([b"\x00", b"\xff\xfe"]))
            await conn.send(agen(["as", "ync"]))
            await conn.send([])  # nothing at all
            sending = asyncio.ensure_future(conn.send(agen(big)))
            await asyncio.sleep(0)
            await conn.send("after")  # waits for the fragmented message
            await sending
            frames = [await asyncio.wait_for(got.get(), 30) for _ in range(5)]
        # the fragments as sent, then the empty final frame
        assert frames[0] == ["hé", "l", "", "lo", ""]
        assert frames[1] == [b"\x00", b"\xff\xfe", b""]
        assert frames[2] == ["as", "ync", ""]
        assert b"".join(frames[3]) == b"".join(big)
        assert len(frames[3]) > 1
        assert frames[4] == ["after"]
        server.close()
        await server.wait_closed()

    run(main())


def test_bad_fragments_fail_the_message(run: Any) -> None:
    ended: list[asyncio.Queue[Any]] = []

    async def recv_all(ws: Any) -> None:
        try:
            while True:
                await ws.recv()
        except Exception as e:
            ended[0].put_nowait(e)

    async def broken() -> AsyncIterator[str]:
        yield "a"
        raise RuntimeError("the source failed")

    async def main() -> None:
        ended.append(asyncio.Queue())
        server, url = await ws_server(recv_all)
        conn = await aio.connect(url)
        with pytest.raises(TypeError):
            await conn.send({"a": 1})  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await conn.send([1, 2])  # type: ignore[list-item]
        await conn.send("still open")  # nothing had begun: the connection is fine
        with pytest.raises(TypeError):
            await conn.send(["text", b"bytes"])
        exc = await asyncio.wait_for(ended[0].get(), 10)
        assert isinstance(exc, WsClosedError) and exc.rcvd is not None
        assert exc.rcvd.code == 1011
        await conn.wait_closed()
        with pytest.raises(aio.ConnectionClosed):
            await conn.send(["x"])
        conn2 = await aio.connect(url)
        with pytest.raises(RuntimeError, match="source failed"):
            await conn2.send(broken())
        await asyncio.wait_for(conn2.wait_closed(), 10)
        # websockets answers a close inside a fragmented message with 1002
        exc = await asyncio.wait_for(ended[0].get(), 10)
        assert isinstance(exc, WsClosedError) and exc.rcvd is not None
        assert (exc.rcvd.code, exc.rcvd.reason) == (1011, "the fragmented message failed")
        server.close()
        await server.wait_closed()

    run(main())


def test_pylws_server_sends_fragments_to_websockets(run: Any) -> None:
    async def stream(conn: aio.Connection) -> None:
        async for message in conn:
            assert isinstance(message, str)
            await conn.send(agen([message] * 3))

    async def main() -> None:
        async with aio.serve(stream, "127.0.0.1", 0) as server:  # noqa: SIM117
            async with ws_connect(f"ws://127.0.0.1:{server.port}/") as ws:
                await ws.send("ab")
                assert await asyncio.wait_for(ws.recv(), 10) == "ababab"
                await ws.send("c")
                frags = [f async for f in ws.recv_streaming()]
                assert frags == ["c", "c", "c", ""]

    run(main())

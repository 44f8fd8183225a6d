"""Close codes and reasons as `websockets` users expect them: a long reason
cut at a character boundary, ``async for`` ending quietly only for a proper
close (ConnectionClosedOK) and raising ConnectionClosedError otherwise, and
an exception in a C-style Python callback showing the peer 1011."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from support.net import free_port
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed as WsClosed

import pylws_ffi as lws
from pylws_ffi import aio


def test_long_reason_is_cut_at_a_character_boundary(run: Any) -> None:
    port = free_port()
    reason = "é" * 100  # 200 bytes; 123 would cut a character in two

    async def handler(conn: aio.Connection) -> None:
        await conn.recv()
        await conn.close(1000, reason)
        assert conn.close_reason == "é" * 61

    async def main() -> None:
        async with (
            aio.serve(handler, "127.0.0.1", port),
            ws_connect(f"ws://127.0.0.1:{port}") as ws,
        ):
            await ws.send("go")
            with pytest.raises(WsClosed):
                await asyncio.wait_for(ws.recv(), 10)
            assert ws.close_code == 1000  # not 1007: the reason was valid UTF-8
            assert ws.close_reason == "é" * 61  # 122 bytes

    run(main())


@pytest.mark.parametrize(
    "code, quiet", [(1000, True), (1001, True), (1011, False), (1008, False), (4000, False)]
)
def test_async_for_ends_quietly_only_for_a_proper_close(run: Any, code: int, quiet: bool) -> None:
    port = free_port()

    async def server(ws: Any) -> None:
        await ws.send("one")
        await ws.close(code, "bye")

    async def main() -> None:
        async with (
            ws_serve(server, "127.0.0.1", port),
            aio.connect(f"ws://127.0.0.1:{port}") as conn,
        ):
            got = []
            try:
                async for message in conn:
                    got.append(message)
            except aio.ConnectionClosedError as e:
                assert not quiet
                assert (e.code, e.reason) == (code, "bye")
                assert isinstance(e, aio.ConnectionClosed)
            else:
                assert quiet
            assert got == ["one"]
            with pytest.raises(aio.ConnectionClosedOK if quiet else aio.ConnectionClosedError):
                await conn.recv()

    run(main())


def test_server_handler_sees_error_close(run: Any) -> None:
    """aio server side: a client closing with 1011 makes ``async for`` raise
    in the handler; the server does not log it as a handler failure."""
    port = free_port()
    seen: list[BaseException] = []

    async def handler(conn: aio.Connection) -> None:
        try:
            async for _ in conn:
                pass
        except aio.ConnectionClosedError as e:
            seen.append(e)
            raise

    async def main() -> None:
        async with aio.serve(handler, "127.0.0.1", port):
            async with ws_connect(f"ws://127.0.0.1:{port}") as ws:
                await ws.close(1011, "oops")
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.02)

    run(main())
    assert seen and seen[0].code == 1011  # type: ignore[attr-defined]


@pytest.mark.parametrize("where", ["RECEIVE", "SERVER_WRITEABLE"])
def test_exception_in_a_callback_closes_with_1011(run: Any, where: str) -> None:
    port = free_port()

    def callback(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_RECEIVE:
            if where == "RECEIVE":
                raise RuntimeError("a bug in the callback (expected by the test)")
            lws.libwebsocket_callback_on_writable(ctx, wsi)
        elif reason == lws.LWS_CALLBACK_SERVER_WRITEABLE:
            raise RuntimeError("a bug in the callback (expected by the test)")
        return 0

    stop = threading.Event()
    ctx = lws.libwebsocket_create_context(port, "lo", [("p", callback)])

    def serve() -> None:
        while not stop.is_set():
            lws.libwebsocket_service(ctx, 20)

    thread = threading.Thread(target=serve)
    thread.start()
    try:

        async def main() -> None:
            async with ws_connect(f"ws://127.0.0.1:{port}") as ws:
                await ws.send("x")
                with pytest.raises(WsClosed):
                    await asyncio.wait_for(ws.recv(), 10)
                assert ws.close_code == 1011

        run(main())
    finally:
        stop.set()
        thread.join(10)
        lws.libwebsocket_context_destroy(ctx)


def test_a_close_the_core_sent_is_the_close_code(run: Any) -> None:
    """A message past max_size is closed with 1009 by the core itself (it
    gathers whole messages up to the limit): both aio sides say 1009 in
    close_code and in ConnectionClosedError, not None."""
    port = free_port()
    seen: asyncio.Future[tuple[int | None, int | None]]

    async def handler(conn: aio.Connection) -> None:
        with pytest.raises(aio.ConnectionClosedError) as e:
            await conn.recv()
        seen.set_result((conn.close_code, e.value.code))

    async def big(ws: Any) -> None:
        await ws.send("y" * 100)
        await ws.wait_closed()

    async def main() -> None:
        nonlocal seen
        seen = asyncio.get_running_loop().create_future()
        async with aio.serve(handler, "127.0.0.1", port, max_size=10):
            async with ws_connect(f"ws://127.0.0.1:{port}") as ws:
                await ws.send("x" * 100)
                with pytest.raises(WsClosed):
                    await asyncio.wait_for(ws.recv(), 10)
                assert ws.close_code == 1009
            assert await asyncio.wait_for(seen, 10) == (1009, 1009)
        port2 = free_port()
        async with ws_serve(big, "127.0.0.1", port2):
            conn = await aio.connect(f"ws://127.0.0.1:{port2}", max_size=10)
            with pytest.raises(aio.ConnectionClosedError) as e:
                await asyncio.wait_for(conn.recv(), 10)
            assert (conn.close_code, e.value.code) == (1009, 1009)

    run(main())


def test_lws_close_status_sent_in_closed() -> None:
    """The C-style API: in CLOSED, lws_close_status_sent gives the code the
    library sent on its own (1007 for a text message that is not UTF-8), and
    the peer's code echoed back after a close the peer began."""
    from support.raw import RawWS

    sent: list[int] = []

    def callback(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_CLOSED:
            sent.append(lws.lws_close_status_sent(wsi))
        return 0

    ctx = lws.libwebsocket_create_context(
        lws.LWS_CONTEXT_PORT_ANY, "127.0.0.1", [("p", callback, 0)], None
    )
    try:
        port = lws.lws_context_listen_port(ctx)
        stop = threading.Event()

        def serve() -> None:
            while not stop.is_set():
                lws.libwebsocket_service(ctx, 20)

        t = threading.Thread(target=serve)
        t.start()
        try:
            for payload, op, expect in ((b"\xff\xfe", 0x1, 1007), (b"\x0f\xa0bye", 0x8, 4000)):
                with RawWS(port) as c:
                    c.send_frame(op, payload)
                    assert c.close_code() == expect  # what the server sent
                for _ in range(500):
                    if sent:
                        break
                    time.sleep(0.01)
                assert sent.pop() == expect
        finally:
            stop.set()
            t.join(10)
    finally:
        lws.libwebsocket_context_destroy(ctx)

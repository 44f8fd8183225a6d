"""pylws_ffi.aio: a pylws_ffi context inside an asyncio loop (the default loop
and uvloop), talked to by `websockets` in the same loop, both ways."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest
from servers import wait_listening
from support.net import free_port
from support.raw import ipv6_loopback
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed as WsClosed
from websockets.sync.client import connect as sync_connect

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is in the test extras
    uvloop = None

LOOPS = [
    "asyncio",
    pytest.param("uvloop", marks=pytest.mark.skipif(uvloop is None, reason="no uvloop")),
]
SIZES = [0, 1, 125, 126, 65535, 65536, 300_000, 1 << 20]


def payloads() -> list[str | bytes]:
    out: list[str | bytes] = []
    for n in SIZES:
        out.append(bytes((i * 7 + n) & 0xFF for i in range(n)))
        out.append(("é" * (n // 2) + "a" * (n % 2)) if n else "")
    return out


async def echo(conn: Any) -> None:
    async for message in conn:
        await conn.send(message)


async def echo_ws(ws: Any) -> None:
    """The same, for a websockets server."""
    async for message in ws:
        await ws.send(message)


# ---- a pylws_ffi server, a websockets client ----


def test_echo_pylws_server_websockets_client(run):
    from pylws_ffi import aio

    port = free_port()

    async def main() -> None:
        async with aio.serve(echo, "127.0.0.1", port, max_size=2 << 20) as server:
            async with ws_connect(
                f"ws://127.0.0.1:{port}/some/path?q=1", max_size=None, compression=None
            ) as ws:
                for message in payloads():
                    await ws.send(message)
                    got = await ws.recv()
                    assert type(got) is type(message) and got == message, len(message)
                # fragmented messages come out whole
                await ws.send(["ab", "cd", "é"])
                assert await ws.recv() == "abcdé"
                await ws.send([b"x" * 70000, b"y" * 10])
                assert await ws.recv() == b"x" * 70000 + b"y" * 10
                (conn,) = server.connections
                assert conn.path == "/some/path?q=1"
                assert conn.subprotocol is None
            assert ws.close_code == 1000

    run(main())


def test_echo_pylws_client_websockets_server(run):
    from pylws_ffi import aio

    port = free_port()

    async def ws_echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    async def main() -> None:
        async with ws_serve(ws_echo, "127.0.0.1", port, max_size=None, compression=None):
            async with aio.connect(f"ws://127.0.0.1:{port}/", max_size=2 << 20) as conn:
                for message in payloads():
                    await conn.send(message)
                    got = await conn.recv()
                    assert type(got) is type(message) and got == message, len(message)
            assert conn.closed and conn.close_code == 1000

    run(main())


def test_both_ways_in_one_loop(run):
    """A pylws server and a websockets server in the same loop, each talked
    to by the other library's client, concurrently."""
    from pylws_ffi import aio

    p1, p2 = free_port(), free_port()

    async def ws_echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    async def talk_pylws_client() -> None:
        async with aio.connect(f"ws://127.0.0.1:{p2}") as conn:
            for i in range(200):
                await conn.send(f"m{i}")
            assert [await conn.recv() for _ in range(200)] == [f"m{i}" for i in range(200)]

    async def talk_ws_client() -> None:
        async with ws_connect(f"ws://127.0.0.1:{p1}", compression=None) as ws:
            for i in range(200):
                await ws.send(b"%d" % i)
            assert [await ws.recv() for _ in range(200)] == [b"%d" % i for i in range(200)]

    async def main() -> None:
        async with aio.serve(echo, "127.0.0.1", p1), ws_serve(ws_echo, "127.0.0.1", p2):
            await asyncio.gather(talk_pylws_client(), talk_ws_client(), talk_ws_client())

    run(main())


def test_many_clients(run):
    from pylws_ffi import aio

    port = free_port()

    async def one(i: int) -> None:
        async with ws_connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
            for j in range(20):
                await ws.send(f"{i}:{j}")
                assert await ws.recv() == f"{i}:{j}"

    async def main() -> None:
        async with aio.serve(echo, "127.0.0.1", port):
            await asyncio.gather(*(one(i) for i in range(50)))

    run(main())


# ---- closing ----


def test_server_closes_with_its_code_and_reason(run):
    from pylws_ffi import aio

    port = free_port()
    seen: list[Any] = []

    async def handler(conn: Any) -> None:
        assert await conn.recv() == "close please"
        await conn.close(4001, "bye")
        seen.append((conn.closed, conn.close_code, conn.close_reason))

    async def main() -> None:
        async with (
            aio.serve(handler, "127.0.0.1", port),
            ws_connect(f"ws://127.0.0.1:{port}") as ws,
        ):
            await ws.send("close please")
            with pytest.raises(WsClosed):
                await ws.recv()
            assert ws.close_code == 4001 and ws.close_reason == "bye"
            assert ws.protocol.close_rcvd_then_sent  # a clean closing handshake

    run(main())
    assert seen == [(True, 4001, "bye")]


def test_handler_return_closes_1000_and_raise_closes_1011(run):
    from pylws_ffi import aio

    port = free_port()

    async def handler(conn: Any) -> None:
        if await conn.recv() == "raise":
            raise RuntimeError("the handler failed (expected by the test)")

    async def main() -> list[int | None]:
        codes = []
        async with aio.serve(handler, "127.0.0.1", port):
            for word in ("return", "raise"):
                async with ws_connect(f"ws://127.0.0.1:{port}") as ws:
                    await ws.send(word)
                    with pytest.raises(WsClosed):
                        await ws.recv()
                    codes.append(ws.close_code)
        return codes

    assert run(main()) == [1000, 1011]


def test_client_close_code_reaches_a_websockets_server(run):
    from pylws_ffi import aio

    port = free_port()
    codes: list[Any] = []

    async def handler(ws: Any) -> None:
        with pytest.raises(WsClosed):
            await ws.recv()
        codes.append((ws.close_code, ws.close_reason))

    async def main() -> None:
        async with ws_serve(handler, "127.0.0.1", port) as server:
            conn = await aio.connect(f"ws://127.0.0.1:{port}")
            await conn.close(4003, "done here")
            assert conn.close_code == 4003 and conn.close_reason == "done here"
            with pytest.raises(aio.ConnectionClosed):
                await conn.send("too late")
            with pytest.raises(aio.ConnectionClosed):
                await conn.recv()
            for _ in range(100):
                if codes:
                    break
                await asyncio.sleep(0.02)
            server.close()

    run(main())
    assert codes == [(4003, "done here")]


def test_peer_close_ends_iteration(run):
    from pylws_ffi import aio

    port = free_port()

    async def handler(ws: Any) -> None:
        await ws.send("one")
        await ws.send(b"two")
        await ws.close(1000, "done")  # other codes raise: tests/test_close_semantics.py

    async def main() -> None:
        async with ws_serve(handler, "127.0.0.1", port):
            conn = await aio.connect(f"ws://127.0.0.1:{port}")
            assert [m async for m in conn] == ["one", b"two"]
            assert conn.closed
            await conn.wait_closed()

    run(main())


def send_when_set(go: asyncio.Event, *messages: str) -> Any:
    """A websockets handler: once ``go`` is set, send ``messages``, then wait
    for the close (the test decides when the messages leave)."""

    async def handler(ws: Any) -> None:
        await go.wait()
        for message in messages:
            await ws.send(message)
        await ws.wait_closed()

    return handler


def test_a_second_reader_is_refused_and_a_cancelled_one_loses_nothing(run):
    """One coroutine waits for the next message at a time: a second recv()
    (or async for) raises RuntimeError at once instead of taking the first
    one's wake-up (which left the first waiting forever).  A recv() that is
    cancelled (wait_for's timeout) leaves the message queued for the next."""
    from pylws_ffi import aio

    port = free_port()
    go = asyncio.Event()

    async def main() -> None:
        async with ws_serve(send_when_set(go, "one", "two"), "127.0.0.1", port):
            conn = await aio.connect(f"ws://127.0.0.1:{port}")
            first = asyncio.ensure_future(conn.recv())
            await asyncio.sleep(0.05)
            with pytest.raises(RuntimeError, match="already waiting"):
                await asyncio.wait_for(conn.recv(), 2)
            with pytest.raises(RuntimeError, match="already waiting"):
                await asyncio.wait_for(conn.__aiter__().__anext__(), 2)
            go.set()
            assert await asyncio.wait_for(first, 5) == "one"
            # the first reader is done: the next one is welcome
            assert await asyncio.wait_for(conn.recv(), 5) == "two"
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(conn.recv(), 0.05)
            await conn.close()

    run(main())


def test_recv_cancelled_after_the_message_came_keeps_it(run):
    """The race wait_for() can lose: the message arrives and wakes recv(),
    and the task is cancelled before it runs.  The message stays queued."""
    from pylws_ffi import aio

    port = free_port()
    go = asyncio.Event()

    async def main() -> None:
        async with ws_serve(send_when_set(go, "kept"), "127.0.0.1", port):
            conn = await aio.connect(f"ws://127.0.0.1:{port}")
            reader = asyncio.ensure_future(conn.recv())
            await asyncio.sleep(0.05)
            assert not reader.done()
            go.set()
            deadline = time.monotonic() + 5
            while not conn._messages and time.monotonic() < deadline:
                await asyncio.sleep(0)
            # queued, the reader woken but not yet run: cancel it now
            assert conn._messages and not reader.done()
            reader.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reader
            assert await asyncio.wait_for(conn.recv(), 5) == "kept"
            await conn.close()

    run(main())


def test_close_code_the_peer_sent(run):
    from pylws_ffi import aio

    p1, p2 = free_port(), free_port()
    got: list[Any] = []

    async def ws_handler(ws: Any) -> None:
        await ws.close(4002, "later")

    async def pylws_handler(conn: Any) -> None:
        await conn.wait_closed()
        got.append(("server", conn.close_code, conn.close_reason))

    async def main() -> None:
        async with ws_serve(ws_handler, "127.0.0.1", p2), aio.serve(pylws_handler, "127.0.0.1", p1):
            conn = await aio.connect(f"ws://127.0.0.1:{p2}")
            await conn.wait_closed()
            got.append(("client", conn.close_code, conn.close_reason))
            async with ws_connect(f"ws://127.0.0.1:{p1}") as ws:
                await ws.close(4004, "gone")
            for _ in range(100):
                if len(got) == 2:
                    break
                await asyncio.sleep(0.02)

    run(main())
    assert sorted(got) == [("client", 4002, "later"), ("server", 4004, "gone")]


def test_too_large_message_closes_1009(run):
    from pylws_ffi import aio

    port = free_port()

    async def main() -> None:
        async with (
            aio.serve(echo, "127.0.0.1", port, max_size=1000),
            ws_connect(f"ws://127.0.0.1:{port}", compression=None) as ws,
        ):
            await ws.send("x" * 1000)
            assert await ws.recv() == "x" * 1000
            await ws.send(["x" * 600, "y" * 600])  # too large only when put together
            with pytest.raises(WsClosed):
                await ws.recv()
            assert ws.close_code == 1009

    run(main())


def test_server_close_says_going_away(run):
    from pylws_ffi import aio

    port = free_port()

    async def main() -> None:
        server = await aio.serve(echo, "127.0.0.1", port)
        ws = await ws_connect(f"ws://127.0.0.1:{port}")
        await ws.send("hi")
        assert await ws.recv() == "hi"
        server.close()
        await server.wait_closed()
        with pytest.raises(WsClosed):
            await ws.recv()
        assert ws.close_code == 1001
        assert server.context.closed and server.context.watched == {}
        with pytest.raises(OSError):
            await ws_connect(f"ws://127.0.0.1:{port}", open_timeout=2)

    run(main())


# ---- flow, back-pressure ----


def test_send_waits_while_choked(run):
    """20 MiB sent to a client that reads slowly: every send respects
    lws_send_pipe_choked, and everything arrives in order.  The server's
    queue may hold 3 MiB at most (LWS_LIMIT_OUTPUT_MAX; a write beyond it
    cuts the connection): a send that wrote while choked would pass it."""
    import pylws_ffi as lws
    from pylws_ffi import aio, lib

    port = free_port()
    chunk = 1 << 20
    waits: list[int] = []

    async def handler(conn: Any) -> None:
        await conn.recv()
        for i in range(20):
            if lib.lws_send_pipe_choked(conn.wsi):
                waits.append(i)
            await conn.send(bytes([i]) * chunk)
        await conn.recv()

    async def main() -> None:
        async with (
            aio.serve(handler, "127.0.0.1", port, limits={lws.LWS_LIMIT_OUTPUT_MAX: 3 * chunk}),
            ws_connect(
                f"ws://127.0.0.1:{port}", max_size=None, compression=None, max_queue=1
            ) as ws,
        ):
            await ws.send("go")
            for i in range(20):
                await asyncio.sleep(0.01)
                assert await ws.recv() == bytes([i]) * chunk
            await ws.send("done")

    run(main())
    assert waits, "the pipe never choked: nothing was tested"


def test_a_send_does_not_overtake_one_waiting_for_the_lock(run):
    """A waits while the output is choked, B waits behind it.  When A's send
    returns, the lock is free but B has not run yet: A's next send must still
    go after B's (Lock.locked() alone would let it take the fast path)."""
    from pylws_ffi import aio, lib

    port = free_port()
    blob = b"b" * (32 << 20)
    choked: list[bool] = []

    async def send_two(conn: Any, first: str, second: str) -> None:
        await conn.send(first)
        await conn.send(second)

    async def handler(conn: Any) -> None:
        await conn.recv()
        await conn.send("first")  # the client's queue is full with it: it stops reading
        await conn.send(blob)
        choked.append(bool(lib.lws_send_pipe_choked(conn.wsi)))
        a = asyncio.create_task(send_two(conn, "A", "C"))
        await asyncio.sleep(0)  # A waits for WRITEABLE, holding the lock
        b = asyncio.create_task(conn.send("B"))
        await asyncio.sleep(0)  # B waits for the lock
        await asyncio.gather(a, b)
        await conn.recv()

    async def main() -> list[Any]:
        async with (
            aio.serve(handler, "127.0.0.1", port),
            ws_connect(
                f"ws://127.0.0.1:{port}", max_size=None, compression=None, max_queue=1
            ) as ws,
        ):
            await ws.send("go")
            await asyncio.sleep(0.3)
            got = [await asyncio.wait_for(ws.recv(), 30) for _ in range(5)]
            await ws.send("done")
            return got

    got = run(main())
    assert choked == [True], "the output never choked: nothing was tested"
    assert got[:2] == ["first", blob]
    assert got[2:] == ["A", "B", "C"]


def test_reading_pauses_when_the_handler_does_not_read(run):
    """With max_queue=4, a handler that does not read stops the socket being
    read (rx flow control); when it reads again every message arrives in
    order (stashed input resumed)."""
    from pylws_ffi import aio

    port = free_port()

    async def main() -> None:
        gate = asyncio.Event()
        got: list[Any] = []

        async def handler(conn: Any) -> None:
            await gate.wait()
            async for message in conn:
                got.append(message)
                if len(got) == 300:
                    await conn.send("all")

        async with (
            aio.serve(handler, "127.0.0.1", port, max_queue=4) as server,
            ws_connect(f"ws://127.0.0.1:{port}", compression=None) as ws,
        ):
            for i in range(300):
                await ws.send(f"{i:04d}" + "." * 4000)
            await asyncio.sleep(0.3)
            (conn,) = server.connections
            assert len(conn._messages) <= 4  # the rest waits in the socket / core
            gate.set()
            assert await asyncio.wait_for(ws.recv(), 10) == "all"
        assert [m[:4] for m in got] == [f"{i:04d}" for i in range(300)]

    run(main())


# ---- opening ----


def test_connect_to_nothing_fails(run):
    from pylws_ffi import aio

    port = free_port()

    async def main() -> None:
        start = time.monotonic()
        with pytest.raises(aio.InvalidHandshake, match="refused"):
            await aio.connect(f"ws://127.0.0.1:{port}", open_timeout=5)
        assert time.monotonic() - start < 3

    run(main())


def test_connect_refused_by_the_server(run):
    from pylws_ffi import aio

    port = free_port()

    async def main() -> None:
        async with aio.serve(echo, "127.0.0.1", port, subprotocols=["chat"]):
            with pytest.raises(aio.InvalidHandshake):
                await aio.connect(f"ws://127.0.0.1:{port}", subprotocols=["other"])

    run(main())


@pytest.mark.parametrize(
    ("bind", "url_host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1", "127.0.0.1:{port}"),
        pytest.param(
            "::1", "[::1]", "[::1]:{port}",
            marks=pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback"),
        ),
        ("127.0.0.1", "localhost", "localhost:{port}"),
        ("127.0.0.1", "LocalHost", "localhost:{port}"),
    ],
)  # fmt: skip
def test_connect_host_header(run, bind, url_host, expected):
    """The Host header is the URL's host:port (the name in lower case, an
    IPv6 address in brackets): never the port twice, nor IPv4 in brackets."""
    from pylws_ffi import aio

    hosts: list[str] = []

    def record(connection: Any, request: Any) -> None:
        hosts.append(request.headers["Host"])

    async def main() -> None:
        async with ws_serve(echo_ws, bind, 0, process_request=record) as server:
            port = server.sockets[0].getsockname()[1]
            url = f"ws://{url_host}:{port}/x?y=1"
            async with aio.connect(url, open_timeout=10) as conn:
                await conn.send("hi")
                assert await conn.recv() == "hi"
            assert hosts == [expected.format(port=port)]

    run(main())


def test_connect_urls_and_timeout(run):
    from pylws_ffi import aio

    with pytest.raises(ValueError, match="wss://"):
        aio.connect("ws://127.0.0.1:1/", cafile="ca.pem")
    with pytest.raises(ValueError, match="wss://"):
        aio.connect("ws://127.0.0.1:1/", allow_self_signed=True)
    with pytest.raises(ValueError):
        aio.connect("http://127.0.0.1/")
    with pytest.raises(ValueError):
        aio.connect("ws://127.0.0.1:99999/")
    with pytest.raises(ValueError):
        aio.connect("ws://127.0.0.1:0/")

    async def main() -> None:
        # a listener that never answers the handshake
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(asyncio.TimeoutError):
            await aio.connect(f"ws://127.0.0.1:{port}", open_timeout=0.5)
        server.close()

    run(main())


def test_subprotocols(run):
    from pylws_ffi import aio

    port = free_port()
    seen: list[Any] = []

    async def handler(conn: Any) -> None:
        seen.append(conn.subprotocol)
        await conn.send(conn.subprotocol or "none")

    async def main() -> None:
        async with aio.serve(handler, "127.0.0.1", port, subprotocols=["chat", "superchat"]):
            async with ws_connect(f"ws://127.0.0.1:{port}", subprotocols=["superchat"]) as ws:
                assert ws.subprotocol == "superchat"
                assert await ws.recv() == "superchat"
            async with ws_connect(f"ws://127.0.0.1:{port}") as ws:
                assert ws.subprotocol is None
                assert await ws.recv() == "none"
            async with aio.connect(f"ws://127.0.0.1:{port}", subprotocols=["x", "chat"]) as c:
                assert c.subprotocol == "chat"
                assert await c.recv() == "chat"

    run(main())
    assert seen == ["superchat", None, "chat"]


# ---- the C-style layer ----


def test_create_context_poll_reasons_stay_inside(run):
    """create_context: the user's protocols[0] callback never sees the four
    poll reasons; every descriptor goes to the loop and leaves it on close."""
    import pylws_ffi as lws
    from pylws_ffi import aio

    port = free_port()
    reasons: list[int] = []

    def callback(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        reasons.append(reason)
        if reason == lws.LWS_CALLBACK_RECEIVE:
            data = lws.payload(in_, len_)
            lws.libwebsocket_write(wsi, data, len_, lws.LWS_WRITE_TEXT)
        return 0

    async def main() -> None:
        ctx = aio.create_context(port, "127.0.0.1", [("echo", callback, 0)])
        try:
            assert len(ctx.watched) >= 3  # listener, timer, wake, broadcast
            async with ws_connect(f"ws://127.0.0.1:{port}") as ws:
                await ws.send("ping")
                assert await ws.recv() == "ping"
                assert len(ctx.watched) >= 4  # + the connection
        finally:
            ctx.close()
        assert ctx.closed and ctx.watched == {}
        ctx.close()  # idempotent

    run(main())
    poll = {
        lws.LWS_CALLBACK_ADD_POLL_FD,
        lws.LWS_CALLBACK_DEL_POLL_FD,
        lws.LWS_CALLBACK_SET_MODE_POLL_FD,
        lws.LWS_CALLBACK_CLEAR_MODE_POLL_FD,
    }
    assert not poll & set(reasons)
    assert lws.LWS_CALLBACK_ESTABLISHED in reasons and lws.LWS_CALLBACK_CLOSED in reasons


def test_create_context_with_a_c_function_as_protocols0(run):
    """protocols[0]'s callback may be a C function pointer: aio calls it for
    every reason but the poll ones."""
    import pylws_ffi as lws
    from pylws_ffi import aio, ffi

    port = free_port()
    reasons: list[int] = []

    @ffi.callback("callback_function *")
    def c_callback(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        reasons.append(reason)
        if reason == lws.LWS_CALLBACK_RECEIVE:
            lws.libwebsocket_write(wsi, lws.payload(in_, len_), len_, lws.LWS_WRITE_BINARY)
        return 0

    async def main() -> None:
        with aio.create_context(port, "127.0.0.1", [("c", c_callback, 0)]):
            async with ws_connect(f"ws://127.0.0.1:{port}") as ws:
                await ws.send(b"from C")
                assert await ws.recv() == b"from C"

    run(main())
    assert lws.LWS_CALLBACK_RECEIVE in reasons
    assert not set(reasons) & set(
        range(lws.LWS_CALLBACK_ADD_POLL_FD, lws.LWS_CALLBACK_CLEAR_MODE_POLL_FD + 1)
    )


def test_create_context_needs_a_loop_and_a_list():
    from pylws_ffi import aio

    with pytest.raises(RuntimeError, match="loop"):
        aio.create_context(0, None, [("x", lambda *a: 0, 0)])
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(TypeError):
            aio.create_context(0, None, "not a list", loop=loop)
        port = free_port()
        with aio.create_context(port, "127.0.0.1", [("x", lambda *a: 0)], loop=loop) as ctx:
            with pytest.raises(OSError):
                aio.create_context(port, "127.0.0.1", [("x", lambda *a: 0)], loop=loop)
            assert not ctx.closed
        assert ctx.closed
    finally:
        loop.close()


def test_close_from_inside_a_callback_is_deferred(run):
    import pylws_ffi as lws
    from pylws_ffi import aio

    port = free_port()
    holder: list[Any] = []

    def callback(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_RECEIVE:
            holder[0].close()  # the library is on the stack: happens after it returns
            assert not holder[0].closed
        return 0

    async def main() -> None:
        holder.append(aio.create_context(port, "127.0.0.1", [("x", callback)]))
        async with ws_connect(f"ws://127.0.0.1:{port}") as ws:
            await ws.send("stop")
            with pytest.raises(WsClosed):
                await ws.recv()
            assert ws.close_code == 1001
        assert holder[0].closed

    run(main())


def test_module_attribute():
    import pylws_ffi

    assert pylws_ffi.aio.serve is not None
    assert "aio" in pylws_ffi.__all__


# ---- an idle server costs nothing ----

IDLE_SERVER = textwrap.dedent(
    """
    import asyncio, sys
    from pylws_ffi import aio

    async def handler(conn):
        async for message in conn:
            await conn.send(message)

    async def main():
        async with aio.serve(handler, "127.0.0.1", int(sys.argv[1])):
            print("ready", flush=True)
            await asyncio.Event().wait()

    if sys.argv[2] == "uvloop":
        import uvloop
        uvloop.run(main())
    else:
        asyncio.run(main())
    """
)


def wakeups(pid: int) -> int:
    """Context switches of every thread of a process (each sleep that ended)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            for line in f:
                if "ctxt_switches:" in line:  # voluntary_ and nonvoluntary_
                    total += int(line.split()[1])
    return total


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("kind", LOOPS)
def test_idle_server_uses_no_cpu(kind, tmp_path):
    """An aio server with an open, silent connection, idle for 3 s: well
    under 0.1 s of CPU (no polling, no periodic wakeup)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", IDLE_SERVER, str(port), kind],
        cwd=tmp_path,  # not the checkout: its pylws_ffi/ has no compiled module
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_listening(port, proc)
        with sync_connect(f"ws://127.0.0.1:{port}", open_timeout=10) as ws:
            ws.send("hello")
            assert ws.recv(timeout=10) == "hello"
            before, woken = cpu_seconds(proc.pid), wakeups(proc.pid)
            time.sleep(3)
            used = cpu_seconds(proc.pid) - before
            woken = wakeups(proc.pid) - woken
            ws.send("still there")
            assert ws.recv(timeout=10) == "still there"
        print(f"\nidle aio server ({kind}): {used * 1000:.1f} ms of CPU, {woken} wakeups in 3 s")
        assert used < 0.1, f"{used:.3f} s of CPU while idle"
        assert woken < 10, f"woken {woken} times while idle: something polls"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

"""pylws_ffi.aio.broadcast: one message to many connections, websockets
clients receiving; closed ones skipped, choked ones skipped (bounded memory)
instead of queued."""

from __future__ import annotations

import asyncio
import base64
import builtins
import logging
import os
import socket
from typing import Any

import pytest
from websockets.asyncio.client import connect as ws_connect

from pylws_ffi import aio, lib


async def serving(n: int) -> tuple[Any, list[aio.Connection], asyncio.Event]:
    """A server whose handlers park their connection in a list until `done`."""
    conns: list[aio.Connection] = []
    done = asyncio.Event()

    async def park(conn: aio.Connection) -> None:
        conns.append(conn)
        await done.wait()

    server = await aio.serve(park, "127.0.0.1", 0, ping_interval=None)
    return server, conns, done


async def until(cond: Any, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


def test_broadcast_text_binary_and_closed(run: Any, caplog: Any) -> None:
    async def main() -> None:
        server, conns, done = await serving(3)
        url = f"ws://127.0.0.1:{server.port}/"
        clients = [await ws_connect(url) for _ in range(3)]
        await until(lambda: len(conns) == 3)
        aio.broadcast(conns, "héllo")
        aio.broadcast(conns, b"\x00\xff")
        aio.broadcast(conns, "as binary", text=False)
        aio.broadcast(conns, "é".encode(), text=True)
        aio.broadcast(conns, bytearray(b"ba"))
        for ws in clients:
            got = [await asyncio.wait_for(ws.recv(), 10) for _ in range(5)]
            assert got == ["héllo", b"\x00\xff", b"as binary", "é", b"ba"]
        with pytest.raises(TypeError):
            aio.broadcast(conns, 42)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            aio.broadcast(conns, b"\xff", text=True)
        # one closed, one closing: skipped without a word; the third gets it
        await clients[0].close()
        await until(lambda: conns[0].closed)
        conns[1]._start_close(1000, "")
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="pylws_ffi.aio"):
            aio.broadcast(conns, "last")
        assert caplog.records == []
        assert await asyncio.wait_for(clients[2].recv(), 10) == "last"
        done.set()
        for ws in clients[1:]:
            await ws.close()
        server.close()
        await server.wait_closed()

    run(main())


async def raw_client(port: int) -> socket.socket:
    """A client that completes the handshake, then reads nothing (tiny
    receive buffer): the server's output to it chokes."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    await loop.sock_sendall(
        sock,
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode(),
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 1), 10)  # no more than the head
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def test_broadcast_skips_a_choked_connection(run: Any, caplog: Any) -> None:
    """A reader that stops: broadcast skips it once its output is choked,
    so what is queued for it stays bounded, while a reading client gets
    every message."""
    count, size = 300, 64 * 1024

    async def main() -> None:
        server, conns, done = await serving(2)
        url = f"ws://127.0.0.1:{server.port}/"
        slow = await raw_client(server.port)
        await until(lambda: len(conns) == 1)
        fast = await ws_connect(url, max_size=None, max_queue=None)
        await until(lambda: len(conns) == 2)
        slow_conn, fast_conn = conns
        received = 0

        async def read() -> None:
            nonlocal received
            while received < count:
                await fast.recv()
                received += 1

        reader = asyncio.ensure_future(read())
        payload = b"x" * size
        with caplog.at_level(logging.WARNING, logger="pylws_ffi.aio"):
            for _ in range(count):
                # the fast one reads: wait until its output has gone out
                await until(lambda: not lib.lws_send_pipe_choked(fast_conn.wsi))
                aio.broadcast(conns, payload)
        await asyncio.wait_for(reader, 30)
        assert received == count
        skipped = [r for r in caplog.records if "choked" in r.getMessage()]
        assert all(repr(slow_conn) in r.getMessage() for r in skipped)
        # what the kernel's buffers took before the output choked, at most
        # a few MiB; without the check every message would be queued
        sent = count - len(skipped)
        assert sent * size < 8 * 2**20, (sent, len(skipped))
        assert not slow_conn.closed
        # a send() waiting for the choked output: broadcast does not overtake it
        pending = asyncio.ensure_future(slow_conn.send(b"queued first"))
        await until(slow_conn._send_lock.locked)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="pylws_ffi.aio"):
            aio.broadcast([slow_conn], "later")
        assert [r.getMessage() for r in caplog.records] == [
            f"skipped broadcast to {slow_conn!r}: a send is in progress"
        ]
        pending.cancel()
        slow.close()
        done.set()
        await fast.close()
        server.close()
        await server.wait_closed()

    run(main(), timeout=90)


def test_broadcast_logs_or_raises_failed_writes(run: Any, caplog: Any) -> None:
    """A write the core refuses (here: a message begun with NO_FIN through
    the C-style API is unfinished) is logged, and the others still get the
    message; raise_exceptions=True raises the failures together."""

    async def main() -> None:
        server, conns, done = await serving(2)
        url = f"ws://127.0.0.1:{server.port}/"
        clients = [await ws_connect(url) for _ in range(2)]
        await until(lambda: len(conns) == 2)
        stuck = conns[0]
        assert (
            lib.lws_write_unpadded(stuck.wsi, b"a", 1, lib.LWS_WRITE_TEXT | lib.LWS_WRITE_NO_FIN)
            == 1
        )
        with caplog.at_level(logging.WARNING, logger="pylws_ffi.aio"):
            aio.broadcast(conns, "one")
        # the core's own line about the refused write goes to pylws_ffi.core
        assert [r.getMessage() for r in caplog.records if r.name == "pylws_ffi.aio"] == [
            f"skipped broadcast to {stuck!r}: the write failed"
        ]
        assert await asyncio.wait_for(clients[1].recv(), 10) == "one"
        group = getattr(builtins, "ExceptionGroup", None) or RuntimeError
        with pytest.raises(group):
            aio.broadcast(conns, "two", raise_exceptions=True)
        assert await asyncio.wait_for(clients[1].recv(), 10) == "two"
        done.set()
        server.close()
        await server.wait_closed()

    run(main())

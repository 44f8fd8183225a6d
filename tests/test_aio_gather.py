"""pylws_ffi.aio's gathered writes: while received messages wait, send()
lets the core gather a connection's answers (native/src/gather.c) and send
them together.  Each connection still gets exactly its own bytes in order,
an answer is never held back past the next loop iteration, and a service call
never finds another connection's bytes in the cork.  Raw clients (asyncio
streams) on loopback, in the default loop and uvloop."""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any

from support.net import free_port
from support.raw import frame, parse_one

from pylws_ffi import ffi, lib


class Client:
    """A raw WebSocket client on asyncio streams: masked frames out, the
    server's frames parsed as they come."""

    async def open(self, port: int) -> Client:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        self.writer.write(
            (
                f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        self.buf = bytearray()
        self.sockname = self.writer.get_extra_info("sockname")
        return self

    def send_texts(self, texts: list[str]) -> None:
        """All in one write: the server reads them together."""
        self.writer.write(b"".join(frame(0x1, t.encode()) for t in texts))

    async def texts(self, n: int, timeout: float = 10) -> list[str]:
        out: list[str] = []

        async def read() -> None:
            while len(out) < n:
                got = parse_one(self.buf)
                if got is None:
                    chunk = await self.reader.read(65536)
                    assert chunk, f"closed after {out}"
                    self.buf += chunk
                    continue
                (first, payload), used = got
                del self.buf[:used]
                assert first == 0x81, (first, payload)
                out.append(payload.decode())

        await asyncio.wait_for(read(), timeout)
        return out

    async def nothing_within(self, timeout: float) -> bool:
        if self.buf:
            return False
        try:
            chunk = await asyncio.wait_for(self.reader.read(65536), timeout)
        except asyncio.TimeoutError:
            return True
        self.buf += chunk
        return False

    def close(self) -> None:
        self.writer.close()


def test_bursts_on_many_connections_each_get_their_own_answers_in_order(run: Any) -> None:
    from pylws_ffi import aio

    async def handler(conn: Any) -> None:
        n = 0
        async for message in conn:
            await conn.send(message)
            n += 1
            if n % 3 == 0:
                await asyncio.sleep(0)  # other connections' tasks and I/O run between

    async def main() -> None:
        port = free_port()
        async with aio.serve(handler, "127.0.0.1", port, ping_interval=None):
            clients = [await Client().open(port) for _ in range(20)]
            for rnd in range(5):
                for i, c in enumerate(clients):
                    c.send_texts([f"c{i}-r{rnd}-m{j}" for j in range(30)])
                for i, c in enumerate(clients):
                    assert await c.texts(30) == [f"c{i}-r{rnd}-m{j}" for j in range(30)]
            for c in clients:
                c.close()

    run(main())


def test_an_answer_gathered_is_sent_at_the_next_iteration(run: Any) -> None:
    """The handler answers the first of two messages read together (so the
    core gathers it) and then waits: the answer still goes out at once."""
    from pylws_ffi import aio

    async def handler(conn: Any) -> None:
        message = await conn.recv()
        await conn.send(message)  # the second message waits: gathered
        await conn.wait_closed()

    async def main() -> None:
        port = free_port()
        async with aio.serve(handler, "127.0.0.1", port, ping_interval=None):
            c = await Client().open(port)
            c.send_texts(["first", "second"])
            assert await c.texts(1, timeout=2) == ["first"]
            c.close()

    run(main())


def test_a_service_call_sends_what_another_connection_gathered(run: Any) -> None:
    """Bytes gathered for A while B's input is dispatched go to A, not into
    B's dispatch (libwebsocket_service_fd flushes the cork first)."""
    from pylws_ffi import aio

    async def main() -> None:
        port = free_port()
        async with aio.serve(echo, "127.0.0.1", port, ping_interval=None) as server:
            a = await Client().open(port)
            b = await Client().open(port)
            for _ in range(100):
                if len(server.connections) == 2:
                    break
                await asyncio.sleep(0.01)
            (conn_a,) = [c for c in server.connections if c.remote_address == a.sockname]
            # gathered behind the asyncio layer's back: only the core knows
            lib.lws_gather_writes(conn_a.wsi)
            assert lib.lws_write_unpadded(conn_a.wsi, b"for A", 5, lib.LWS_WRITE_TEXT) >= 0
            assert await a.nothing_within(0.2)  # held in the cork
            b.send_texts(["for B"])
            assert await b.texts(1) == ["for B"]
            assert await a.texts(1) == ["for A"]
            assert await b.nothing_within(0.2)
            a.close()
            b.close()

    run(main())


async def echo(conn: Any) -> None:
    async for message in conn:
        await conn.send(message)


def test_gather_is_internal_not_in_the_c_api() -> None:
    # cffi reaches it; the C header does not declare it
    assert callable(lib.lws_gather_writes) and callable(lib.lws_gather_flush)
    assert ffi.typeof(lib.lws_gather_flush).args[0].cname == "struct libwebsocket_context *"

"""pylws_ffi.aio's receive paths: with a max_size the library gathers each
message (lws_set_whole_messages), with max_size=None the pieces are joined in
Python; both give the same messages for fragmented text and binary, empty
fragments and messages, a message larger than many reads, and bursts of small
ones.  (Raw-frame cases, UTF-8 cut between fragments and pings between them:
tests/test_whole_messages.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from support.net import free_port
from websockets.asyncio.client import connect as ws_connect


async def echo(conn: Any) -> None:
    async for message in conn:
        await conn.send(message)


@pytest.mark.parametrize("max_size", [None, 4 << 20])
def test_fragmented_messages_come_whole(run: Any, max_size: int | None) -> None:
    from pylws_ffi import aio

    port = free_port()
    big = bytes(range(256)) * 12289  # 3 MiB + 256 bytes: many reads
    word = "é€𝄞"  # 2, 3 and 4 bytes in UTF-8

    async def main() -> None:
        async with (
            aio.serve(echo, "127.0.0.1", port, max_size=max_size, ping_interval=None) as server,
            ws_connect(f"ws://127.0.0.1:{port}", max_size=None, compression=None) as ws,
        ):
            (conn,) = server.connections
            assert conn._whole is (max_size is not None)
            await ws.send(["ab", "", word, "cd"])
            assert await ws.recv() == "ab" + word + "cd"
            await ws.send([b"x" * 70000, b"", b"y" * 10])
            assert await ws.recv() == b"x" * 70000 + b"y" * 10
            await ws.send(big)
            assert await ws.recv() == big
            for n in range(50):  # many small ones, answered together
                await ws.send(f"m{n}" * (n % 7))
            assert [await ws.recv() for _ in range(50)] == [f"m{n}" * (n % 7) for n in range(50)]
            await ws.send("")
            assert await ws.recv() == ""
            await ws.send(b"")
            assert await ws.recv() == b""

    run(main())

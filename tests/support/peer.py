"""A ``websockets`` server on the loopback, in a thread running its own loop:
the reference peer of the client-side tests."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any, Callable

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from support.net import LOCAL


class WSServer:
    """``websockets.serve(handler, host, 0, **kw)`` in a thread; ``port`` is
    where it listens, ``call(coro)`` runs a coroutine in its loop.  Defaults:
    no size limit, no keepalive pings (``compression`` as websockets')."""

    def __init__(self, handler: Callable[..., Any], host: str = LOCAL, **kw: Any) -> None:
        kw.setdefault("max_size", None)
        kw.setdefault("ping_interval", None)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def start() -> Any:
            return await serve(handler, host, 0, **kw)

        self.server = self.call(start())
        self.port = self.server.sockets[0].getsockname()[1]

    def call(self, coro: Any, timeout: float = 20) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            await self.server.wait_closed()

        with contextlib.suppress(Exception):
            self.call(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@contextlib.contextmanager
def ws_server(handler: Callable[..., Any], **kw: Any) -> Iterator[WSServer]:
    """A :class:`WSServer`, closed on leaving."""
    server = WSServer(handler, **kw)
    try:
        yield server
    finally:
        server.close()


async def echo_handler(ws: Any) -> None:
    """Sends every message back."""
    with contextlib.suppress(ConnectionClosed):
        async for message in ws:
            await ws.send(message)

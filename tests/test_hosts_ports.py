"""Host names and ephemeral ports: ``aio.serve(handler, "localhost", 0)`` as
the `websockets` quickstart writes it, the bound port readable
(``server.port``, ``server.sockets[0].getsockname()``), and the same at the C
level (LWS_CONTEXT_PORT_ANY, lws_context_listen_port, a host name as
``interf``)."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from websockets.asyncio.client import connect as ws_connect

import pylws_ffi as lws
from pylws_ffi import aio


async def echo(conn: aio.Connection) -> None:
    async for message in conn:
        await conn.send(message)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", None])
def test_serve_localhost_port_0(run: Any, host: str | None) -> None:
    async def main() -> None:
        async with aio.serve(echo, host, 0) as server:
            port = server.sockets[0].getsockname()[1]
            assert port == server.port and port > 0
            if host is not None:
                assert server.sockets[0].getsockname() == ("127.0.0.1", port)
            async with ws_connect(f"ws://localhost:{port}") as ws:
                await ws.send("hello")
                assert await ws.recv() == "hello"

    run(main())


def test_two_servers_on_port_0_get_different_ports(run: Any) -> None:
    async def main() -> None:
        async with aio.serve(echo, "localhost", 0) as a, aio.serve(echo, "localhost", 0) as b:
            assert a.port != b.port

    run(main())


def test_serve_bad_host_and_port(run: Any) -> None:
    with pytest.raises(ValueError, match="port"):
        aio.serve(echo, "localhost", 65536)
    with pytest.raises(ValueError, match="port"):
        aio.serve(echo, "localhost", -1)

    async def main() -> None:
        with pytest.raises(OSError, match="no-such-host.invalid"):
            await aio.serve(echo, "no-such-host.invalid", 0)

    run(main())


def _noop(*args: object) -> int:
    return 0


def test_c_level_port_any_and_host_name() -> None:
    ctx = lws.libwebsocket_create_context(lws.LWS_CONTEXT_PORT_ANY, "localhost", [("p", _noop)])
    try:
        port = lws.lws_context_listen_port(ctx)
        assert 0 < port <= 65535
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        lws.libwebsocket_context_destroy(ctx)
    ctx = lws.libwebsocket_create_context(lws.CONTEXT_PORT_NO_LISTEN, None, [("p", _noop)])
    try:
        assert lws.lws_context_listen_port(ctx) == lws.CONTEXT_PORT_NO_LISTEN
    finally:
        lws.libwebsocket_context_destroy(ctx)
    with pytest.raises(ValueError, match="port"):
        lws.libwebsocket_create_context(-2, None, [("p", _noop)])

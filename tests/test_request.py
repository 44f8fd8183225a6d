"""The opening request on a server connection, as `websockets` gives it:
``conn.request.path`` (with the query), ``conn.request.headers`` (every
header, names without case), ``conn.remote_address``, ``conn.subprotocol``;
and lws_request_head for the C-style API."""

from __future__ import annotations

import socket
from typing import Any

from support.net import free_port
from test_binding import read_all
from websockets.asyncio.client import connect as ws_connect

import pylws_ffi as lws
from pylws_ffi import aio


def test_request_headers_address_subprotocol(run: Any) -> None:
    seen: dict[str, Any] = {}

    async def handler(conn: aio.Connection) -> None:
        seen["path"] = conn.request.path  # type: ignore[union-attr]
        seen["headers"] = conn.request.headers  # type: ignore[union-attr]
        seen["remote"] = conn.remote_address
        seen["subprotocol"] = conn.subprotocol
        await conn.send("ok")

    async def main() -> None:
        async with aio.serve(handler, "127.0.0.1", 0, subprotocols=["chat"]) as server:  # noqa: SIM117
            async with ws_connect(
                f"ws://127.0.0.1:{server.port}/room/7?user=ann",
                subprotocols=["chat"],
                additional_headers=[
                    ("Cookie", "session=abc"),
                    ("Authorization", "Bearer t0k"),
                    ("X-Forwarded-For", "192.0.2.1"),
                    ("X-Forwarded-For", "198.51.100.2"),
                ],
            ) as ws:
                assert await ws.recv() == "ok"
                seen["local"] = ws.local_address

    run(main())
    headers = seen["headers"]
    assert seen["path"] == "/room/7?user=ann"
    assert headers["cookie"] == "session=abc"
    assert headers["AUTHORIZATION"] == "Bearer t0k"
    assert headers.get_all("x-forwarded-for") == ["192.0.2.1", "198.51.100.2"]
    assert headers["Sec-WebSocket-Protocol"] == "chat"
    assert "Host" in headers and "Nope" not in headers
    assert seen["remote"] == seen["local"]
    assert seen["subprotocol"] == "chat"


def test_lws_request_head_in_http_callback() -> None:
    heads: list[bytes | None] = []

    def callback(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_HTTP:
            heads.append(lws.lws_request_head(wsi))
            answer = b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
            lws.libwebsocket_write(wsi, answer, len(answer), lws.LWS_WRITE_HTTP)
            return 1
        if reason == lws.LWS_CALLBACK_HTTP_FILE_COMPLETION:
            heads.append(lws.lws_request_head(wsi))
        return 0

    port = free_port()
    ctx = lws.libwebsocket_create_context(port, None, [("http", callback)])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /x HTTP/1.1\r\nHost: h\r\nCookie: c=1\r\nConnection: close\r\n\r\n")
            assert read_all(ctx, sock, lambda d: False).startswith(b"HTTP/1.1 204")
    finally:
        lws.libwebsocket_context_destroy(ctx)
    head = heads[0]
    assert head is not None and head.startswith(b"GET /x")
    assert b"Cookie: c=1" in head
    assert aio.Headers.parse(head)["cookie"] == "c=1"

#!/usr/bin/env python3
"""HTTP beside WebSocket on one port with pylws_ffi.aio, as with websockets'
``process_request``: a health check, a page, static files and an echo
WebSocket.

    python examples/aio_http.py [--host 127.0.0.1] [--port 8765] [--static DIR]

    GET /healthz      200 "OK" (for a load balancer)
    GET /             a small page whose script talks to ws://HOST:PORT/ws
    GET /admin        401 with WWW-Authenticate unless "Authorization: Bearer letmein"
    GET /<file>       a file of --static (default: examples/resources), sent by
                      the core's serve_http_file; ".." and the like get a 403
    ws://HOST:PORT/ws the echo WebSocket (permessage-deflate when the client
                      offers it); an upgrade to any other path gets a 403

Port 0: the system picks one; the line "listening on ws://HOST:PORT/" says
which.  Try ``curl -i http://127.0.0.1:8765/healthz`` and
``python -m websockets ws://127.0.0.1:8765/ws``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from pylws_ffi import aio

PAGE = b"""<!doctype html>
<meta charset="utf-8"><title>pylws_ffi.aio</title>
<p id="out">connecting...</p>
<script>
const ws = new WebSocket(`ws://${location.host}/ws`);
ws.onopen = () => ws.send("hello");
ws.onmessage = (e) => { document.getElementById("out").textContent = "echo: " + e.data; };
</script>
"""

#: the open WebSocket connections
server_connections: set[aio.Connection] = set()


def process_request(conn: aio.Connection, request: aio.Request) -> aio.Response | None:
    """Called for every request, before any upgrade: None goes on."""
    upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
    if upgrade:
        return None if request.path == "/ws" else conn.respond(403, "No WebSocket here.\n")
    path = request.path.split("?", 1)[0]
    if path == "/healthz":
        return conn.respond(200, "OK\n")
    if path == "/":
        headers = aio.Headers([("Content-Type", "text/html; charset=utf-8")])
        return aio.Response(200, "OK", headers, PAGE)
    if path == "/admin":
        if request.headers.get("Authorization") != "Bearer letmein":
            response = conn.respond(401, "Authentication required.\n")
            response.headers["WWW-Authenticate"] = 'Bearer realm="admin"'
            return response
        return conn.respond(200, f"{len(server_connections)} WebSocket connection(s).\n")
    return None  # a static file (or a 404)


def process_response(
    conn: aio.Connection, request: aio.Request, response: aio.Response
) -> aio.Response | None:
    """Called with the 101 before it is sent: add a header to it."""
    response.headers["X-Example"] = "aio_http"
    return None


async def echo(conn: aio.Connection) -> None:
    server_connections.add(conn)
    try:
        async for message in conn:
            await conn.send(message)
    finally:
        server_connections.discard(conn)


async def main(host: str, port: int, static: Path) -> None:
    async with aio.serve(
        echo,
        host,
        port,
        process_request=process_request,
        process_response=process_response,
        static_dir=static,
    ) as server:
        print(f"listening on ws://{host}:{server.port}/", flush=True)
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--static", type=Path, default=Path(__file__).parent / "resources")
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port, args.static))

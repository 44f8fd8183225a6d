"""pylws_ffi in an asyncio event loop.

Two layers:

* :func:`create_context` runs a context inside an asyncio loop (the default
  one, uvloop, any loop with ``add_reader``/``add_writer``).  It takes the
  arguments of :func:`pylws_ffi.libwebsocket_create_context` and wraps the
  callback of ``protocols[0]``: the four poll reasons
  (LWS_CALLBACK_ADD_POLL_FD / DEL_POLL_FD / SET_MODE_POLL_FD /
  CLEAR_MODE_POLL_FD) become ``loop.add_reader`` / ``remove_reader`` /
  ``add_writer`` / ``remove_writer`` of the descriptor, whose readiness calls
  ``libwebsocket_service_fd`` for it; every other reason goes to your
  callback.  No thread and no periodic call: the library's timer is one of
  the descriptors, so an idle context costs no CPU.

* :func:`serve` and :func:`connect`, a small Pythonic API built on the
  C-style functions: a coroutine ``handler(conn)`` per connection, whole
  messages (``str`` for text, ``bytes`` for binary) by ``async for message in
  conn`` or ``await conn.recv()``, ``await conn.send(data)``,
  ``await conn.close(code, reason)``::

      async def echo(conn):
          async for message in conn:
              await conn.send(message)

      async def main():
          async with pylws_ffi.aio.serve(echo, "127.0.0.1", 8765):
              async with pylws_ffi.aio.connect("ws://127.0.0.1:8765") as conn:
                  await conn.send("hello")
                  assert await conn.recv() == "hello"

  TLS: ``serve(..., certfile=, keyfile=)`` and ``connect("wss://...")``,
  which verifies the server's certificate (system CAs, plus ``cafile=``).

Everything here must be used from the loop's thread.  From other threads only
the functions the C header names thread-safe may be called on a context
(libwebsocket_callback_on_writable(_all_protocol), libwebsockets_broadcast,
libwebsocket_close_and_free_session, libwebsocket_rx_flow_control); the loop
carries their requests out.
"""

from __future__ import annotations

from .broadcast import broadcast
from .client import USER_AGENT as USER_AGENT
from .client import connect
from .connection import DEFAULT_MAX_QUEUE as DEFAULT_MAX_QUEUE
from .connection import DEFAULT_MAX_SIZE as DEFAULT_MAX_SIZE
from .connection import Connection, Headers, Request, Response
from .connection import Data as Data
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidCertificate,
    InvalidHandshake,
    InvalidStatus,
)
from .loop import AioContext, create_context
from .loop import log as log
from .server import Handler as Handler
from .server import Server, serve
from .tls import StrPath as StrPath

__all__ = [
    "AioContext",
    "Connection",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "Headers",
    "InvalidCertificate",
    "InvalidHandshake",
    "InvalidStatus",
    "Request",
    "Response",
    "Server",
    "broadcast",
    "connect",
    "create_context",
    "serve",
]

# The package's modules (loop: the context in an event loop; connection;
# server; client; tls; exceptions) are its layout, not its API: the public
# objects are documented, printed and pickled as pylws_ffi.aio's.
for _obj in (
    AioContext, Connection, ConnectionClosed, ConnectionClosedError, ConnectionClosedOK,
    Headers, InvalidCertificate, InvalidHandshake, InvalidStatus, Request, Response, Server,
    broadcast, connect, create_context, serve,
):  # fmt: skip
    _obj.__module__ = __name__
del _obj

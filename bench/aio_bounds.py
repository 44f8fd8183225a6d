#!/usr/bin/env python3
"""Two echo servers that bound what the asyncio layer can reach on one connection.

    python bench/aio_bounds.py --mode floor|callback [--port 9000]

Both run the library in an event loop (``aio.create_context`` on uvloop), as
bench/aio_echo.py does, and ask for whole messages; neither is an API to use.

``floor``: the least any asyncio layer that resumes a task per message can
spend.  RECEIVE copies the message to bytes, queues it and resolves the future
the connection's task waits on; the task writes it back.  None of the layer's
own bookkeeping (close codes, flow control, send ordering, gathered writes):
measure it on one connection, where every message wakes the task (a row with
many messages per wake-up would also pay a system call per write here).

``callback``: no task.  The C-style RECEIVE callback writes the message back
from the library's buffer, inside the service call.

bench/README ("A second machine") compares them with bench/aio_echo.py and
picows on the same run:

    python bench/run.py --scenarios 64B-1x1-1cpu,64B-1x1 --servers aio,picows,c \\
        --server "floor=python bench/aio_bounds.py --mode floor" \\
        --server "callback=python bench/aio_bounds.py --mode callback" --interleave --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import sys
from typing import Any

import pylws_ffi as lws
from pylws_ffi import aio, ffi, lib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from echo_server_whole import callback_echo  # noqa: E402  (the callback mode's callback)

RECEIVE = lws.LWS_CALLBACK_RECEIVE
ESTABLISHED = lws.LWS_CALLBACK_ESTABLISHED
CLOSED = lws.LWS_CALLBACK_CLOSED
BINARY, TEXT = lws.LWS_WRITE_BINARY, lws.LWS_WRITE_TEXT
write_unpadded = lib.lws_write_unpadded
is_binary = lib.lws_frame_is_binary
char_p = ffi.typeof("char *")


class FloorConnection:
    """One connection's queue, the future its task waits on, and the task."""

    __slots__ = ("wsi", "queue", "waiter", "task")

    def __init__(self, wsi: Any) -> None:
        self.wsi: Any = wsi
        self.queue: collections.deque[tuple[bytes, int]] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] | None = None

    async def echo(self) -> None:
        loop = asyncio.get_running_loop()
        queue = self.queue
        while self.wsi is not None:
            if not queue:
                self.waiter = loop.create_future()
                await self.waiter
                self.waiter = None
                continue
            message, kind = queue.popleft()
            if write_unpadded(self.wsi, message, len(message), kind) < 0:
                return


def floor_callback(conns: dict[Any, FloorConnection]) -> Any:
    def callback(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == RECEIVE:
            conn = conns[wsi]
            kind = BINARY if is_binary(wsi) else TEXT
            conn.queue.append((ffi.unpack(ffi.cast(char_p, in_), len_), kind))
            if conn.waiter is not None and not conn.waiter.done():
                conn.waiter.set_result(None)
        elif reason == ESTABLISHED:
            lib.lws_set_whole_messages(wsi, 1)
            conn = conns[wsi] = FloorConnection(wsi)
            conn.task = asyncio.get_running_loop().create_task(conn.echo())
        elif reason == CLOSED and wsi in conns:
            conn = conns.pop(wsi)
            conn.wsi = None
            if conn.waiter is not None and not conn.waiter.done():
                conn.waiter.set_result(None)
        return 0

    return callback


async def serve(mode: str, port: int) -> None:
    conns: dict[Any, FloorConnection] = {}
    callback = floor_callback(conns) if mode == "floor" else callback_echo
    with aio.create_context(port, "127.0.0.1", [("echo", callback, 0)]):
        print("aio_bounds (%s) on ws://127.0.0.1:%d/" % (mode, port), flush=True)
        await asyncio.Event().wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("floor", "callback"), required=True)
    ap.add_argument("--port", type=int, default=9000)
    args = ap.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.mode, args.port))
    else:
        uvloop.run(serve(args.mode, args.port))


if __name__ == "__main__":
    main()

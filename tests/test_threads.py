"""Other threads calling into a running loop: libwebsocket_callback_on_writable
(_all_protocol) and libwebsockets_broadcast from threads, while one thread
services the context.

The C side is tests/c/threads_helper.c under ASan/UBSan (build-asan); the
Python side uses pylws_ffi with the loop in the main thread.  Messages are
numbered per sending thread ("b T SEQ" for broadcasts, "w T SEQ" for writes
queued for one connection), so every client can check it got each exactly
once, and each thread's in increasing order.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import os
import select
import socket
import subprocess
import threading
import time
from typing import Any

import pytest
from servers import SANITIZER_MARKERS, asan_build, wait_listening
from support.net import free_port
from support.raw import RawWs, addr
from websockets.asyncio.client import connect

import pylws_ffi as lws
from pylws_ffi import ffi

CLIENTS = 100
THREADS = 8
BROADCASTS = 64
WRITES = 64


def asan_env() -> dict[str, str]:
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=99"
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:exitcode=98"
    return env


def check_numbering(got: list[str], threads: int, broadcasts: int, writes: int) -> None:
    """Each "b t seq" (seq < broadcasts) and "w t seq" (seq < writes) exactly
    once, increasing per (kind, t); "done" once."""
    seqs: dict[tuple[str, int], list[int]] = collections.defaultdict(list)
    done = 0
    for message in got:
        if message == "done":
            done += 1
            continue
        kind, t, seq = message.split()
        seqs[kind, int(t)].append(int(seq))
    assert done == 1, f"'done' seen {done} times"
    for t in range(threads):
        assert seqs.pop(("b", t), []) == list(range(broadcasts)), f"broadcasts of thread {t}"
        assert seqs.pop(("w", t), []) == list(range(writes)), f"writes of thread {t}"
    assert not seqs, f"unexpected messages from {sorted(seqs)}"


async def collect(conn: Any, expected: int, limit: float) -> list[str]:
    """Messages until ``expected`` numbered ones and "done" have come."""
    got: list[str] = []
    numbered, done = 0, False
    while numbered < expected or not done:
        message = await asyncio.wait_for(conn.recv(), limit)
        got.append(message)
        if message == "done":
            done = True
        else:
            numbered += 1
    return got


# ---- C: tests/c/threads_helper.c under the sanitizers ----


def test_c_threads_every_message_once_in_order():
    exe = asan_build() / "threads_helper"
    port = free_port()
    args = [str(exe), "serve", str(port), str(CLIENTS), str(THREADS), str(BROADCASTS)]
    proc = subprocess.Popen(
        [*args, str(WRITES)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=asan_env()
    )
    try:
        wait_listening(port, proc)

        async def clients() -> list[list[str]]:
            url = f"ws://127.0.0.1:{port}"
            conns = [
                await connect(url, compression=None, open_timeout=20, max_queue=None)
                for _ in range(CLIENTS)
            ]
            try:
                expected = THREADS * (BROADCASTS + WRITES)
                return await asyncio.gather(*(collect(c, expected, 30) for c in conns))
            finally:
                await asyncio.gather(*(c.close() for c in conns))

        results = asyncio.run(asyncio.wait_for(clients(), 100))
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    text = err.decode(errors="replace")
    assert not [m for m in SANITIZER_MARKERS if m in text], text[-6000:]
    assert proc.returncode == 0, text[-3000:]
    assert out.decode().split() == ["ready", str(port), "started", "threads-done", "all-closed"]
    assert len(results) == CLIENTS
    for got in results:
        check_numbering(got, THREADS, BROADCASTS, WRITES)


def test_c_request_just_before_closed_is_dropped_safely():
    """A thread's callback_on_writable made while the loop reports CLOSED (the
    thread won the lock that CLOSED takes) for a peer that dropped the TCP
    connection: the loop frees the wsi at the end of that service call, and
    must then drop the request without touching it."""
    exe = asan_build() / "threads_helper"
    port = free_port()
    proc = subprocess.Popen(
        [str(exe), "race", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=asan_env(),
    )
    try:
        wait_listening(port, proc)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(
                b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            assert s.recv(12) == b"HTTP/1.1 101"
        # dropped without a close frame: EOF -> CLOSED -> freed in one call
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    text = err.decode(errors="replace")
    assert not [m for m in SANITIZER_MARKERS if m in text], text[-4000:]
    assert proc.returncode == 0


# ---- Python: threads calling pylws_ffi while the loop runs in the main thread ----

PY_CLIENTS = 10
PY_THREADS = 4
PY_BROADCASTS = 50
PY_WRITES = 100


class Producers:
    """The server side: a protocol whose WRITEABLE writes what threads queued
    for the connection, whose BROADCAST writes the broadcast."""

    def __init__(self) -> None:
        import pylws_ffi as lws

        self.lws = lws
        self.queues: dict[Any, collections.deque[str]] = {}
        self.wsis: list[Any] = []
        self.all_connected = threading.Event()
        self.left = PY_THREADS
        self.left_lock = threading.Lock()
        self.context: Any = None
        self.errors: list[BaseException] = []

    def callback(self, context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        lws = self.lws
        if reason == lws.LWS_CALLBACK_SERVER_WRITEABLE:
            queue = self.queues[wsi]
            while queue:
                text = queue.popleft()
                if lws.libwebsocket_write(wsi, text, len(text), lws.LWS_WRITE_TEXT) < 0:
                    return -1
                if lws.lws_send_pipe_choked(wsi):
                    lws.libwebsocket_callback_on_writable(context, wsi)
                    break
        elif reason == lws.LWS_CALLBACK_BROADCAST:
            data = lws.payload(in_, len_)
            if lws.libwebsocket_write(wsi, data, len_, lws.LWS_WRITE_TEXT) < 0:
                return -1
        elif reason == lws.LWS_CALLBACK_ESTABLISHED:
            self.queues[wsi] = collections.deque()
            self.wsis.append(wsi)
            if len(self.wsis) == PY_CLIENTS:
                self.all_connected.set()
        return 0

    def worker(self, t: int) -> None:
        lws = self.lws
        try:
            self.all_connected.wait(30)
            protocol = lws.lws_get_protocols(self.context)[0]
            for seq in range(max(PY_BROADCASTS, PY_WRITES)):
                if seq < PY_BROADCASTS:
                    msg = f"b {t} {seq}".encode()
                    assert lws.libwebsockets_broadcast(protocol, msg, len(msg)) == 0
                if seq < PY_WRITES:
                    for wsi in self.wsis:
                        self.queues[wsi].append(f"w {t} {seq}")
                        assert lws.libwebsocket_callback_on_writable(self.context, wsi) >= 0
                if seq % 10 == 0:
                    time.sleep(0)  # let the others interleave
            with self.left_lock:
                self.left -= 1
                last = self.left == 0
            if last:  # behind every request of every thread
                assert lws.libwebsockets_broadcast(protocol, b"done", 4) == 0
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.errors.append(e)

    def start_threads(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.worker, args=(t,)) for t in range(PY_THREADS)]
        for thread in threads:
            thread.start()
        return threads


async def py_clients(port: int) -> list[list[str]]:
    url = f"ws://127.0.0.1:{port}"
    conns = [await connect(url, compression=None, open_timeout=10) for _ in range(PY_CLIENTS)]
    try:
        expected = PY_THREADS * (PY_BROADCASTS + PY_WRITES)
        return await asyncio.gather(*(collect(c, expected, 20) for c in conns))
    finally:
        await asyncio.gather(*(c.close() for c in conns))


def test_python_threads_with_the_aio_loop_in_the_main_thread():
    from pylws_ffi import aio

    producers = Producers()
    port = free_port()

    async def main() -> list[list[str]]:
        ctx = aio.create_context(port, "127.0.0.1", [("threads", producers.callback, 0)])
        producers.context = ctx.context
        threads = producers.start_threads()
        try:
            return await asyncio.wait_for(py_clients(port), 60)
        finally:
            for thread in threads:
                thread.join(30)
            ctx.close()

    results = asyncio.run(main())
    assert not producers.errors, producers.errors
    for got in results:
        check_numbering(got, PY_THREADS, PY_BROADCASTS, PY_WRITES)


def test_python_threads_with_libwebsocket_service_in_the_main_thread():
    import pylws_ffi as lws

    producers = Producers()
    port = free_port()
    ctx = lws.libwebsocket_create_context(port, "127.0.0.1", [("threads", producers.callback, 0)])
    producers.context = ctx
    results: list[list[str]] = []
    failure: list[BaseException] = []

    def run_clients() -> None:
        try:
            results.extend(asyncio.run(asyncio.wait_for(py_clients(port), 60)))
        except BaseException as e:  # noqa: BLE001 - reported below
            failure.append(e)

    client_thread = threading.Thread(target=run_clients)
    client_thread.start()
    threads = producers.start_threads()
    try:
        deadline = time.monotonic() + 90
        while client_thread.is_alive() and time.monotonic() < deadline:
            assert lws.libwebsocket_service(ctx, 50) >= 0
    finally:
        for thread in threads:
            thread.join(30)
        client_thread.join(30)
        lws.libwebsocket_context_destroy(ctx)
    assert not failure, failure
    assert not producers.errors, producers.errors
    assert len(results) == PY_CLIENTS
    for got in results:
        check_numbering(got, PY_THREADS, PY_BROADCASTS, PY_WRITES)


def test_a_request_for_a_closed_connection_never_reaches_its_successor() -> None:
    """Closes asked from another thread for connections that then ended by
    themselves, carried out only after new connections took their memory:
    the new ones are left alone (a request names the connection it was made
    for, not just its address).  The loop is driven through service_fd so the
    order is ours: the wake descriptor is served last."""
    watched: dict[int, int] = {}
    established: list[Any] = []
    closed: list[int] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        fd = int(ffi.cast("intptr_t", user))
        if reason == lws.LWS_CALLBACK_ADD_POLL_FD:
            watched[fd] = len_
        elif reason == lws.LWS_CALLBACK_DEL_POLL_FD:
            watched.pop(fd, None)
        elif reason == lws.LWS_CALLBACK_SET_MODE_POLL_FD:
            watched[fd] |= len_
        elif reason == lws.LWS_CALLBACK_CLEAR_MODE_POLL_FD:
            watched[fd] &= ~len_
        elif reason == lws.LWS_CALLBACK_ESTABLISHED:
            established.append(wsi)
        elif reason == lws.LWS_CALLBACK_CLOSED:
            closed.append(addr(wsi))
        elif reason == lws.LWS_CALLBACK_RECEIVE:
            data = lws.payload(in_, len_)
            lws.libwebsocket_write(wsi, data, len(data), lws.LWS_WRITE_TEXT)
        return 0

    port = free_port()
    ctx = lws.libwebsocket_create_context(port, "127.0.0.1", [("p", cb, 0)])
    wake = [fd for fd in watched if os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[eventfd]"]
    assert len(wake) == 1, watched

    def pump(until: Any, what: str) -> None:
        """Serve every ready descriptor but the wake one until ``until()``."""
        deadline = time.monotonic() + 10
        while not until():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            poller = select.poll()
            for fd, events in watched.items():
                if fd != wake[0]:
                    poller.register(fd, events)
            for fd, revents in poller.poll(20):
                assert lws.libwebsocket_service_fd(ctx, fd, revents=revents) >= 0
        lws.libwebsocket_service_fd(ctx, None)  # and free what closed

    def open_one() -> tuple[RawWs, Any]:
        n = len(established)
        client = pool.submit(RawWs.connect, port)
        pump(lambda: client.done() and len(established) > n, "a handshake")
        return client.result(), established[n]

    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        # connections that end after a close was asked for them from another
        # thread; the loop has not seen the requests yet
        gone: set[int] = set()
        for _ in range(40):
            client, wsi = open_one()
            pool.submit(
                lws.libwebsocket_close_and_free_session, ctx, wsi, lws.LWS_CLOSE_STATUS_NORMAL
            ).result()
            client.close()
            pump(lambda wsi=wsi: addr(wsi) in closed, "a CLOSED")
            gone.add(addr(wsi))
        # new connections, some at the addresses of the gone ones
        fresh = [open_one() for _ in range(20)]
        reused = [c for c, wsi in fresh if addr(wsi) in gone]
        if not reused:
            pytest.skip("the allocator gave the new connections no old addresses")
        # now the loop carries out the old requests: they find no connection
        assert lws.libwebsocket_service_fd(ctx, wake[0], revents=select.POLLIN) >= 0
        for c, _ in fresh:
            c.send_text("still open")
            echo = pool.submit(c.next_text)
            pump(echo.done, "an echo")
            assert echo.result() == "still open"
        assert len(closed) == 40, "a new connection was closed by an old request"
        for c, _ in fresh:
            c.close()
    finally:
        pool.shutdown(wait=False)
        lws.libwebsocket_context_destroy(ctx)

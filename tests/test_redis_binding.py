"""The Redis backplane through the binding, in this process: arguments and
errors, the size limit, AUTH from the URL, the descriptors announced to
external-poll users, and the reader's de-duplication (entries written to the
stream by hand, read by a demo server's clients)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from redisproc import REDIS_SERVER, RedisServer, command, free_port
from servers import start_demo

import pylws_ffi as lws

pytestmark = pytest.mark.skipif(
    REDIS_SERVER is None, reason="redis-server is not installed (Debian package redis-server)"
)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    yield server
    server.stop()


class Ctx:
    """A context without a listener; records the poll-fd announcements."""

    def __init__(self, name: str = "p") -> None:
        self.fds: dict[int, int] = {}
        self.added: list[int] = []

        def cb(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
            fd = int(lws.ffi.cast("intptr_t", user))
            if reason == lws.LWS_CALLBACK_ADD_POLL_FD:
                self.fds[fd] = len_
                self.added.append(fd)
            elif reason == lws.LWS_CALLBACK_DEL_POLL_FD:
                self.fds.pop(fd, None)
            return 0

        self.context = lws.libwebsocket_create_context(
            lws.CONTEXT_PORT_NO_LISTEN, None, [(name, cb, 0)]
        )
        self.protocol = lws.lws_get_protocols(self.context)[0]

    def serve_until(self, cond: Any, timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lws.libwebsocket_service(self.context, 50)
            if cond():
                return True
        return False

    def destroy(self) -> None:
        lws.libwebsocket_context_destroy(self.context)


def test_arguments_and_errors() -> None:
    c = Ctx()
    try:
        assert lws.lws_context_redis_state(c.context) == 0
        with pytest.raises(ValueError, match="bad Redis URL"):
            lws.lws_context_attach_redis(c.context, "http://127.0.0.1:6379", "k")
        with pytest.raises(ValueError, match="bad Redis URL"):
            lws.lws_context_attach_redis(c.context, "redis://127.0.0.1:99999", "k")
        with pytest.raises(ValueError, match="stream_key"):
            lws.lws_context_attach_redis(c.context, "redis://127.0.0.1", "")
        with pytest.raises(TypeError):
            lws.lws_context_attach_redis(c.context, b"redis://127.0.0.1", "k")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="unknown Redis option"):
            lws.lws_context_attach_redis(c.context, "redis://127.0.0.1", "k", nope=1)
        with pytest.raises(ValueError, match="not attached"):
            lws.lws_context_redis_option(c.context, "max_message", 10)
        # nothing listens on this port: attached all the same, not connected
        url = f"redis://127.0.0.1:{free_port()}"
        lws.lws_context_attach_redis(c.context, url, "k", reconnect_min_ms=50)
        assert lws.lws_context_redis_state(c.context) == 1
        with pytest.raises(ValueError, match="already"):
            lws.lws_context_attach_redis(c.context, url, "k")
        with pytest.raises(ValueError, match="refused"):
            lws.lws_context_redis_option(c.context, "max_message", 0)
        c.serve_until(lambda: False, 0.3)  # retries with backoff, no crash
    finally:
        c.destroy()


def test_a_broadcast_above_the_limit_is_refused_not_truncated() -> None:
    c = Ctx()
    try:
        # classic: no limit but the library's own
        assert lws.libwebsockets_broadcast(c.protocol, b"x" * 2_000_000, 2_000_000) == 0
        lws.lws_context_attach_redis(c.context, f"redis://127.0.0.1:{free_port()}", "k")
        assert lws.libwebsockets_broadcast(c.protocol, b"x" * (1 << 20), 1 << 20) == 0
        assert lws.libwebsockets_broadcast(c.protocol, b"x" * ((1 << 20) + 1), (1 << 20) + 1) == -1
        lws.lws_context_redis_option(c.context, "max_message", 10)
        assert lws.libwebsockets_broadcast(c.protocol, b"0123456789", 10) == 0
        assert lws.libwebsockets_broadcast(c.protocol, b"0123456789a", 11) == -1
    finally:
        c.destroy()


def test_published_entries_and_poll_fds(redis: RedisServer) -> None:
    redis.start()
    c = Ctx()
    try:
        before = set(c.fds)
        lws.lws_context_attach_redis(c.context, redis.url, "s1")
        assert c.serve_until(lambda: lws.lws_context_redis_state(c.context) == 2)
        # the two Redis connections are announced like any other descriptor
        new = set(c.fds) - before
        assert len(new) == 2, c.fds
        for k in range(5):
            assert lws.libwebsockets_broadcast(c.protocol, f"m{k}".encode(), 2) == 0
        assert c.serve_until(lambda: command(redis.port, "XLEN", "s1") == b":5\r\n")
        entries = command(redis.port, "XRANGE", "s1", "-", "+")
        for k in range(5):
            assert b"\r\nm%d\r\n" % k in entries
        assert entries.count(b"$1\r\np\r\n$1\r\np\r\n") == 5  # field p: protocol "p"
    finally:
        c.destroy()
    assert not set(c.fds) & new  # DEL_POLL_FD for both


def test_auth_from_the_url(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, password="s3cret").start()
    good, bad = Ctx(), Ctx()
    try:
        lws.lws_context_attach_redis(good.context, server.url, "a")
        wrong = server.url.replace("s3cret", "wrong")
        lws.lws_context_attach_redis(bad.context, wrong, "a", reconnect_min_ms=20)
        assert good.serve_until(lambda: lws.lws_context_redis_state(good.context) == 2)
        assert not bad.serve_until(lambda: lws.lws_context_redis_state(bad.context) == 2, 1.0)
        # an ACL user: user:password@
        command(server.port, "AUTH", "s3cret")
        acl = f"redis://bob:pw2@127.0.0.1:{server.port}/0"
        reply = _acl_setuser(server.port)
        assert reply.startswith(b"+OK"), reply
        user = Ctx()
        try:
            lws.lws_context_attach_redis(user.context, acl, "a")
            assert user.serve_until(lambda: lws.lws_context_redis_state(user.context) == 2)
        finally:
            user.destroy()
    finally:
        good.destroy()
        bad.destroy()
        server.stop()


def _acl_setuser(port: int) -> bytes:
    import socket

    args = ["AUTH", "s3cret"]
    setuser = ["ACL", "SETUSER", "bob", "on", ">pw2", "~*", "+@all"]
    out = b""
    for cmd in (args, setuser):
        out += f"*{len(cmd)}\r\n".encode()
        for a in cmd:
            out += b"$%d\r\n%s\r\n" % (len(a), a.encode())
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(out)
        time.sleep(0.2)
        data = s.recv(4096)
    return data.split(b"\r\n", 1)[1]


def test_duplicate_entries_are_delivered_once(redis: RedisServer) -> None:
    """An XADD sent again after its reply was lost: same origin and seq.  The
    reader delivers it once; entries of a protocol it lacks are skipped."""
    redis.start()
    server = start_demo("c", "--redis", redis.url)

    async def run() -> list[str]:
        ws = await websockets.connect(server.url, subprotocols=["lws-mirror-protocol"])
        got: list[str] = []
        # linked: a hand-written entry arrives
        deadline = time.monotonic() + 20
        n = 0
        while True:
            xadd(redis.port, "probe", n, f"probe-{n}")
            try:
                while True:
                    msg = await asyncio.wait_for(ws.recv(), 0.3)
                    if msg == f"probe-{n}":
                        break
            except asyncio.TimeoutError:
                n += 1
                assert time.monotonic() < deadline
                continue
            break
        for seq, data in [(1, "D:0"), (2, "D:1"), (2, "D:1"), (1, "D:0"), (3, "D:2")]:
            xadd(redis.port, "other", seq, data)
        xadd(redis.port, "other", 4, "D:none", protocol="no-such-protocol")
        xadd(redis.port, "other", 5, "D:3")
        try:
            while True:
                got.append(await asyncio.wait_for(ws.recv(), 1.0))
        except asyncio.TimeoutError:
            pass
        await ws.close()
        return got

    try:
        got = asyncio.run(run())
    finally:
        server.stop()
    assert got == ["D:0", "D:1", "D:2", "D:3"]


def xadd(
    port: int,
    origin: str,
    seq: int,
    data: str,
    protocol: str = "lws-mirror-protocol",
    maxlen: int | None = None,
) -> None:
    trim = ("MAXLEN", "~", str(maxlen)) if maxlen else ()
    reply = command(
        port, "XADD", "lws-demo", *trim, "*", "o", origin, "s", str(seq), "p", protocol, "d", data
    )
    assert reply.startswith(b"$"), reply


async def _linked(ws: Any, port: int, origin: str) -> int:
    """Probe entries (origin, seq 1, 2, ...) until one arrives; the next seq."""
    deadline = time.monotonic() + 20
    n = 1
    while True:
        xadd(port, origin, n, f"probe-{n}")
        n += 1
        try:
            while True:
                if await asyncio.wait_for(ws.recv(), 0.3) == f"probe-{n - 1}":
                    return n
        except asyncio.TimeoutError:
            assert time.monotonic() < deadline, "the server never read the stream"


def test_entries_trimmed_before_they_were_read_are_counted(redis: RedisServer) -> None:
    """The server stopped while 300 entries go into a stream trimmed to ~10:
    it delivers what is left and logs how many it lost."""
    redis.start()
    command(redis.port, "CONFIG", "SET", "stream-node-max-entries", "10")
    server = start_demo("c", "--redis", redis.url)

    async def run() -> list[str]:
        ws = await websockets.connect(server.url, subprotocols=["lws-mirror-protocol"])
        first = await _linked(ws, redis.port, "t")
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            for k in range(300):
                xadd(redis.port, "t", first + k, f"D:{k}", maxlen=10)
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        got = []
        try:
            while True:
                got.append(await asyncio.wait_for(ws.recv(), 1.0))
        except asyncio.TimeoutError:
            pass
        await ws.close()
        return got

    try:
        got = asyncio.run(run())
    finally:
        out = server.stop()
    assert got[-1] == "D:299" and 2 <= len(got) < 100, got
    assert f"redis: {300 - len(got)} broadcasts were lost" in out, out


def test_aio_serve_with_redis_broadcast(redis: RedisServer) -> None:
    """Two pylws_ffi.aio servers attached to one Redis: Server.broadcast reaches
    the clients of both, text as text and bytes as binary, in order, once."""
    from pylws_ffi import aio

    redis.start()

    async def handler(conn: Any) -> None:
        async for _ in conn:
            pass

    async def run() -> None:
        p1, p2 = free_port(), free_port()
        async with (
            aio.serve(handler, "127.0.0.1", p1, redis=redis.url) as s1,
            aio.serve(handler, "127.0.0.1", p2, redis=redis.url) as s2,
        ):
            clients = [await websockets.connect(f"ws://127.0.0.1:{p}") for p in (p1, p1, p2, p2)]
            deadline = time.monotonic() + 10
            while not (
                lws.lws_context_redis_state(s1.context.context) == 2
                and lws.lws_context_redis_state(s2.context.context) == 2
            ):
                assert time.monotonic() < deadline, "not connected to Redis"
                await asyncio.sleep(0.05)
            for k in range(20):
                s1.broadcast(f"a{k}")
                s2.broadcast(b"b%d" % k)
            with pytest.raises(ValueError, match="refused"):
                s1.broadcast(b"x" * (2 << 20))
            for c in clients:
                got = [await asyncio.wait_for(c.recv(), 5) for _ in range(40)]
                assert [m for m in got if isinstance(m, str)] == [f"a{k}" for k in range(20)]
                assert [m for m in got if isinstance(m, bytes)] == [b"b%d" % k for k in range(20)]
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(c.recv(), 0.3)  # nothing twice
                await c.close()

    asyncio.run(run())


def test_broadcasts_kept_while_redis_is_down_are_bounded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """pending_max=5: of 12 broadcasts made while Redis is away, the newest 5
    are published when it comes, in order; the 7 dropped are said."""
    server = RedisServer(tmp_path)
    c = Ctx()
    try:
        lws.lws_context_attach_redis(
            c.context, server.url, "kept", pending_max=5, reconnect_min_ms=20, reconnect_max_ms=50
        )
        for k in range(12):
            assert lws.libwebsockets_broadcast(c.protocol, b"m%02d" % k, 3) == 0
        c.serve_until(lambda: False, 0.2)
        server.start()
        assert c.serve_until(lambda: lws.lws_context_redis_state(c.context) == 2)
        assert c.serve_until(lambda: command(server.port, "XLEN", "kept") == b":5\r\n")
        entries = command(server.port, "XRANGE", "kept", "-", "+")
        datas = [entries.find(b"\r\nm%02d\r\n" % k) for k in range(12)]
        assert all(d < 0 for d in datas[:7]), entries
        assert datas[7:] == sorted(datas[7:]) and datas[7] > 0, entries  # in order
    finally:
        c.destroy()
        server.stop()
    # the core's log, in logging by default
    err = "\n".join(r.getMessage() for r in caplog.records if r.name == "pylws_ffi.core")
    assert "7 broadcasts were dropped while Redis was unreachable" in err, err
    assert err.count("redis: cannot reach") == 1, err


def test_broadcast_from_a_forked_process_is_published(redis: RedisServer) -> None:
    """libwebsockets_fork_service_loop: the child serves (and drives Redis),
    the parent's broadcasts reach it through the broadcast socket and go on
    to the stream; one over the limit is refused in the parent already."""
    redis.start()
    c = Ctx()
    try:
        lws.lws_context_attach_redis(c.context, redis.url, "forked", max_message=100)
        assert lws.libwebsockets_fork_service_loop(c.context) == 0
        for k in range(3):
            assert lws.libwebsockets_broadcast(c.protocol, b"f%d" % k, 2) == 0
        assert lws.libwebsockets_broadcast(c.protocol, b"x" * 101, 101) == -1
        deadline = time.monotonic() + 10
        while command(redis.port, "XLEN", "forked") != b":3\r\n":
            assert time.monotonic() < deadline, command(redis.port, "XLEN", "forked")
            time.sleep(0.05)
        entries = command(redis.port, "XRANGE", "forked", "-", "+")
        assert [entries.find(b"\r\nf%d\r\n" % k) for k in range(3)] == sorted(
            entries.find(b"\r\nf%d\r\n" % k) for k in range(3)
        )
    finally:
        c.destroy()


def test_redis_hung_then_back_nothing_lost_nothing_twice(redis: RedisServer) -> None:
    """Redis stopped (SIGSTOP: no reset, no answer) while a context publishes:
    its XADDs go unanswered, it gives up on the connection after timeout_ms and
    retries; when Redis runs again it also applies the XADDs of the dropped
    connection, so the stream holds some twice, and the reader (a demo server)
    delivers each once, in order."""
    redis.start()
    server = start_demo("c", "--redis", redis.url)
    pub = Ctx("lws-mirror-protocol")  # the demo delivers entries of its protocols

    async def run() -> list[str]:
        lws.lws_context_attach_redis(
            pub.context, redis.url, "lws-demo", timeout_ms=300, reconnect_min_ms=50,
            reconnect_max_ms=200,
        )  # fmt: skip
        ws = await websockets.connect(server.url, subprotocols=["lws-mirror-protocol"])
        got: list[str] = []
        deadline = time.monotonic() + 20
        k = 0
        while True:  # linked
            lws.libwebsockets_broadcast(pub.protocol, b"probe-%d" % k, len(b"probe-%d" % k))
            pub.serve_until(lambda: False, 0.2)
            try:
                while (await asyncio.wait_for(ws.recv(), 0.05)) != f"probe-{k}":
                    pass
                break
            except asyncio.TimeoutError:
                k += 1
                assert time.monotonic() < deadline, "not linked"
        os.kill(redis.proc.pid, signal.SIGSTOP)
        try:
            for i in range(60):
                msg = b"H:%d" % i
                assert lws.libwebsockets_broadcast(pub.protocol, msg, len(msg)) == 0
                pub.serve_until(lambda: False, 0.03)
            pub.serve_until(lambda: False, 0.8)  # timed out, retrying
        finally:
            os.kill(redis.proc.pid, signal.SIGCONT)
        for i in range(60, 100):
            msg = b"H:%d" % i
            assert lws.libwebsockets_broadcast(pub.protocol, msg, len(msg)) == 0
            pub.serve_until(lambda: False, 0.01)
        pub.serve_until(lambda: False, 1.5)
        try:
            while True:
                m = await asyncio.wait_for(ws.recv(), 1.0)
                if not str(m).startswith("probe"):
                    got.append(str(m))
        except asyncio.TimeoutError:
            pass
        await ws.close()
        return got

    try:
        got = asyncio.run(run())
        in_stream = command(redis.port, "XRANGE", "lws-demo", "-", "+", timeout=5).count(b"H:")
    finally:
        pub.destroy()
        out = server.stop()
    assert got == [f"H:{i}" for i in range(100)], got
    assert in_stream > 100, in_stream  # the dropped connection's XADDs were applied too
    assert "redis: lost the" not in out  # the reader never noticed

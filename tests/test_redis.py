"""The Redis Streams backplane of libwebsockets_broadcast, end to end: demo
servers (examples/test-server, the C one under ASan/UBSan) attached to one
real redis-server, ``websockets`` clients on each, the lws-mirror-protocol
going through libwebsockets_broadcast.  Every message must reach every client
once, in its publisher's order, also across a Redis crash and with Redis down
at start."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets
from redisproc import REDIS_SERVER, RedisServer
from servers import SANITIZER_MARKERS, Server, start_demo
from test_demo import demo_argv
from tls_certs import start_example

pytestmark = pytest.mark.skipif(
    REDIS_SERVER is None, reason="redis-server is not installed (Debian package redis-server)"
)

MIRROR = "lws-mirror-protocol"


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    yield server
    server.stop()


class Client:
    """A mirror client; ``got`` holds the test's messages (not the probes)."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.got: list[str] = []
        self.probes: set[str] = set()
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                assert isinstance(msg, str)
                if msg.startswith("probe"):
                    self.probes.add(msg)
                else:
                    self.got.append(msg)
        except websockets.ConnectionClosed:
            pass


async def open_clients(url: str, n: int) -> list[Client]:
    out = []
    for _ in range(n):
        ws = await websockets.connect(url, subprotocols=[MIRROR], max_size=None)
        out.append(Client(ws))
    return out


async def wait_linked(a: list[Client], b: list[Client], timeout: float = 20) -> None:
    """Probes from a's first client until b's see one, and back: both servers
    read the stream."""
    deadline = time.monotonic() + timeout
    for src, dst in ((a, b), (b, a)):
        n = 0
        while True:
            probe = f"probe-{id(src)}-{n}"
            await src[0].ws.send(probe)
            await asyncio.sleep(0.2)
            if all(probe in c.probes for c in dst):
                break
            n += 1
            assert time.monotonic() < deadline, "the servers never linked through Redis"


async def wait_all(clients: list[Client], count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(len(c.got) >= count for c in clients):
            await asyncio.sleep(0.3)  # a duplicate would show up now
            return
        await asyncio.sleep(0.05)


def check_order(clients: list[Client], publishers: dict[str, int]) -> None:
    """Each client got every publisher's messages once, in its order."""
    for i, c in enumerate(clients):
        for name, n in publishers.items():
            mine = [m for m in c.got if m.startswith(name + ":")]
            want = [f"{name}:{k}" for k in range(n)]
            assert mine == want, (
                f"client {i}: {len(mine)} of {n} from {name}; first differences: "
                f"{[(k, x, y) for k, (x, y) in enumerate(zip(mine, want)) if x != y][:3]}"
            )
        assert len(c.got) == sum(publishers.values()), f"client {i}: extra messages"


async def close_all(clients: list[Client]) -> None:
    for c in clients:
        await c.ws.close()
        await c.task


def outage_lines(out: str) -> int:
    return sum(
        1
        for line in out.splitlines()
        if "redis: cannot reach" in line or "redis: lost the" in line or "did not answer" in line
    )


def _demo(kind: str, *args: str) -> Server:
    """The demo: "c" (ASan) or "py", or their external-poll twins "c-extpoll",
    "py-extpoll" (the Redis descriptors come through ADD_POLL_FD there)."""
    if kind.endswith("-extpoll"):
        lang = kind.split("-")[0]
        server = start_example("test-server-extpoll", "c" if lang == "c" else "python", *args)
        server.url = f"ws://127.0.0.1:{server.port}"  # plain: no --ssl here
        return server
    return start_demo(kind, *args)


@pytest.mark.parametrize(
    "kinds", [("c", "c"), ("py", "py"), ("c", "py"), ("c-extpoll", "py-extpoll")]
)
def test_two_servers_every_broadcast_everywhere_in_order(
    redis: RedisServer, kinds: tuple[str, str]
) -> None:
    redis.start()
    s1 = _demo(kinds[0], "--redis", redis.url)
    s2 = _demo(kinds[1], "--redis", redis.url)

    async def run() -> None:
        c1 = await open_clients(s1.url, 3)
        c2 = await open_clients(s2.url, 3)
        await wait_linked(c1, c2)
        n = 150
        for k in range(n):  # two publishers, one on each server, interleaved
            await c1[0].ws.send(f"A:{k}")
            await c2[0].ws.send(f"B:{k}")
            if k % 10 == 0:
                await asyncio.sleep(0.01)
        await wait_all(c1 + c2, 2 * n)
        check_order(c1 + c2, {"A": n, "B": n})
        await close_all(c1 + c2)

    try:
        asyncio.run(run())
    finally:
        out1, out2 = s1.stop(), s2.stop()
    assert outage_lines(out1) == outage_lines(out2) == 0, out1 + out2


@pytest.mark.parametrize("kind", ["c", "py"])
def test_redis_killed_and_restarted_mid_stream(redis: RedisServer, kind: str) -> None:
    redis.start()
    s1 = start_demo(kind, "--redis", redis.url)
    s2 = start_demo(kind, "--redis", redis.url)

    async def run() -> None:
        c1 = await open_clients(s1.url, 2)
        c2 = await open_clients(s2.url, 3)
        await wait_linked(c1, c2)
        n = 300
        for k in range(n):
            if k == 100:
                redis.kill()  # SIGKILL: what was acknowledged is on disk
            if k == 200:
                redis.start()  # same port, same folder: the stream is back
            await c1[0].ws.send(f"A:{k}")
            await asyncio.sleep(0.005)
        await wait_all(c1 + c2, n, timeout=40)
        check_order(c1 + c2, {"A": n})
        await close_all(c1 + c2)

    try:
        asyncio.run(run())
    finally:
        out1, out2 = s1.stop(), s2.stop()
    # the outage is said once by each server, not once per retry
    assert outage_lines(out1) == 1, out1
    assert outage_lines(out2) == 1, out2


def test_redis_down_at_start(redis: RedisServer) -> None:
    s1 = start_demo("c", "--redis", redis.url)
    s2 = start_demo("c", "--redis", redis.url)

    async def run() -> None:
        c1 = await open_clients(s1.url, 2)
        c2 = await open_clients(s2.url, 2)
        n = 50
        for k in range(n):  # served and delivered locally meanwhile
            await c1[0].ws.send(f"A:{k}")
        await wait_all(c1, n, timeout=5)
        assert all(len(c.got) == n for c in c1)
        assert all(not c.got for c in c2)
        redis.start()
        # the 50 kept by s1 are published on reconnect and reach s2's clients
        await wait_all(c2, n, timeout=20)
        await wait_linked(c1, c2)
        for k in range(n, 2 * n):
            await c1[0].ws.send(f"A:{k}")
        await wait_all(c1 + c2, 2 * n)
        check_order(c1 + c2, {"A": 2 * n})
        await close_all(c1 + c2)

    try:
        asyncio.run(run())
    finally:
        out1, out2 = s1.stop(), s2.stop()
    assert outage_lines(out1) == 1, out1
    assert outage_lines(out2) == 1, out2
    assert "redis: connected" in out1 and "redis: connected" in out2


def _established(pid: int, port: int) -> int:
    """Established TCP connections of process ``pid`` on local ``port``."""
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = (fd_dir / fd.name).readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if int(f[1].rsplit(":", 1)[1], 16) == port and f[3] == "01" and f[9] in inodes:
                n += 1
    return n


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(x) for x in text.split()]


@pytest.mark.parametrize("kind", ["c", "py"])
def test_workers_share_the_port_and_survive_a_killed_one(redis: RedisServer, kind: str) -> None:
    redis.start()
    server = start_demo(kind, "--workers", "2", "--redis", redis.url)

    async def run() -> None:
        deadline = time.monotonic() + 10
        while len(_children(server.proc.pid)) < 2:
            assert time.monotonic() < deadline, "the workers did not start"
            await asyncio.sleep(0.05)
        workers = _children(server.proc.pid)
        # SO_REUSEPORT spreads connections by hash: enough clients reach both
        clients = await open_clients(server.url, 16)
        counts = [_established(w, server.port) for w in workers]
        assert all(counts) and sum(counts) == 16, counts
        # wait until both workers read the stream: a probe reaches every client
        deadline = time.monotonic() + 20
        n = 0
        while True:
            await clients[0].ws.send(f"probe-{n}")
            await asyncio.sleep(0.2)
            if all(f"probe-{n}" in c.probes for c in clients):
                break
            n += 1
            assert time.monotonic() < deadline, "a worker never got the others' broadcasts"
        for k in range(20):  # 16 publishers on both workers: no order among them
            await clients[k % len(clients)].ws.send(f"A:{k}")
            await asyncio.sleep(0.01)
        await wait_all(clients, 20)
        for c in clients:
            assert sorted(c.got, key=lambda m: int(m[2:])) == [f"A:{k}" for k in range(20)]

        # one worker dies: its clients are cut, the other's keep going
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        await asyncio.sleep(0.5)
        survivors = [c for c in clients if c.ws.state is websockets.protocol.State.OPEN]
        assert 0 < len(survivors) < len(clients)
        assert server.alive()
        fresh = await open_clients(server.url, 4)  # new ones land on the live worker
        for c in survivors + fresh:
            c.got.clear()
        for k in range(10):
            await survivors[0].ws.send(f"B:{k}")
        await wait_all(survivors + fresh, 10)
        check_order(survivors + fresh, {"B": 10})
        await close_all(clients + fresh)

    try:
        asyncio.run(run())
    finally:
        # SIGTERM: the supervisor stops the other worker too, and exits with
        # 1 since one was killed
        server.proc.terminate()
        rc = server.proc.wait(15)
        out = server.output()
    assert rc == 1 and "killed by signal 9" in out, (rc, out)
    assert not [m for m in SANITIZER_MARKERS if m in out], out


@pytest.mark.parametrize("kind", ["c", "py"])
def test_workers_fail_together_when_the_port_is_taken(kind: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv, env = demo_argv(kind)
        r = subprocess.run(
            [*argv, "--port", str(port), "--interface", "127.0.0.1", "--workers", "2"],
            capture_output=True,
            timeout=60,
            env=env,
        )
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 1, err
    assert "exited with 1" in err, err

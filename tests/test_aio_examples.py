"""The asyncio examples (examples/aio_*.py), each run as a program and talked
to by `websockets` (or served by it), bounded in time.  `mypy --strict` over
them: tests/test_typing.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.net import free_port
from support.raw import RawWs
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed as WsClosed
from websockets.exceptions import InvalidStatus

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


class Program:
    """An example running as a subprocess; its stdout read line by line."""

    def __init__(self, name: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(EXAMPLES / name), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONDEVMODE": "1"},
        )
        self.lines: list[str] = []
        self.signalled = False

    def send(self, sig: int = signal.SIGTERM) -> None:
        """Send it ``sig`` once (a second SIGTERM during its shutdown would kill it)."""
        if not self.signalled and self.proc.poll() is None:
            self.signalled = True
            self.proc.send_signal(sig)

    async def expect(self, pattern: str, timeout: float = 10) -> re.Match[str]:
        """The next line of output matching ``pattern`` (skipping others)."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line matching {pattern!r} in {self.lines}")
            line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), left)
            if not line:
                raise AssertionError(f"ended ({self.stop()}) without {pattern!r}: {self.lines}")
            self.lines.append(line.rstrip("\n"))
            m = re.search(pattern, line)
            if m:
                return m

    async def port(self) -> int:
        return int((await self.expect(r"listening on ws://[^:]+:(\d+)/")).group(1))

    def stop(self, sig: int | None = signal.SIGTERM, timeout: float = 10) -> str:
        """Stop it (by its pid; None: wait for it to end), return its
        stderr; fails if it does not exit in time or exits with an error."""
        if sig is not None:
            self.send(sig)
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise AssertionError(f"{self.proc.args} did not stop within {timeout} s") from None
        assert self.proc.returncode == 0, err
        return err


@pytest.fixture
def program() -> Iterator[Any]:
    started: list[Program] = []

    def start(name: str, *args: str) -> Program:
        p = Program(name, *args)
        started.append(p)
        return p

    yield start
    for p in started:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.communicate()


def run(coro: Any, timeout: float = 60) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


# ---- aio_chat.py ----


async def event(ws: Any, kind: str | None = None) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), 10))
    if kind is not None:
        assert message["type"] == kind, message
    return message  # type: ignore[no-any-return]


async def request(ws: Any, **req: Any) -> None:
    await ws.send(json.dumps(req))


def test_chat_rooms(program: Any) -> None:
    chat = program("aio_chat.py", "--port", "0")

    async def main() -> None:
        url = f"ws://127.0.0.1:{await chat.port()}/"
        async with ws_connect(url) as alice, ws_connect(url) as bob, ws_connect(url) as carol:
            guests = {(await event(w, "welcome"))["nick"] for w in (alice, bob, carol)}
            assert len(guests) == 3
            await request(alice, type="nick", nick="alice")
            assert (await event(alice, "renamed"))["nick"] == "alice"
            await request(bob, type="nick", nick="alice")
            assert "taken" in (await event(bob, "error"))["error"]
            await request(bob, type="nick", nick="bob")
            await event(bob, "renamed")

            await request(alice, type="join", room="lobby")
            assert (await event(alice, "joined"))["members"] == ["alice"]
            await request(bob, type="join", room="lobby")
            for w in (alice, bob):
                joined = await event(w, "joined")
                assert (joined["nick"], joined["members"]) == ("bob", ["alice", "bob"])
            await request(carol, type="join", room="kitchen")
            await event(carol, "joined")

            await request(alice, type="say", room="lobby", text="héllo")
            for w in (alice, bob):
                said = await event(w, "message")
                assert (said["nick"], said["text"], said["room"]) == ("alice", "héllo", "lobby")
            await request(carol, type="rooms")  # carol got nothing of the lobby's
            assert (await event(carol, "rooms"))["rooms"] == {"kitchen": 1, "lobby": 2}
            await request(carol, type="say", room="lobby", text="intruder")
            assert "join" in (await event(carol, "error"))["error"]

            # mistakes are answered, the connection stays
            await carol.send("{not json")
            assert (await event(carol, "error"))["error"] == "not JSON"
            await request(carol, type="dance")
            await event(carol, "error")
            await carol.send("[1, 2]")
            await event(carol, "error")

            # renaming is told to the rooms; leaving too
            await request(bob, type="nick", nick="robert")
            for w in (alice, bob):
                renamed = await event(w, "renamed")
                assert (renamed["old"], renamed["nick"]) == ("bob", "robert")
            await request(bob, type="leave", room="lobby")
            assert (await event(alice, "left"))["nick"] == "robert"
            assert (await event(bob, "left"))["room"] == "lobby"

            # a client that vanishes without a close frame leaves its rooms
            await request(bob, type="join", room="lobby")
            await event(alice, "joined")
            await event(bob, "joined")
            assert bob.transport is not None
            bob.transport.abort()
            left = await event(alice, "left")
            assert (left["room"], left["nick"]) == ("lobby", "robert")
            await request(alice, type="rooms")
            assert (await event(alice, "rooms"))["rooms"] == {"kitchen": 1, "lobby": 1}

            # the server stops: everyone is told 1001
            chat.send()
            for w in (alice, carol):
                with pytest.raises(WsClosed) as e:
                    await asyncio.wait_for(w.recv(), 10)
                assert e.value.rcvd is not None and e.value.rcvd.code == 1001

    run(main())
    assert chat.stop() == ""  # no traceback, no warning (-X dev)


def test_chat_broadcast_reaches_every_member(program: Any) -> None:
    """30 members of one room each say something: everyone hears all 30."""
    chat = program("aio_chat.py", "--port", "0")
    n = 30

    async def main() -> None:
        url = f"ws://127.0.0.1:{await chat.port()}/"
        clients = [await ws_connect(url) for _ in range(n)]
        for i, ws in enumerate(clients):
            await event(ws, "welcome")
            await request(ws, type="join", room="all")
            # wait for this join's echo on everyone already in: no race later
            for other in clients[: i + 1]:
                await event(other, "joined")
        for i, ws in enumerate(clients):
            await request(ws, type="say", room="all", text=f"from {i}")
        for ws in clients:
            heard = sorted([(await event(ws, "message"))["text"] for _ in range(n)])
            assert heard == sorted(f"from {i}" for i in range(n))
        # together: a websockets client that stops reading (its queue full of
        # "left" events) would not see the server's close frame
        await asyncio.gather(*(ws.close() for ws in clients))
        async with ws_connect(url) as ws:  # every member left: the room is gone
            await event(ws, "welcome")
            await request(ws, type="rooms")
            assert (await event(ws, "rooms"))["rooms"] == {}

    run(main())
    chat.stop()


# ---- aio_client.py ----


def test_client_reconnects_with_backoff(program: Any) -> None:
    port = free_port()
    answered = 0

    async def echo(ws: Any) -> None:
        nonlocal answered
        async for message in ws:
            await ws.send(message)
            answered += 1

    async def main() -> None:
        client = program(
            "aio_client.py", f"ws://127.0.0.1:{port}/", "--count", "6", "--interval", "0.05"
        )
        await client.expect(r"cannot connect")  # no server yet
        await client.expect(r"reconnecting in")
        async with ws_serve(echo, "127.0.0.1", port) as server:
            await client.expect(r"connected to")
            await client.expect(r"echo: message 1$")
            server.close()  # the connection is lost: 1001
        await client.expect(r"connection lost \(code 1001\)")
        async with ws_serve(echo, "127.0.0.1", port):
            await client.expect(r"connected to")
            await client.expect(r"done: 6 messages")
        assert client.stop(None) == ""

    run(main())
    assert answered >= 6


def test_client_sends_headers_and_stops_on_a_4xx(program: Any) -> None:
    """--header reaches the server (additional_headers); a 401 is printed with
    its body and not retried (exit 1)."""
    port = free_port()

    def check_token(ws: Any, request: Any) -> Any:
        if request.headers.get("Authorization") != "Bearer good":
            return ws.respond(401, "no valid token\n")
        return None

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    async def main() -> None:
        async with ws_serve(echo, "127.0.0.1", port, process_request=check_token):
            url = f"ws://127.0.0.1:{port}/"
            good = program(
                "aio_client.py", url, "--count", "2", "--interval", "0.01",
                "--header", "Authorization: Bearer good",
            )  # fmt: skip
            await good.expect(r"done: 2 messages")
            assert good.stop(None) == ""
            bad = program("aio_client.py", url, "--header", "Authorization: Bearer bad")
            await bad.expect(r"refused: 401 Unauthorized: no valid token")
            assert await asyncio.to_thread(bad.proc.wait, 10) == 1

    run(main())


# ---- aio_keepalive.py ----


def test_keepalive_server_drops_a_frozen_client(program: Any) -> None:
    ka = program(
        "aio_keepalive.py", "server", "--port", "0", "--ping-interval", "0.2",
        "--ping-timeout", "0.4",
    )  # fmt: skip

    async def main() -> None:
        port = await ka.port()
        async with ws_connect(f"ws://127.0.0.1:{port}/", ping_interval=None) as ws:
            await ka.expect("connected")
            await asyncio.sleep(1.0)  # websockets answers the server's pings
            await ws.send("still here")
            assert await asyncio.wait_for(ws.recv(), 10) == "still here"
            latency = float((await ka.expect(r"latency ([\d.]+) ms")).group(1))
            assert 0 < latency < 1000
        await ka.expect(r"closed 1000")
        # a client that never answers a ping (it reads nothing)
        frozen = await asyncio.to_thread(RawWs.connect, port)
        try:
            t0 = time.monotonic()
            await ka.expect("connected")
            await ka.expect(r"closed 1011 'keepalive ping timeout'", timeout=10)
            assert time.monotonic() - t0 < 5
        finally:
            frozen.sock.close()

    run(main())
    ka.stop()


def test_keepalive_client_measures_latency(program: Any) -> None:
    async def main() -> None:
        async def echo(ws: Any) -> None:
            async for message in ws:
                await ws.send(message)

        async with ws_serve(echo, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            ka = program("aio_keepalive.py", "client", f"ws://127.0.0.1:{port}/", "--pings", "3")
            rtts = [float((await ka.expect(rf"ping {n}: ([\d.]+) ms")).group(1)) for n in range(3)]
            assert all(0 < r < 1000 for r in rtts), rtts
            await ka.expect(r"last latency")
            assert ka.stop(None) == ""

    run(main())


# ---- aio_request_info.py ----


def test_request_info(program: Any) -> None:
    info = program("aio_request_info.py", "--port", "0")

    async def main() -> None:
        port = await info.port()
        async with ws_connect(
            f"ws://127.0.0.1:{port}/room?id=7&id=8&name=%C3%A9",
            additional_headers=[
                ("Cookie", "session=abc"),
                ("X-Forwarded-For", "10.0.0.1"),
                ("X-Forwarded-For", "10.0.0.2"),
                ("Authorization", "Bearer t0ken"),
            ],
            subprotocols=["info.v1"],  # type: ignore[list-item]
        ) as ws:
            got = json.loads(await asyncio.wait_for(ws.recv(), 10))
            local = ws.local_address
        assert got["path"] == "/room"
        assert got["query"] == {"id": ["7", "8"], "name": ["é"]}
        assert got["cookie"] == "session=abc"
        assert got["headers"]["x-forwarded-for"] == ["10.0.0.1", "10.0.0.2"]
        assert got["headers"]["authorization"] == ["Bearer t0ken"]
        assert got["headers"]["upgrade"] == ["websocket"]
        assert got["subprotocol"] == "info.v1"
        assert got["remote_address"] == [local[0], local[1]]
        async with ws_connect(f"ws://127.0.0.1:{port}/") as ws:  # no subprotocol asked
            got = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert (got["path"], got["query"], got["subprotocol"]) == ("/", {}, None)

    run(main())
    assert info.stop() == ""


# ---- aio_http.py ----


def test_http_beside_websocket(program: Any) -> None:
    import http.client

    server = program("aio_http.py", "--port", "0")

    def get(port: int, path: str, headers: dict[str, str] | None = None) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", path, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.getheader("Content-Type"), resp.getheaders(), resp.read()
        finally:
            conn.close()

    async def main() -> None:
        port = await server.port()
        status, _, _, body = await asyncio.to_thread(get, port, "/healthz")
        assert (status, body) == (200, b"OK\n")
        status, ctype, _, body = await asyncio.to_thread(get, port, "/")
        assert status == 200 and ctype.startswith("text/html") and b"new WebSocket" in body
        status, _, headers, _ = await asyncio.to_thread(get, port, "/admin")
        assert status == 401 and ("WWW-Authenticate", 'Bearer realm="admin"') in headers
        async with ws_connect(f"ws://127.0.0.1:{port}/ws") as ws:
            assert ws.response.headers["X-Example"] == "aio_http"
            await ws.send("hi")
            assert await asyncio.wait_for(ws.recv(), 10) == "hi"
            status, _, _, body = await asyncio.to_thread(
                get, port, "/admin", {"Authorization": "Bearer letmein"}
            )
            assert (status, body) == (200, b"1 WebSocket connection(s).\n")
        status, ctype, _, body = await asyncio.to_thread(get, port, "/logo.svg")
        assert status == 200 and ctype == "image/svg+xml"
        assert body == (EXAMPLES / "resources" / "logo.svg").read_bytes()
        assert (await asyncio.to_thread(get, port, "/%2e%2e/aio_http.py"))[0] == 403
        assert (await asyncio.to_thread(get, port, "/missing.txt"))[0] == 404
        with pytest.raises(InvalidStatus) as info:
            async with ws_connect(f"ws://127.0.0.1:{port}/other"):
                pass
        assert info.value.response.status_code == 403

    run(main())
    assert server.stop() == ""


def test_chat_page_in_chromium(program: Any, tmp_path: Path) -> None:
    """examples/aio_chat.html in headless Chromium: it renames itself, joins
    the lobby and says hello; a websockets member of the lobby sees it all,
    and sees it leave when the browser goes."""
    from test_browser import CHROMIUM_FLAGS, find_chromium

    exe = find_chromium()
    if exe is None:
        pytest.skip("chromium is not installed")
    chat = program("aio_chat.py", "--port", "0")
    # short-named: Chromium's singleton socket path must fit 108 bytes
    chromium_tmp = Path(tempfile.mkdtemp(prefix="pylws-chr-"))

    async def main() -> None:
        port = await chat.port()
        async with ws_connect(f"ws://127.0.0.1:{port}/") as ws:
            await event(ws, "welcome")
            await request(ws, type="join", room="lobby")
            await event(ws, "joined")
            page = (EXAMPLES / "aio_chat.html").as_uri() + (
                f"?server=ws://127.0.0.1:{port}/&nick=browser&room=lobby&say=hello%20from%20chromium"
            )
            flags = [f for f in CHROMIUM_FLAGS if not f.startswith("--remote-debugging")]
            browser = subprocess.Popen(
                [exe, *flags, f"--user-data-dir={tmp_path}", page],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                # its org.chromium.Chromium.* folders go here, not into /tmp
                env=dict(os.environ, TMPDIR=str(chromium_tmp)),
                start_new_session=True,  # its helper processes share its group
            )
            try:
                joined = await event(ws, "joined")
                assert (joined["nick"], joined["members"][0]) == ("browser", "browser")
                said = await event(ws, "message")
                assert (said["nick"], said["text"]) == ("browser", "hello from chromium")
            finally:
                browser.kill()
                browser.wait(10)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(browser.pid, signal.SIGKILL)  # helpers left behind, if any
            assert (await event(ws, "left"))["nick"] == "browser"

    try:
        run(main(), timeout=90)
    finally:
        shutil.rmtree(chromium_tmp, ignore_errors=True)
    assert chat.stop() == ""

"""End-to-end: the echo examples (C under ASan/UBSan, and Python) against the
`websockets` library as the client."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from servers import ROOT, asan_build, send_and_receive, start_echo
from websockets.asyncio.client import connect as aconnect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1 << 20, 16 << 20]


@pytest.fixture(scope="module", params=["c", "python"])
def echo(request):
    server = start_echo(request.param, "--handshake-timeout", "2")
    yield server
    server.stop()


def client(url: str, **kw):
    return connect(url, max_size=None, compression=None, open_timeout=10, close_timeout=10, **kw)


def roundtrip(url: str, message: str | bytes) -> str | bytes:
    """Send one message and return the echo, receiving while sending (see
    send_and_receive; the sync client cannot do both at once)."""

    async def go() -> str | bytes:
        async with aconnect(url, max_size=None, compression=None, open_timeout=10) as ws:
            return await send_and_receive(ws, message)

    return asyncio.run(go())


@pytest.mark.parametrize("size", SIZES)
def test_binary_echo(echo, size):
    data = os.urandom(size)
    assert roundtrip(echo.url, data) == data


@pytest.mark.parametrize("size", SIZES)
def test_text_echo(echo, size):
    # multi-byte characters, so pieces of the message split inside them
    text = ("aé€😀" * (size // 10 + 1))[: max(size // 2, 0)]
    assert roundtrip(echo.url, text) == text


def test_echo_of_a_message_larger_than_every_buffer(echo):
    """The echo of a 48 MiB message flows back while it is still being sent, to
    a client that pauses reading after one queued frame: neither side's flow
    control (the server stops reading a peer with 4 MiB of unread replies)
    may stall the other for good."""
    data = os.urandom(48 << 20)

    async def go() -> str | bytes:
        kw = dict(max_size=None, compression=None, open_timeout=10, max_queue=1)
        async with aconnect(echo.url, **kw) as ws:
            return await send_and_receive(ws, data, 90)

    assert asyncio.run(go()) == data


def test_fragmented_messages(echo):
    with client(echo.url) as ws:
        ws.send(["ab", "c€", "", "d"])
        assert ws.recv(timeout=10) == "abc€d"
        chunks = [os.urandom(n) for n in (1, 0, 300, 70000, 5)]
        ws.send(chunks)
        assert ws.recv(timeout=10) == b"".join(chunks)


def test_many_messages_in_flight(echo):
    msgs = [os.urandom(n % 300) for n in range(2000)]
    with client(echo.url) as ws:
        for m in msgs:
            ws.send(m)
        for m in msgs:
            assert ws.recv(timeout=10) == m


def test_ping_gets_pong_with_payload(echo):
    with client(echo.url) as ws:
        pong = ws.ping(b"payload-123")
        assert pong.wait(5)
        ws.send("still works")
        assert ws.recv(timeout=5) == "still works"


@pytest.mark.parametrize("code,reason", [(1000, ""), (1001, "going"), (4001, "custom")])
def test_client_close_code_is_echoed(echo, code, reason):
    with client(echo.url) as ws:
        ws.send("x")
        assert ws.recv(timeout=5) == "x"
        ws.close(code, reason)
        assert ws.protocol.close_rcvd is not None
        assert ws.protocol.close_rcvd.code == code


def test_http_request_without_upgrade_is_answered(echo):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", echo.port, timeout=5)
    conn.request("GET", "/")
    resp = conn.getresponse()
    assert resp.status in (200, 404)
    resp.read()
    conn.close()


def test_hundred_concurrent_clients(echo):
    async def one(i: int) -> None:
        async with aconnect(echo.url, max_size=None, compression=None, open_timeout=20) as ws:
            for n in range(20):
                msg = f"client {i} message {n} " * (i % 7 + 1)
                await ws.send(msg)
                assert await asyncio.wait_for(ws.recv(), 20) == msg

    async def main() -> None:
        await asyncio.gather(*(one(i) for i in range(100)))

    asyncio.run(main())
    assert echo.alive()


def test_server_survives_abrupt_disconnects(echo):
    for _ in range(20):
        with client(echo.url) as ws:
            ws.send(os.urandom(100000))
            ws.socket.close()  # no close frame, data maybe unread
    with client(echo.url) as ws:
        ws.send("after")
        assert ws.recv(timeout=5) == "after"
    assert echo.alive()


def test_max_message_size_closes_with_1009():
    for kind in ("c", "python"):
        server = start_echo(kind, "--max-message-size", "1000")
        try:
            with client(server.url) as ws:
                ws.send(b"x" * 1000)
                assert ws.recv(timeout=5) == b"x" * 1000
                ws.send(b"y" * 1001)
                with pytest.raises(ConnectionClosed) as info:
                    ws.recv(timeout=5)
                assert info.value.rcvd.code == 1009
        finally:
            server.stop()


@pytest.mark.parametrize("kind", ["c", "python"])
@pytest.mark.parametrize(
    "option, value",
    [
        ("--port", "65536"),
        ("--port", "99999999999999999999"),
        ("--debug", "99999999999999999999"),  # was LLONG_MAX cast to int: every level
        ("--handshake-timeout", "3000000000"),  # was cast to a negative int
        ("--handshake-timeout", "0"),
        ("--max-message-size", "-1"),
        ("--max-message-size", "1k"),
    ],
)
def test_numbers_out_of_range_are_refused(kind: str, option: str, value: str) -> None:
    """Every number option is read whole and within its range (C:
    examples/example-args.h, Python: example_args.int_arg): out of range, or
    not an integer, the server exits with 2 and names the value; it never
    starts with a value cut to fit."""
    if kind == "c":
        argv = [str(asan_build() / "echo_server")]
    else:
        argv = [sys.executable, str(ROOT / "examples" / "echo_server.py")]
    # --port 0 first (no listener), so a server that wrongly starts holds no port
    r = subprocess.run(
        [*argv, "--port", "0", option, value],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert value in r.stderr, r.stderr

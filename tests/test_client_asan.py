"""The C client's failure paths under ASan/UBSan.

tests/test_client.py drives these failures in-process through the binding,
where no sanitizer watches the C core.  Here the C example client
(examples/echo_client.c, built with AddressSanitizer, UBSan and LeakSanitizer
in build-asan/ by tests/servers.py) meets hostile fake servers instead: a
refused port, a name that does not resolve, and answers a server should not
give.  Each run must report exactly one LWS_CALLBACK_CLIENT_CONNECTION_ERROR
("echo_client: connection failed: REASON") with a reason that names the fault,
print nothing else, exit with 1 (a sanitizer report exits 99 or 98 and is
looked for in its output too), and leak nothing (``detect_leaks=1``).

A server that accepts the handshake and then goes is not a connection error:
the client gets ESTABLISHED, then CLOSED ("the server closed the connection").
"""

from __future__ import annotations

import socket
import struct
import subprocess
import time
from typing import Any, Callable

import pytest
from support.net import free_port
from test_client import (
    FakeServer,
    accept_key,
    handshake_reply,
    read_client_frames,
    run_example,
    server_frame,
)

LOCAL = "127.0.0.1"
FAILED = "echo_client: connection failed: "
SERVER_CLOSED = "echo_client: the server closed the connection"

pytestmark = pytest.mark.timeout(60)


def echo_client(*args: str, kind: str = "c", timeout: float = 30) -> subprocess.CompletedProcess:
    """Run the example client (C: under the sanitizers; run_example fails the
    test on a sanitizer report) sending one message."""
    return run_example(kind, "echo_client", *args, "--message", "x", timeout=timeout)


def one_failure(r: subprocess.CompletedProcess) -> str:
    """The reason of the run's only connection error; nothing else happened."""
    assert r.returncode == 1, f"exit {r.returncode}:\n{r.stderr[-4000:]}"
    assert r.stdout == "", "an echo came back"
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(FAILED), r.stderr[-4000:]
    reason = lines[0][len(FAILED) :]
    assert reason.strip() and reason != "unknown reason", "CONNECTION_ERROR without a reason"
    return reason


def against(
    respond: Callable[[str], bytes | None],
    *args: str,
    linger: float = 0.0,
    after: Callable[[socket.socket, bytes], Any] | None = None,
    kind: str = "c",
    timeout: float = 30,
) -> tuple[subprocess.CompletedProcess, FakeServer, float]:
    """echo_client against a FakeServer: (its run, the fake, seconds taken)."""
    fake = FakeServer(respond, linger=linger, after=after)
    try:
        start = time.monotonic()
        r = echo_client(
            "--host", LOCAL, "--port", str(fake.port), *args, kind=kind, timeout=timeout
        )
        took = time.monotonic() - start
    finally:
        fake.close()
    assert fake.request is not None, "the client sent no handshake request"
    assert fake.error is None, fake.error
    return r, fake, took


# ====================================================================== no server


def test_refused_port() -> None:
    r = echo_client("--port", str(free_port()))  # nothing listens there
    assert one_failure(r) == "connection refused"


def test_name_that_does_not_resolve() -> None:
    # a resolver that cannot answer at all is bounded by the handshake timeout
    r = echo_client("--host", "nonexistent.invalid", "--port", "80", "--handshake-timeout", "5")
    reason = one_failure(r)
    assert reason in (
        "unknown host name",
        "host name lookup failed",
        "timed out looking up the host name",
    ), reason


# ====================================================================== bad answers

# Each fake answers and then keeps the connection open for LINGER seconds, so
# the client must fail on the answer itself, not on the server going away.
LINGER = 10.0

BAD_ANSWERS = {
    "404": (
        lambda key: b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot here\n",
        (),
        "the server did not answer 101 Switching Protocols",
    ),
    "wrong accept": (
        lambda key: handshake_reply(key, accept=accept_key(key + "x")),
        (),
        "wrong Sec-WebSocket-Accept",
    ),
    "accept of another key": (
        lambda key: handshake_reply(key, accept=accept_key("dGhlIHNhbXBsZSBub25jZQ==")),
        (),
        "wrong Sec-WebSocket-Accept",
    ),
    "subprotocol not asked for": (
        lambda key: handshake_reply(key, "Sec-WebSocket-Protocol: other"),
        ("--protocol", "echo-client"),
        "the server chose a subprotocol we did not ask for",
    ),
    "subprotocol when none was asked for": (
        lambda key: handshake_reply(key, "Sec-WebSocket-Protocol: echo-client"),
        (),
        "the server chose a subprotocol we did not ask for",
    ),
    "extension not offered": (
        lambda key: handshake_reply(key, "Sec-WebSocket-Extensions: permessage-deflate"),
        (),
        "the server chose an extension we did not offer",
    ),
    "unknown extension": (
        lambda key: handshake_reply(key, "Sec-WebSocket-Extensions: x-nonesuch; a=1"),
        (),
        "the server chose an extension we did not offer",
    ),
}


@pytest.mark.parametrize("name", BAD_ANSWERS)
def test_bad_answer(name: str) -> None:
    respond, args, expected = BAD_ANSWERS[name]
    r, fake, took = against(respond, *args, linger=LINGER)
    assert one_failure(r) == expected
    assert took < LINGER / 2, f"the client waited for the server to go ({took:.1f} s)"
    headers = fake.headers()
    assert "sec-websocket-extensions" not in headers  # the client offers none
    if args:
        assert headers["sec-websocket-protocol"] == "echo-client"
    else:
        assert "sec-websocket-protocol" not in headers


@pytest.mark.parametrize(
    "respond",
    [
        pytest.param(
            lambda key: b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: webs", id="mid-head"
        ),
        pytest.param(lambda key: handshake_reply(key)[:-2], id="before-the-blank-line"),
        pytest.param(lambda key: None, id="without-a-word"),
        # a refusal whose body is cut: the client waits for the Content-Length
        # it announces (lws_client_response_head), then sees the server go
        pytest.param(
            lambda key: b"HTTP/1.1 404 Not Found\r\nContent-Length: 100\r\n\r\ncut",
            id="404-body-cut",
        ),
    ],
)
def test_server_closes_mid_handshake(respond: Callable[[str], bytes | None]) -> None:
    r, _, _ = against(respond)
    assert one_failure(r) == "the server closed the connection during the handshake"


@pytest.mark.parametrize("kind", ["c", "python"])
def test_server_that_never_answers_times_out(kind: str) -> None:
    r, _, took = against(lambda key: None, "--handshake-timeout", "1", kind=kind, linger=LINGER)
    assert one_failure(r) == "timed out waiting for the handshake answer"
    # 1 s, checked every 250 ms; the ASan build starts slower than it serves
    assert 0.9 < took < 5, took


def test_handshake_timeout_option_is_checked() -> None:
    for bad in ("0", "-1", "x"):
        r = run_example("c", "echo_client", "--handshake-timeout", bad)
        assert r.returncode == 2, (bad, r.stderr)
        assert "bad handshake timeout" in r.stderr


# ====================================================================== after the 101


def _reset(conn: socket.socket, rest: bytes) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _read_close(conn: socket.socket, rest: bytes) -> Any:
    conn.settimeout(5)
    return read_client_frames(conn, 1, rest)


@pytest.mark.parametrize(
    "respond,after",
    [
        pytest.param(lambda key: handshake_reply(key), None, id="fin"),
        pytest.param(lambda key: handshake_reply(key), _reset, id="rst"),
        pytest.param(
            lambda key: handshake_reply(key) + server_frame(0x8, struct.pack("!H", 1001) + b"bye"),
            _read_close,
            id="close-frame-with-the-101",
        ),
    ],
)
def test_server_goes_right_after_the_101(
    respond: Callable[[str], bytes | None], after: Callable[[socket.socket, bytes], Any] | None
) -> None:
    """The handshake completed: ESTABLISHED, then CLOSED, and no connection
    error (the classic API reports CLIENT_CONNECTION_ERROR instead of
    ESTABLISHED, never after it)."""
    r, fake, _ = against(respond, after=after)
    assert r.returncode == 1, r.stderr[-4000:]
    assert r.stdout == ""
    assert r.stderr.splitlines() == [SERVER_CLOSED]
    if after is _read_close:
        # the client answered the close, masked, echoing the code
        [(first, masked, _, body)] = fake.result
        assert first == 0x88 and masked
        assert body[:2] == struct.pack("!H", 1001)


def test_the_fakes_good_answer_works() -> None:
    """Control: the fake's correct 101 followed by the echo succeeds, so the
    failures above are the answers' faults (and the client is not simply
    unable to talk to a FakeServer)."""

    def echo_one(conn: socket.socket, rest: bytes) -> Any:
        conn.settimeout(5)
        frames = read_client_frames(conn, 1, rest)
        conn.sendall(server_frame(0x1, frames[0][3]))
        close = read_client_frames(conn, 1)
        conn.sendall(server_frame(0x8, close[0][3][:2]))
        return frames + close

    r, fake, _ = against(lambda key: handshake_reply(key), after=echo_one)
    assert r.returncode == 0, r.stderr[-4000:]
    assert r.stdout == "x\n" and r.stderr == ""
    assert [(f[0], f[3]) for f in fake.result] == [(0x81, b"x"), (0x88, struct.pack("!H", 1000))]

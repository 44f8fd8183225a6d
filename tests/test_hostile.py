"""Hostile and broken clients, spoken to over raw sockets: each gets the RFC
close code or the HTTP error that says what was wrong, and a well-behaved
client on the same server keeps being served throughout."""

from __future__ import annotations

import base64
import os
import socket
import struct
import time

import pytest
from servers import start_echo
from websockets.sync.client import connect

GOOD_KEY = base64.b64encode(b"0123456789abcdef").decode()


@pytest.fixture(scope="module", params=["c", "python"])
def echo(request):
    server = start_echo(request.param, "--handshake-timeout", "2")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bystander(echo):
    """A client that stays connected while the hostile ones come and go."""
    with connect(echo.url, compression=None, open_timeout=10) as ws:
        yield ws


@pytest.fixture(autouse=True)
def bystander_still_served(bystander):
    yield
    msg = os.urandom(64)
    bystander.send(msg)
    assert bystander.recv(timeout=5) == msg


def raw(echo) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", echo.port), timeout=10)
    return s


def read_until_closed(s: socket.socket, limit: float = 10.0) -> bytes:
    data = b""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def http_status(data: bytes) -> int:
    assert data.startswith(b"HTTP/1.1 "), data[:100]
    return int(data[9:12])


def upgrade_request(key: str = GOOD_KEY, version: str = "13", extra: str = "") -> bytes:
    return (
        "GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: {version}\r\n{extra}\r\n"
    ).encode()


def open_ws(echo) -> socket.socket:
    s = raw(echo)
    s.sendall(upgrade_request())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        assert chunk, "server closed during the handshake"
        head += chunk
    assert http_status(head) == 101
    assert head.split(b"\r\n\r\n", 1)[1] == b""
    return s


def frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0, mask: bool = True) -> bytes:
    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        head = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_code(data: bytes) -> int:
    """The status code of the (first) close frame in data from the server."""
    pos = 0
    while pos + 2 <= len(data):
        opcode, n = data[pos] & 0x0F, data[pos + 1] & 0x7F
        pos += 2
        if n == 126:
            n = struct.unpack("!H", data[pos : pos + 2])[0]
            pos += 2
        elif n == 127:
            n = struct.unpack("!Q", data[pos : pos + 8])[0]
            pos += 8
        if opcode == 8:
            return struct.unpack("!H", data[pos : pos + 2])[0] if n >= 2 else 1005
        pos += n
    raise AssertionError(f"no close frame in {data[:60]!r}")


def test_garbage_gets_400(echo):
    s = raw(echo)
    s.sendall(os.urandom(16) + b"\x00\xff garbage\r\n\r\n")
    assert http_status(read_until_closed(s)) == 400


def test_truncated_handshake_times_out_with_408(echo):
    s = raw(echo)
    s.sendall(upgrade_request()[:40])
    started = time.monotonic()
    data = read_until_closed(s, limit=15)
    assert http_status(data) == 408
    assert time.monotonic() - started < 12


def test_oversized_header_gets_431(echo):
    s = raw(echo)
    s.sendall(upgrade_request(extra="X-Big: " + "a" * 40000 + "\r\n"))
    assert http_status(read_until_closed(s)) == 431


def test_unsupported_version_gets_426(echo):
    s = raw(echo)
    s.sendall(upgrade_request(version="12"))
    data = read_until_closed(s)
    assert http_status(data) == 426
    assert b"Sec-WebSocket-Version: 13\r\n" in data


def test_bad_key_gets_400(echo):
    s = raw(echo)
    s.sendall(upgrade_request(key="short"))
    assert http_status(read_until_closed(s)) == 400


@pytest.mark.parametrize("version", ["7", "8", "13"])
def test_accepted_versions(echo, version):
    s = raw(echo)
    s.sendall(upgrade_request(version=version))
    assert http_status(s.recv(4096)) == 101
    s.close()


def test_subprotocol_selection(echo):
    s = raw(echo)
    s.sendall(upgrade_request(extra="Sec-WebSocket-Protocol: nope, echo\r\n"))
    head = s.recv(4096)
    assert http_status(head) == 101
    assert b"Sec-WebSocket-Protocol: echo\r\n" in head
    s.close()
    s = raw(echo)
    s.sendall(upgrade_request(extra="Sec-WebSocket-Protocol: nope, neither\r\n"))
    data = read_until_closed(s)
    assert http_status(data) == 400
    assert b"subprotocol" in data


VIOLATIONS = {
    "unmasked frame": (frame(1, b"hello", mask=False), 1002),
    "invalid utf-8": (frame(1, b"ok \xc3\x28 bad"), 1007),
    "invalid utf-8 across fragments": (frame(1, b"\xe2\x82", fin=False) + frame(0, b"\x28"), 1007),
    "2^63 length": (bytes([0x82, 0xFF]) + b"\x80" + b"\x00" * 7 + b"mask", 1002),
    "reserved opcode": (frame(3, b""), 1002),
    "rsv bit without extension": (frame(1, b"x", rsv=0x40), 1002),
    "ping too long": (frame(9, b"p" * 126), 1002),
    "fragmented ping": (frame(9, b"p", fin=False), 1002),
    "continuation first": (frame(0, b"x"), 1002),
    "new message inside fragmented one": (frame(1, b"a", fin=False) + frame(1, b"b"), 1002),
    "close code 1005": (frame(8, struct.pack("!H", 1005)), 1002),
    "close payload of 1 byte": (frame(8, b"\x03"), 1002),
    "close reason bad utf-8": (frame(8, struct.pack("!H", 1000) + b"\xff"), 1007),
}


@pytest.mark.parametrize("name", list(VIOLATIONS))
def test_protocol_violation_gets_close_code(echo, name):
    payload, expected = VIOLATIONS[name]
    s = open_ws(echo)
    s.sendall(payload)
    data = read_until_closed(s)
    assert close_code(data) == expected


def test_clean_close_is_echoed_and_tcp_closed(echo):
    s = open_ws(echo)
    s.sendall(frame(8, struct.pack("!H", 1000) + b"bye"))
    data = read_until_closed(s)
    assert close_code(data) == 1000


def test_one_byte_at_a_time(echo):
    s = raw(echo)
    for b in upgrade_request():
        s.send(bytes([b]))
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    assert http_status(head) == 101
    for b in frame(1, "héllo".encode()):
        s.send(bytes([b]))
    reply = s.recv(4096)
    assert reply == b"\x81\x06" + "héllo".encode()
    s.close()


def test_frames_sent_with_the_handshake(echo):
    s = raw(echo)
    s.sendall(upgrade_request() + frame(2, b"\x01\x02\x03") + frame(1, b"hi"))
    data = b""
    while data.count(b"\r\n\r\n") < 1 or not data.endswith(b"hi"):
        chunk = s.recv(4096)
        assert chunk
        data += chunk
    assert data.split(b"\r\n\r\n", 1)[1] == b"\x82\x03\x01\x02\x03\x81\x02hi"
    s.close()


def test_message_too_big_across_fragments_gets_1009():
    """The limit counts the whole message: the first fragment is echoed, the
    one that passes the limit closes the connection with 1009."""
    for kind in ("c", "python"):
        server = start_echo(kind, "--max-message-size", "1000")
        try:
            s = open_ws(server)
            s.sendall(frame(2, b"y" * 600, fin=False) + frame(0, b"y" * 600))
            data = read_until_closed(s)
            assert data.startswith(b"\x02\x7e\x02\x58")  # the 600-byte fragment, echoed
            assert close_code(data) == 1009
        finally:
            server.stop()

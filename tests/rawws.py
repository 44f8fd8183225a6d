"""A raw-socket WebSocket client and small helpers shared by the server tests:
frames go out exactly as written and come back unparsed by any library."""

from __future__ import annotations

import base64
import os
import socket
import struct
import time
from typing import Any, Callable

from pylws_ffi import ffi

MIB = 1 << 20
LOCAL = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOCAL, 0))
        return s.getsockname()[1]


def addr(p: Any) -> int:
    return int(ffi.cast("uintptr_t", p))


def wait_for(cond: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def mask_payload(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    if not n:
        return b""
    keys = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(keys, "little")).to_bytes(
        n, "little"
    )


def frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0, mask: bool = True) -> bytes:
    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + mask_payload(payload, key)


def text(payload: str | bytes) -> bytes:
    return frame(0x1, payload.encode() if isinstance(payload, str) else payload)


def parse_one(buf: bytearray) -> tuple[tuple[int, bytes], int] | None:
    """The first unmasked server frame in buf: ((first byte, payload), bytes used)."""
    if len(buf) < 2:
        return None
    first, n = buf[0], buf[1] & 0x7F
    assert not buf[1] & 0x80, "the server masked a frame"
    hdr = 2
    if n == 126:
        if len(buf) < 4:
            return None
        n, hdr = struct.unpack_from("!H", buf, 2)[0], 4
    elif n == 127:
        if len(buf) < 10:
            return None
        n, hdr = struct.unpack_from("!Q", buf, 2)[0], 10
    if len(buf) < hdr + n:
        return None
    return (first, bytes(buf[hdr : hdr + n])), hdr + n


def close_code(payload: bytes) -> int:
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005


class RawWs:
    """A WebSocket client over a plain socket: frames exactly as we write them."""

    def __init__(self, sock: socket.socket, leftover: bytes = b"") -> None:
        self.sock = sock
        self.buf = bytearray(leftover)
        self.eof = False

    @classmethod
    def connect(
        cls,
        port: int,
        *,
        host: str = LOCAL,
        path: str = "/",
        protocol: str | None = None,
        timeout: float = 10,
    ) -> RawWs:
        sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        extra = f"Sec-WebSocket-Protocol: {protocol}\r\n" if protocol else ""
        sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\n{extra}\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, f"closed during the handshake: {head!r}"
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(sock, rest)

    def send(self, opcode: int, payload: bytes, **kw: Any) -> None:
        self.sock.sendall(frame(opcode, payload, **kw))

    def read_some(self, n: int = MIB) -> int:
        try:
            chunk = self.sock.recv(n)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return 0
        self.buf += chunk
        return len(chunk)

    def pop_frame(self) -> tuple[int, bytes] | None:
        got = parse_one(self.buf)
        if got is None:
            return None
        del self.buf[: got[1]]
        return got[0]

    def send_text(self, payload: str | bytes) -> None:
        self.sock.sendall(text(payload))

    def frame_within(self, timeout: float) -> tuple[int, bytes] | None:
        """The next frame, or None when none came within timeout (or EOF)."""
        deadline = time.monotonic() + timeout
        while True:
            got = parse_one(self.buf)
            if got is not None:
                del self.buf[: got[1]]
                return got[0]
            left = deadline - time.monotonic()
            if self.eof or left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(MIB)
            except socket.timeout:
                return None
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            finally:
                self.sock.settimeout(10)
            if not chunk:
                self.eof = True
            self.buf += chunk

    def next_frame(self, timeout: float = 10) -> tuple[int, bytes]:
        f = self.frame_within(timeout)
        assert f is not None, "EOF" if self.eof else f"no frame within {timeout} s"
        return f

    def next_text(self, timeout: float = 10) -> str:
        first, payload = self.next_frame(timeout)
        assert first == 0x81, (hex(first), payload[:100])
        return payload.decode()

    def texts(self, n: int, timeout: float = 10) -> list[str]:
        return [self.next_text(timeout) for _ in range(n)]

    def nothing_within(self, timeout: float) -> bool:
        return self.frame_within(timeout) is None and not self.eof

    def frames_until_eof(self, limit: float = 10.0) -> list[tuple[int, bytes]]:
        frames = []
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            f = self.frame_within(deadline - time.monotonic())
            if f is None:
                if self.eof:
                    return frames
                continue
            frames.append(f)
        raise AssertionError(f"no EOF after {frames!r}")

    def close(self) -> None:
        self.sock.close()


def read_to_eof(sock: socket.socket, limit: float = 10.0) -> bytes:
    data = b""
    deadline = time.monotonic() + limit
    sock.settimeout(limit)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(MIB)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"no EOF; got {data[:200]!r}")

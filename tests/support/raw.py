"""Raw-socket WebSocket clients: frames go out exactly as written and come
back unparsed by any library.  Blocking sockets with timeouts, loopback only.

One frame codec (``frame``, ``text``, ``mask_payload``, ``parse_one``,
``close_code``) and two clients over it, for two kinds of tests:

* :class:`RawWs` (the server tests: tests/services/, test_classic_programs,
  the hostile-client tests): connect with a plain handshake, then frames one
  by one (``send``, ``next_frame``, ``next_text``, ``frames_until_eof``);
* :class:`RawWS` (the extension tests: deflate, extensions): a handshake with
  extension offers and the answer's headers, frames as (fin, rsv, opcode,
  payload), whole messages, close codes; plus DEFLATE by hand
  (:class:`Deflater`, :class:`Inflater`) for permessage-deflate.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
import time
import zlib
from typing import Any

from pylws_ffi import ffi
from support.net import LOCAL

# ============================================================ the frame codec and RawWs

MIB = 1 << 20


def addr(p: Any) -> int:
    return int(ffi.cast("uintptr_t", p))


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


# ================================================== RawWS: handshakes with extensions, messages

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TAIL = b"\x00\x00\xff\xff"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
RSV1 = 0x40


class Closed(Exception):
    """The TCP connection ended."""


def parse_response_head(head: bytes, key: str) -> tuple[int, dict[str, str]]:
    """The status and headers (lower-case names, repeats joined with ", ") of
    a handshake answer's head; a 101's Sec-WebSocket-Accept is checked."""
    status, *lines = head.decode("latin-1").split("\r\n")
    code = int(status.split()[1])
    headers: dict[str, str] = {}
    for line in lines:
        k, _, v = line.partition(":")
        k = k.strip().lower()
        headers[k] = (headers[k] + ", " if k in headers else "") + v.strip()
    if code == 101:
        expect = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        assert headers.get("sec-websocket-accept") == expect
    return code, headers


class RawWS:
    """One client connection: the handshake done in the constructor (the
    answer's status in ``status``, its headers in ``headers``, lower-case)."""

    def __init__(
        self,
        port: int,
        extensions: str | None = None,
        protocol: str | None = None,
        timeout: float = 10.0,
        path: str = "/",
    ) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.settimeout(timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if protocol:
            lines.append(f"Sec-WebSocket-Protocol: {protocol}")
        if extensions is not None:
            lines.append(f"Sec-WebSocket-Extensions: {extensions}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed("closed during the handshake")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.status, self.headers = parse_response_head(head, key)

    @property
    def extensions(self) -> str | None:
        return self.headers.get("sec-websocket-extensions")

    # ---- sending

    def send_frame(
        self, opcode: int, payload: bytes, fin: bool = True, rsv: int = 0, mask: bool = True
    ) -> None:
        self.sock.sendall(frame(opcode, payload, fin, rsv, mask))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    # ---- receiving

    def _fill(self, need: int, deadline: float) -> None:
        while len(self.buf) < need:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame in time")
            self.sock.settimeout(left)
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise Closed("the server closed the TCP connection")
            self.buf += chunk

    def recv_frame(self, timeout: float = 10.0) -> tuple[bool, int, int, bytes]:
        """(fin, rsv bits, opcode, payload) of the next frame."""
        deadline = time.monotonic() + timeout
        self._fill(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        n, pos = b1 & 0x7F, 2
        if n == 126:
            self._fill(4, deadline)
            n, pos = struct.unpack_from("!H", self.buf, 2)[0], 4
        elif n == 127:
            self._fill(10, deadline)
            n, pos = struct.unpack_from("!Q", self.buf, 2)[0], 10
        assert not b1 & 0x80, "a server frame is masked"
        self._fill(pos + n, deadline)
        payload = self.buf[pos : pos + n]
        self.buf = self.buf[pos + n :]
        return bool(b0 & 0x80), b0 & 0x70, b0 & 0x0F, payload

    def recv_message(self, timeout: float = 10.0) -> tuple[int, int, list[bytes]]:
        """The next data message: (opcode, RSV bits of its first frame, the
        payloads of its frames).  Pings and pongs are skipped; a close frame
        raises Closed with its code."""
        deadline = time.monotonic() + timeout
        parts: list[bytes] = []
        opcode = rsv = None
        while True:
            fin, bits, op, payload = self.recv_frame(max(deadline - time.monotonic(), 0.01))
            if op == OP_CLOSE:
                raise Closed(f"close frame {close_code(payload)}")
            if op in (OP_PING, OP_PONG):
                continue
            if opcode is None:
                opcode, rsv = op, bits
            parts.append(payload)
            if fin:
                return opcode, rsv or 0, parts

    def close_code(self, timeout: float = 10.0) -> int | None:
        """Read until the server's close frame: its code (1005 when it has
        none), or None when TCP ended without one."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                _, _, op, payload = self.recv_frame(max(deadline - time.monotonic(), 0.01))
            except (Closed, ConnectionResetError):
                return None
            if op == OP_CLOSE:
                return close_code(payload)

    def tcp_closed(self, timeout: float = 5.0) -> bool:
        """True when the server ends the TCP connection within ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                if not self.sock.recv(65536):
                    return True
            except ConnectionResetError:
                return True
            except (TimeoutError, socket.timeout):
                return False
        return False

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawWS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- permessage-deflate by hand


class Deflater:
    """A message compressor as RFC 7692 wants it: raw DEFLATE, each message
    sync-flushed with its 00 00 ff ff tail removed."""

    def __init__(self, wbits: int = 15, takeover: bool = True) -> None:
        self.wbits, self.takeover = wbits, takeover
        self.z = zlib.compressobj(6, zlib.DEFLATED, -wbits)

    def message(self, data: bytes) -> bytes:
        out = self.z.compress(data) + self.z.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(TAIL)
        if not self.takeover:
            self.z = zlib.compressobj(6, zlib.DEFLATED, -self.wbits)
        return out[:-4]


class Inflater:
    def __init__(self, takeover: bool = True) -> None:
        self.takeover = takeover
        self.z = zlib.decompressobj(-15)

    def message(self, data: bytes) -> bytes:
        out = self.z.decompress(data + TAIL)
        if not self.takeover:
            self.z = zlib.decompressobj(-15)
        return out


#: the name the extension tests use
mask_bytes = mask_payload

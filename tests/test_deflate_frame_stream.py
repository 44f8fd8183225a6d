"""deflate-frame (also named x-webkit-deflate-frame) and deflate-stream, the
built-in extensions besides permessage-deflate, tested as independent peers
would: raw sockets speaking the wire format by hand (zlib on our side)
against both echo servers (C under ASan/UBSan, Python), and our client
(through the binding) against those servers, an in-process server and a
hand-written peer that checks what the client sends.

* Negotiation: each name, parameters, declined offers; one compression
  extension per connection, the first acceptable offer in the client's order.
* deflate-frame: every non-empty data frame compressed on its own (RSV1, raw
  DEFLATE sync-flushed, 00 00 ff ff removed), continuations included, empty
  frames plain; context takeover, no_context_takeover and max_window_bits
  checked by inflating with exactly what was agreed; messages mixing
  compressed and plain fragments.
* deflate-frame, hostile peers: RSV bits where they do not belong (1002),
  corrupt data and invalid UTF-8 (1007), decompression bombs (1009).
* deflate-stream: one raw DEFLATE stream each way under the frames, the first
  compressed bytes in the same segment as the handshake request; sizes up to
  1 MiB, pings, the close handshake, a stream fed a few bytes at a time;
  garbage ends the connection, the server goes on.
"""

from __future__ import annotations

import base64
import contextlib
import os
import random
import select
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from functools import cache
from typing import Any, Callable, TypeVar

import pytest
from servers import Server, start_echo
from support.raw import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    RSV1,
    TAIL,
    Closed,
    Deflater,
    Inflater,
    RawWS,
    close_code,
    frame,
    mask_bytes,
    parse_response_head,
    read_to_eof,
)
from support.served import Echo, thread_server
from test_client import FakeServer, handshake_reply, parse_client_frame
from test_deflate import BLOCK, OurClient, bomb, payload_of, words_text

import pylws_ffi as lws
from pylws_ffi import ffi

MIB = 1 << 20
LIMIT = MIB  # --max-message-size of the servers the bombs go to
KINDS = ["c", "python"]
BUILTINS = ["permessage-deflate", "deflate-frame", "x-webkit-deflate-frame", "deflate-stream"]
FRAME_NAMES = ["deflate-frame", "x-webkit-deflate-frame"]
CLIENT_NAMES = ["deflate-frame", "x-webkit-deflate-frame", "deflate-stream"]
SIZES = [0, 1, 125, 126, 65535, 65536, MIB]
EMPTY_DEFLATED = b"\x00"  # an empty stored block, its 00 00 ff ff removed: inflates to nothing
WINDOW_TEXT = words_text(20000, seed=5).encode()  # doubled: matches 20000 bytes back (> 2**14)

T = TypeVar("T")


# ====================================================================== servers


@pytest.fixture(scope="module", params=KINDS)
def echo(request: pytest.FixtureRequest) -> Iterator[Server]:
    """An echo server offering the built-ins (the default maximum message size)."""
    server = start_echo(request.param)
    yield server
    server.stop()


@pytest.fixture(scope="module", params=KINDS)
def small_echo(request: pytest.FixtureRequest) -> Iterator[Server]:
    """An echo server whose messages may not exceed LIMIT bytes: a bomb of a
    few KiB passes it."""
    server = start_echo(request.param, "--max-message-size", str(LIMIT))
    yield server
    server.stop()


# ====================================================================== data and zlib


@cache
def message_of(size: int, binary: bool) -> bytes:
    """Exactly ``size`` bytes: binary half random, half text; text valid
    UTF-8 with multi-byte characters near its end."""
    if binary:
        data = payload_of(size, True)
        assert isinstance(data, bytes) and len(data) == size
        return data
    text = str(payload_of(size, False)).encode()
    return text + b"x" * (size - len(text))


def deflated(data: bytes) -> bytes:
    """One frame's payload compressed on its own, by a fresh compressor."""
    return Deflater().message(data)


def with_dictionary(data: bytes) -> bytes:
    """A frame's payload whose back references reach into a preset
    dictionary the receiver never saw: "invalid distance too far back"."""
    z = zlib.compressobj(6, zlib.DEFLATED, -15, zdict=b"hello dictionary " * 20)
    out = z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


def inflate_within(z: Any, data: bytes, window_bits: int) -> bytes:
    """Inflate ``data`` with the decompressor ``z``, refusing back references
    beyond a window of ``window_bits``.  zlib lets a reference reach into
    everything one call has output so far, whatever the window; below 15
    bits the output is taken 256 bytes at a time, so a peer whose compressor
    used a larger window than agreed makes this fail."""
    if window_bits >= 15:
        out = z.decompress(data)
        assert not z.unconsumed_tail
        return out
    pieces: list[bytes] = []
    rest = data
    while True:
        piece = z.decompress(rest, 256)
        pieces.append(piece)
        rest = z.unconsumed_tail
        if not rest and len(piece) < 256:
            return b"".join(pieces)


def while_sending(sock: socket.socket, send: Callable[[], None], receive: Callable[[], T]) -> T:
    """``receive()`` while ``send()`` runs in a thread.  The echo servers echo
    each piece as it arrives, so a large message comes back while it is sent;
    sending it all before reading can deadlock once the kernel buffers fill."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            send()
        except BaseException as e:  # re-raised in the test's thread
            failed.append(e)

    sender = threading.Thread(target=run, daemon=True)
    sender.start()
    try:
        result = receive()
    except BaseException:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked sendall
        sender.join(10)
        raise
    sender.join(30)
    assert not sender.is_alive(), "the sender is stuck"
    if failed:
        raise failed[0]
    return result


# ====================================================================== deflate-frame by hand


class FrameClient(RawWS):
    """A deflate-frame client on a raw socket (tests/support/raw.py RawWS): our
    data frames compressed by one Deflater (our context carries over), the
    server's inflated with a decompressor of ``window_bits``, kept between
    frames when ``takeover`` (else fresh for each frame)."""

    def __init__(
        self,
        port: int,
        offer: str | None = "deflate-frame",
        window_bits: int = 15,
        takeover: bool = True,
    ) -> None:
        super().__init__(port, extensions=offer, timeout=30)
        self.deflater = Deflater()
        self.window_bits, self.takeover = window_bits, takeover
        self.z = zlib.decompressobj(-window_bits)
        self.pongs: list[bytes] = []

    def __enter__(self) -> FrameClient:
        return self

    def data_frame(
        self, opcode: int, data: bytes, fin: bool = True, compress: bool = True
    ) -> bytes:
        """A data frame: compressed (RSV1; an empty one as an empty stored
        block) or plain."""
        if not compress:
            return frame(opcode, data, fin)
        return frame(opcode, self.deflater.message(data) if data else EMPTY_DEFLATED, fin, RSV1)

    def inflate(self, payload: bytes) -> bytes:
        if not self.takeover:
            self.z = zlib.decompressobj(-self.window_bits)
        return inflate_within(self.z, payload + TAIL, self.window_bits)

    def recv_echo(
        self, opcode: int, timeout: float = 30
    ) -> tuple[bytes, list[tuple[int, int, int]]]:
        """The next data message: its bytes and its frames (opcode, RSV bits,
        wire length).  Checked on the way: the opcodes; RSV1 on exactly the
        non-empty frames; pongs (kept in ``pongs``) never with RSV bits."""
        deadline = time.monotonic() + timeout
        data: list[bytes] = []
        frames: list[tuple[int, int, int]] = []
        while True:
            fin, rsv, op, payload = self.recv_frame(max(deadline - time.monotonic(), 0.01))
            if op == OP_CLOSE:
                raise Closed(f"close frame {close_code(payload)}")
            if op in (OP_PING, OP_PONG):
                assert rsv == 0, f"RSV bits {rsv:#x} on a control frame"
                if op == OP_PONG:
                    self.pongs.append(payload)
                continue
            assert op == (OP_CONT if frames else opcode), (op, frames)
            assert rsv in (0, RSV1), f"RSV bits {rsv:#x}"
            assert (rsv == RSV1) == bool(payload), (
                f"frame {len(frames)}: RSV1 {'set' if rsv else 'clear'} "
                f"on a frame of {len(payload)} bytes"
            )
            frames.append((op, rsv, len(payload)))
            data.append(self.inflate(payload) if rsv else payload)
            if fin:
                return b"".join(data), frames

    def echo(
        self, opcode: int, data: bytes, compress: bool = True
    ) -> tuple[bytes, list[tuple[int, int, int]]]:
        """Send one message as one frame; its echo (see recv_echo)."""
        wire = self.data_frame(opcode, data, compress=compress and bool(data))
        if len(wire) < 65536:
            self.send_raw(wire)
            return self.recv_echo(opcode)
        return while_sending(self.sock, lambda: self.send_raw(wire), lambda: self.recv_echo(opcode))


def wire_size(frames: list[tuple[int, int, int]]) -> int:
    return sum(n for _, _, n in frames)


def assert_frame_echo_works(port: int) -> None:
    """The server still serves a deflate-frame client."""
    with FrameClient(port) as c:
        assert c.extensions == "deflate-frame"
        for _ in range(2):
            data, frames = c.echo(OP_TEXT, BLOCK.encode())
            assert data == BLOCK.encode()
            assert frames[0][1] == RSV1


# ====================================================================== deflate-stream by hand


class StreamClient:
    """A deflate-stream client on a raw socket.  The handshake request goes
    out in one sendall with ``first`` (frames, compressed; only the first
    ``split`` compressed bytes when given, the rest kept in ``pending``) and
    ``raw`` (bytes as they are); the 101 is read plain, and from then on
    everything each way is one raw DEFLATE stream (sync-flushed by us after
    each piece we send)."""

    def __init__(
        self,
        port: int,
        first: bytes = b"",
        offer: str = "deflate-stream",
        raw: bytes = b"",
        split: int | None = None,
        timeout: float = 30,
    ) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.tx = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.rx = zlib.decompressobj(-15)
        self.plain = bytearray()  # inflated, not parsed yet
        self.pongs: list[bytes] = []
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: {offer}\r\n\r\n"
        ).encode()
        early = self.deflate(first) if first else b""
        self.pending = b""
        if split is not None:
            early, self.pending = early[:split], early[split:]
        try:
            self.sock.sendall(request + early + raw)
            got = b""
            deadline = time.monotonic() + timeout
            while b"\r\n\r\n" not in got:
                got += self._recv(deadline)
        except BaseException:
            self.sock.close()
            raise
        head, rest = got.split(b"\r\n\r\n", 1)
        self.status, self.headers = parse_response_head(head, key)
        self.feed(rest)

    @property
    def extensions(self) -> str | None:
        return self.headers.get("sec-websocket-extensions")

    def deflate(self, data: bytes) -> bytes:
        return self.tx.compress(data) + self.tx.flush(zlib.Z_SYNC_FLUSH)

    def send(self, opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> None:
        self.sock.sendall(self.deflate(frame(opcode, payload, fin, rsv)))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def feed(self, data: bytes) -> None:
        self.plain += self.rx.decompress(data)

    def _recv(self, deadline: float) -> bytes:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("nothing from the server in time")
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                continue
            try:
                chunk = self.sock.recv(MIB)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise Closed("the server closed the TCP connection")
            return chunk

    def _pop(self) -> tuple[bool, int, int, bytes] | None:
        parsed = parse_client_frame(self.plain)  # type: ignore[arg-type]
        if parsed is None:
            return None
        (first, masked, _, body), used = parsed
        del self.plain[:used]
        assert not masked, "a server frame is masked"
        return bool(first & 0x80), first & 0x70, first & 0x0F, bytes(body)

    def recv_frame(self, timeout: float = 30) -> tuple[bool, int, int, bytes]:
        """(fin, RSV bits, opcode, payload) of the next frame in the stream."""
        deadline = time.monotonic() + timeout
        while True:
            got = self._pop()
            if got is not None:
                return got
            self.feed(self._recv(deadline))

    def recv_message(self, opcode: int, timeout: float = 30) -> bytes:
        """The next data message's bytes; pongs are kept in ``pongs``, a close
        frame raises Closed; no frame may have RSV bits."""
        deadline = time.monotonic() + timeout
        parts: list[bytes] = []
        while True:
            fin, rsv, op, payload = self.recv_frame(max(deadline - time.monotonic(), 0.01))
            assert rsv == 0, f"RSV bits {rsv:#x} inside deflate-stream"
            if op == OP_CLOSE:
                raise Closed(f"close frame {close_code(payload)}")
            if op == OP_PONG:
                self.pongs.append(payload)
                continue
            assert op != OP_PING, "the echo server pinged"
            assert op == (OP_CONT if parts else opcode), (op, len(parts))
            parts.append(payload)
            if fin:
                return b"".join(parts)

    def echo(self, opcode: int, data: bytes) -> bytes:
        if len(data) < 65536:
            self.send(opcode, data)
            return self.recv_message(opcode)
        return while_sending(
            self.sock, lambda: self.send(opcode, data), lambda: self.recv_message(opcode)
        )

    def rest_until_eof(self, limit: float = 10) -> list[tuple[int, bytes]]:
        """Everything the server sends until it ends the TCP connection, as
        (opcode, payload) frames (its stream must inflate and parse whole)."""
        self.feed(read_to_eof(self.sock, limit))
        frames = []
        while (got := self._pop()) is not None:
            frames.append((got[2], got[3]))
        assert not self.plain, f"a partial frame before EOF: {bytes(self.plain[:40])!r}"
        return frames

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> StreamClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def assert_stream_echo_works(port: int) -> None:
    """The server still serves a deflate-stream client."""
    with StreamClient(port, first=frame(OP_TEXT, b"still there")) as c:
        assert c.extensions == "deflate-stream"
        assert c.recv_message(OP_TEXT) == b"still there"
        assert c.echo(OP_BINARY, BLOCK.encode() * 2) == BLOCK.encode() * 2


# ====================================================================== the array


def test_internal_extensions_array_order() -> None:
    exts = lws.libwebsocket_internal_extensions
    names = []
    for i in range(16):
        if exts[i].name == ffi.NULL:
            assert exts[i].callback == ffi.NULL
            break
        names.append(ffi.string(exts[i].name).decode())
    assert names == BUILTINS


# ====================================================================== negotiation

NEGOTIATION = [
    ("deflate-frame", "deflate-frame"),
    ("x-webkit-deflate-frame", "x-webkit-deflate-frame"),
    ("deflate-frame; no_context_takeover", "deflate-frame"),
    ("deflate-frame; max_window_bits=9", "deflate-frame"),
    ("deflate-frame; max_window_bits=15", "deflate-frame"),
    ("deflate-frame; no_context_takeover; max_window_bits=11", "deflate-frame"),
    ("x-webkit-deflate-frame; max_window_bits=10; no_context_takeover", "x-webkit-deflate-frame"),
    ("deflate-stream", "deflate-stream"),
    ("permessage-deflate, deflate-frame", "permessage-deflate"),
    ("deflate-frame, permessage-deflate", "deflate-frame"),
    ("x-webkit-deflate-frame, deflate-frame", "x-webkit-deflate-frame"),
    ("deflate-frame, x-webkit-deflate-frame", "deflate-frame"),
    ("deflate-stream, deflate-frame", "deflate-stream"),
    ("deflate-frame, deflate-stream", "deflate-frame"),
    ("deflate-stream, permessage-deflate", "deflate-stream"),
    ("permessage-deflate, deflate-stream", "permessage-deflate"),
    ("x-foo, deflate-frame", "deflate-frame"),
    ("deflate-frame; bogus, x-webkit-deflate-frame", "x-webkit-deflate-frame"),
    ("deflate-frame; max_window_bits=8, deflate-frame; max_window_bits=12", "deflate-frame"),
    ("permessage-deflate; bogus, deflate-frame", "deflate-frame"),
    ("deflate-stream; bogus, deflate-frame", "deflate-frame"),
    ("deflate-frame; max_window_bits=16, deflate-stream", "deflate-stream"),
]


@pytest.mark.parametrize("offer,answer", NEGOTIATION, ids=[o for o, _ in NEGOTIATION])
def test_negotiation(echo: Server, offer: str, answer: str) -> None:
    """The answer names the first acceptable offer only (no parameters), and
    that extension, alone, is what the connection then speaks."""
    if answer == "deflate-stream":
        with StreamClient(echo.port, first=frame(OP_TEXT, BLOCK.encode()), offer=offer) as s:
            assert (s.status, s.extensions) == (101, answer)
            assert s.recv_message(OP_TEXT) == BLOCK.encode()
            assert s.echo(OP_BINARY, b"\x00\x01" * 500) == b"\x00\x01" * 500
        return
    with FrameClient(echo.port, offer) as c:
        assert (c.status, c.extensions) == (101, answer)
        if answer == "permessage-deflate":
            d, i = Deflater(), Inflater()
            for _ in range(2):
                c.send_frame(OP_TEXT, d.message(BLOCK.encode()), rsv=RSV1)
                op, rsv, parts = c.recv_message()
                assert (op, rsv) == (OP_TEXT, RSV1)
                assert i.message(b"".join(parts)) == BLOCK.encode()
        else:
            for _ in range(2):
                data, frames = c.echo(OP_TEXT, BLOCK.encode())
                assert data == BLOCK.encode()
                assert frames[0][1] == RSV1


DECLINED = [
    "deflate-frame; max_window_bits=8",
    "deflate-frame; max_window_bits=16",
    "deflate-frame; max_window_bits=0",
    "deflate-frame; unknown_param",
    "deflate-frame; foo=1",
    "deflate-frame; no_context_takeover; bogus",
    "x-webkit-deflate-frame; max_window_bits=7",
    "x-webkit-deflate-frame; bogus",
    "deflate-stream; bogus",
    "deflate-stream; no_context_takeover",
    "deflate-stream; max_window_bits=10",
    "deflate-frame; max_window_bits=8, deflate-stream; x",
]


@pytest.mark.parametrize("offer", DECLINED)
def test_declined_offer(echo: Server, offer: str) -> None:
    """A declined offer: the connection upgrades without extensions, frames
    pass plain, and a compressed (RSV1) frame is a protocol error."""
    with RawWS(echo.port, extensions=offer) as c:
        assert c.status == 101
        assert c.extensions is None
        c.send_frame(OP_TEXT, b"plain text")
        op, rsv, parts = c.recv_message()
        assert (op, rsv, b"".join(parts)) == (OP_TEXT, 0, b"plain text")
        c.send_frame(OP_TEXT, deflated(b"hello"), rsv=RSV1)
        assert c.close_code() == 1002


# ====================================================================== deflate-frame echoes


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
@pytest.mark.parametrize("size", SIZES)
def test_frame_echo_sizes(echo: Server, size: int, binary: bool) -> None:
    opcode = OP_BINARY if binary else OP_TEXT
    data = message_of(size, binary)
    with FrameClient(echo.port) as c:
        assert c.extensions == "deflate-frame"
        for _ in range(2):  # the second time through both contexts
            got, frames = c.echo(opcode, data)
            assert got == data
            if not size:
                assert frames == [(opcode, 0, 0)]  # empty: sent plain
            if size >= 65536 and not binary:
                assert wire_size(frames) < size // 2, frames
        got, _ = c.echo(opcode, data, compress=False)  # a plain frame: compressed back
        assert got == data


@pytest.mark.parametrize("name", FRAME_NAMES)
def test_frame_server_context_takeover(echo: Server, name: str) -> None:
    """By default the server keeps its compressor's history: the same message
    costs far less the second time."""
    message = BLOCK.encode()
    with FrameClient(echo.port, name) as c:
        assert c.extensions == name
        sizes = []
        for _ in range(3):
            got, frames = c.echo(OP_TEXT, message)
            assert got == message
            sizes.append(wire_size(frames))
        assert sizes[0] > len(deflated(message)) // 2, sizes
        assert sizes[1] < sizes[0] // 5 and sizes[2] < sizes[0] // 5, sizes


@pytest.mark.parametrize("name", FRAME_NAMES)
def test_frame_server_no_context_takeover(echo: Server, name: str) -> None:
    """With no_context_takeover each of the server's frames inflates alone
    (a fresh decompressor each time), and repeats cost as much as the first."""
    message = BLOCK.encode()
    with FrameClient(echo.port, f"{name}; no_context_takeover", takeover=False) as c:
        assert c.extensions == name
        sizes = []
        for _ in range(3):
            got, frames = c.echo(OP_TEXT, message)
            assert got == message
            sizes.append(wire_size(frames))
        assert min(sizes) > sizes[0] * 0.7, sizes
        # within a fragmented message too: no history from frame to frame
        pieces = [message, message, message]
        c.send_raw(
            b"".join(
                c.data_frame(OP_TEXT if i == 0 else OP_CONT, p, fin=i == 2)
                for i, p in enumerate(pieces)
            )
        )
        got, frames = c.recv_echo(OP_TEXT)
        assert got == b"".join(pieces)
        assert len([f for f in frames if f[2]]) >= 3, frames


@pytest.mark.parametrize("takeover", [True, False], ids=["takeover", "no-takeover"])
@pytest.mark.parametrize("bits", range(9, 16))
def test_frame_max_window_bits(echo: Server, bits: int, takeover: bool) -> None:
    """The server's back references stay within 2**max_window_bits: its
    frames inflate with a decompressor of that window (messages repeat
    themselves 3000 and 20000 bytes back)."""
    offer = f"deflate-frame; max_window_bits={bits}"
    if not takeover:
        offer += "; no_context_takeover"
    with FrameClient(echo.port, offer, window_bits=bits, takeover=takeover) as c:
        assert c.extensions == "deflate-frame"
        block = BLOCK.encode()
        for message in [block, block, block * 3, WINDOW_TEXT * 2, os.urandom(3000) * 3]:
            got, _ = c.echo(OP_BINARY, message)
            assert got == message


def mixed_pieces(binary: bool) -> list[tuple[bytes, bool]]:
    """A message's fragments as (payload, compressed?): empty ones of both
    kinds, and for text characters split between a plain and a compressed
    frame each way round."""
    block = BLOCK.encode()
    if binary:
        return [
            (os.urandom(100) + block[:900], True),
            (b"", False),
            (os.urandom(300), False),
            (b"", True),
            (block, True),
            (block, False),
            (os.urandom(70000), True),
            (b"\x00end", False),
        ]
    euro = "€".encode()
    return [
        (b"abc " + block[:1000], True),
        (b"", False),
        ("é and ".encode(), False),
        (b"", True),  # an empty compressed frame
        (block, True),
        (b"x" + euro[:1], False),  # a plain frame ending inside a character ...
        (euro[1:] + block[:500], True),  # ... that a compressed frame finishes
        (b"y" + euro[:2], True),  # a compressed frame ending inside one ...
        (euro[2:] + b" tail", False),  # ... that a plain frame finishes
    ]


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_frame_fragments_mixed(echo: Server, binary: bool) -> None:
    """Messages whose fragments are compressed or not (RSV1 on continuations
    is legal with deflate-frame), a ping between them; the server's echo
    has RSV1 on every non-empty frame, continuations included."""
    opcode = OP_BINARY if binary else OP_TEXT
    pieces = mixed_pieces(binary)
    whole = b"".join(p for p, _ in pieces)
    with FrameClient(echo.port) as c:
        for n in range(3):  # our context and the server's carry over
            wire = [
                c.data_frame(OP_CONT if i else opcode, p, fin=i == len(pieces) - 1, compress=z)
                for i, (p, z) in enumerate(pieces)
            ]
            wire.insert(2, frame(OP_PING, b"between %d" % n))
            c.send_raw(b"".join(wire))
            got, frames = c.recv_echo(opcode)
            assert got == whole
            compressed = [f for f in frames if f[1] == RSV1]
            assert len(compressed) >= 2, frames
            assert any(op == OP_CONT for op, _, _ in compressed), frames
            assert c.pongs[-1:] == [b"between %d" % n]


@pytest.mark.parametrize("name", FRAME_NAMES)
def test_frame_many_messages(echo: Server, name: str) -> None:
    """A long run of messages of assorted sizes, compressed or not, on one
    connection: both contexts carry over throughout."""
    rnd = random.Random(11)
    messages = []
    for i in range(300):
        n = rnd.choice([0, 1, 40, 700, 3000, 9000])
        body = words_text(n, seed=i % 25).encode() if i % 3 else BLOCK.encode()[:n]
        messages.append((OP_TEXT if i % 2 else OP_BINARY, body, rnd.random() < 0.8))
    with FrameClient(echo.port, name) as c:
        assert c.extensions == name
        wire = b"".join(c.data_frame(op, m, compress=z and bool(m)) for op, m, z in messages)
        got = while_sending(
            c.sock, lambda: c.send_raw(wire), lambda: [c.recv_echo(op)[0] for op, _, _ in messages]
        )
        assert got == [m for _, m, _ in messages]


# ====================================================================== deflate-frame, hostile


def corrupt_after_good_messages() -> list[bytes]:
    d = Deflater()
    return [
        frame(OP_TEXT, d.message(b"one " * 50), rsv=RSV1),
        frame(OP_TEXT, d.message(b"two " * 50), rsv=RSV1),
        frame(OP_BINARY, b"\xff", rsv=RSV1),
    ]


FRAME_HOSTILE: dict[str, tuple[Callable[[], list[bytes]], int]] = {
    "RSV1 on a ping": (lambda: [frame(OP_PING, b"x", rsv=RSV1)], 1002),
    "RSV1 on an empty ping": (lambda: [frame(OP_PING, b"", rsv=RSV1)], 1002),
    "RSV1 on a pong": (lambda: [frame(OP_PONG, b"", rsv=RSV1)], 1002),
    "RSV1 on a close": (lambda: [frame(OP_CLOSE, b"\x03\xe8", rsv=RSV1)], 1002),
    "RSV1 on a ping inside a message": (
        lambda: [
            frame(OP_TEXT, deflated(b"part"), fin=False, rsv=RSV1),
            frame(OP_PING, b"x", rsv=RSV1),
        ],
        1002,
    ),
    "RSV2": (lambda: [frame(OP_TEXT, deflated(b"x"), rsv=RSV1 | 0x20)], 1002),
    "RSV3": (lambda: [frame(OP_BINARY, b"x", rsv=0x10)], 1002),
    "RSV2 on a continuation": (
        lambda: [
            frame(OP_TEXT, deflated(b"x"), fin=False, rsv=RSV1),
            frame(OP_CONT, b"y", rsv=0x20),
        ],
        1002,
    ),
    "corrupt deflate data": (lambda: [frame(OP_BINARY, b"\xff\xff\xff\xff", rsv=RSV1)], 1007),
    "corrupt data in a compressed continuation": (
        lambda: [
            frame(OP_TEXT, deflated(b"good " * 100), fin=False, rsv=RSV1),
            frame(OP_CONT, b"\x00\x05\x00\x00\x00", rsv=RSV1),  # LEN and NLEN disagree
        ],
        1007,
    ),
    "corrupt data after good messages": (corrupt_after_good_messages, 1007),
    "a back reference before the stream began": (
        lambda: [frame(OP_TEXT, with_dictionary(b"hello dictionary " * 5), rsv=RSV1)],
        1007,
    ),
    "invalid UTF-8 in compressed text": (
        lambda: [frame(OP_TEXT, deflated(b"ok \xff\xfe bad"), rsv=RSV1)],
        1007,
    ),
    "compressed text ending inside a character": (
        lambda: [frame(OP_TEXT, deflated("fin €".encode()[:-1]), rsv=RSV1)],
        1007,
    ),
    "a compressed continuation making invalid UTF-8": (
        lambda: [
            frame(OP_TEXT, b"ok \xc3", fin=False),
            frame(OP_CONT, deflated(b"\x28 rest"), rsv=RSV1),
        ],
        1007,
    ),
    "a plain continuation making invalid UTF-8": (
        lambda: [
            frame(OP_TEXT, deflated(b"ok \xc3"), fin=False, rsv=RSV1),
            frame(OP_CONT, b"\x28 rest"),
        ],
        1007,
    ),
}


@pytest.mark.parametrize("name", list(FRAME_HOSTILE))
def test_frame_hostile(echo: Server, name: str) -> None:
    make, code = FRAME_HOSTILE[name]
    with FrameClient(echo.port) as c:
        assert c.extensions == "deflate-frame"
        c.send_raw(b"".join(make()))
        assert c.close_code() == code
        assert c.tcp_closed(5)
    assert_frame_echo_works(echo.port)


@pytest.mark.parametrize("fragmented", [False, True], ids=["one-frame", "fragmented"])
def test_frame_bomb_is_1009(small_echo: Server, fragmented: bool) -> None:
    """8 MiB of zeros in about 8 KiB, to a server whose limit is 1 MiB: one
    frame, or eight compressed frames of 1 MiB each (the limit is the
    message's, across its frames)."""
    if fragmented:
        d = Deflater()
        wire = b"".join(
            frame(OP_BINARY if i == 0 else OP_CONT, d.message(b"\0" * MIB), fin=i == 7, rsv=RSV1)
            for i in range(8)
        )
    else:
        wire = frame(OP_BINARY, bomb(8 * LIMIT), rsv=RSV1)
    assert len(wire) < 16 * 1024
    start = time.monotonic()
    with FrameClient(small_echo.port) as c:
        assert c.extensions == "deflate-frame"
        c.send_raw(wire)
        assert c.close_code(timeout=20) == 1009
        assert c.tcp_closed(5)
    assert time.monotonic() - start < 20
    assert_frame_echo_works(small_echo.port)


def test_frame_high_ratio_below_the_limit_passes(small_echo: Server) -> None:
    """The control for the bombs: a message inflating ~1000-fold but to less
    than the limit is echoed whole."""
    half = LIMIT // 2 - 4096
    with FrameClient(small_echo.port) as c:
        c.send_raw(
            c.data_frame(OP_BINARY, b"\0" * half, fin=False) + c.data_frame(OP_CONT, b"\0" * half)
        )
        got, frames = c.recv_echo(OP_BINARY)
        assert got == b"\0" * (2 * half)
        assert wire_size(frames) < 64 * 1024, frames


# ====================================================================== deflate-stream echoes


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
@pytest.mark.parametrize("size", SIZES)
def test_stream_echo_sizes(echo: Server, size: int, binary: bool) -> None:
    """Up to 64 KiB the message goes out compressed in the same sendall as the
    handshake request; then again, and a short one after it."""
    opcode = OP_BINARY if binary else OP_TEXT
    data = message_of(size, binary)
    first = frame(opcode, data) if size <= 65536 else b""
    with StreamClient(echo.port, first=first) as c:
        assert (c.status, c.extensions) == (101, "deflate-stream")
        if first:
            assert c.recv_message(opcode) == data
        assert c.echo(opcode, data) == data
        assert c.echo(OP_TEXT, b"after") == b"after"


def test_stream_frames_in_the_handshake_segment(echo: Server) -> None:
    first = b"".join(
        [
            frame(OP_TEXT, b"hello"),
            frame(OP_PING, b"p1"),
            frame(OP_BINARY, BLOCK.encode() * 3),
            frame(OP_TEXT, b"frag", fin=False),
            frame(OP_PING, b"p2"),
            frame(OP_CONT, " ment é".encode()),
            frame(OP_TEXT, b""),
        ]
    )
    with StreamClient(echo.port, first=first) as c:
        assert c.extensions == "deflate-stream"
        assert c.recv_message(OP_TEXT) == b"hello"
        assert c.recv_message(OP_BINARY) == BLOCK.encode() * 3
        assert c.recv_message(OP_TEXT) == "frag ment é".encode()
        assert c.recv_message(OP_TEXT) == b""
        assert c.pongs == [b"p1", b"p2"]


@pytest.mark.parametrize("split", [1, 7, 200])
def test_stream_partial_data_in_the_handshake_segment(echo: Server, split: int) -> None:
    """Only the start of the compressed stream comes with the request (cut
    inside the DEFLATE data); the rest follows later."""
    first = frame(OP_TEXT, BLOCK.encode()) + frame(OP_BINARY, b"\x01\x02" * 300)
    with StreamClient(echo.port, first=first, split=split) as c:
        assert c.extensions == "deflate-stream"
        assert c.pending
        time.sleep(0.1)
        c.send_raw(c.pending)
        assert c.recv_message(OP_TEXT) == BLOCK.encode()
        assert c.recv_message(OP_BINARY) == b"\x01\x02" * 300


def test_stream_ping_pong(echo: Server) -> None:
    with StreamClient(echo.port) as c:
        for payload in (b"", b"ping", bytes(range(125))):
            c.send(OP_PING, payload)
            assert c.recv_frame() == (True, 0, OP_PONG, payload)
        c.send(OP_PONG, b"unsolicited")  # ignored
        c.send(OP_TEXT, b"one ", fin=False)
        c.send(OP_PING, b"mid")
        c.send(OP_CONT, b"two")
        assert c.recv_message(OP_TEXT) == b"one two"
        assert c.pongs == [b"mid"]


def test_stream_close_handshake(echo: Server) -> None:
    with StreamClient(echo.port) as c:
        assert c.echo(OP_TEXT, b"before") == b"before"
        c.send(OP_CLOSE, b"\x03\xe8bye")
        fin, rsv, op, payload = c.recv_frame()
        assert (fin, rsv, op, close_code(payload)) == (True, 0, OP_CLOSE, 1000)
        assert c.rest_until_eof(5) == []


def test_stream_bytes_a_few_at_a_time(echo: Server) -> None:
    """The compressed stream dribbled in 5-byte writes, with sync flushes
    inside a frame's header and payload too."""
    with StreamClient(echo.port) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        messages = [b"a", BLOCK.encode(), "é€😀".encode() * 10]
        wire = b"".join(c.deflate(frame(OP_TEXT, m)) for m in messages)
        big = frame(OP_BINARY, BLOCK.encode() * 2)
        wire += c.deflate(big[:3]) + c.deflate(big[3:1000]) + c.deflate(big[1000:])
        for i in range(0, len(wire), 5):
            c.send_raw(wire[i : i + 5])
            if i % 500 == 0:
                time.sleep(0.002)
        for m in messages:
            assert c.recv_message(OP_TEXT) == m
        assert c.recv_message(OP_BINARY) == BLOCK.encode() * 2


def test_stream_many_messages(echo: Server) -> None:
    rnd = random.Random(5)
    messages = []
    for i in range(300):
        n = rnd.choice([0, 1, 50, 700, 5000])
        messages.append((OP_TEXT if i % 2 else OP_BINARY, words_text(n, seed=i % 20).encode()))
    with StreamClient(echo.port) as c:
        wire = b"".join(c.deflate(frame(op, m)) for op, m in messages)
        got = while_sending(
            c.sock, lambda: c.send_raw(wire), lambda: [c.recv_message(op) for op, _ in messages]
        )
        assert got == [m for _, m in messages]


# ====================================================================== deflate-stream, hostile

STREAM_ERRORS = {
    "RSV1": (frame(OP_TEXT, b"x", rsv=RSV1), 1002),
    "RSV2": (frame(OP_BINARY, b"x", rsv=0x20), 1002),
    "RSV1 on a ping": (frame(OP_PING, b"x", rsv=RSV1), 1002),
    "invalid UTF-8": (frame(OP_TEXT, b"bad \xff"), 1007),
    "an unmasked frame": (frame(OP_TEXT, b"x", mask=False), 1002),
}


@pytest.mark.parametrize("name", list(STREAM_ERRORS))
def test_stream_protocol_errors(echo: Server, name: str) -> None:
    """Errors in the frames inside an intact stream: the close frame comes
    back readable, compressed in the server's stream."""
    bad, code = STREAM_ERRORS[name]
    with StreamClient(echo.port) as c:
        assert c.echo(OP_TEXT, b"fine") == b"fine"
        c.send_raw(c.deflate(bad))
        frames = c.rest_until_eof(10)
        assert [(op, close_code(p)) for op, p in frames] == [(OP_CLOSE, code)]
    assert_stream_echo_works(echo.port)


def test_stream_bomb_is_1009(small_echo: Server) -> None:
    """An 8 MiB frame in about 8 KiB of stream, to a server whose limit is
    1 MiB: a close with 1009 inside the stream, and the server goes on."""
    with StreamClient(small_echo.port) as c:
        wire = c.deflate(frame(OP_BINARY, b"\0" * (8 * LIMIT)))
        assert len(wire) < 64 * 1024
        c.send_raw(wire)
        frames = c.rest_until_eof(20)
        assert frames and frames[-1][0] == OP_CLOSE and close_code(frames[-1][1]) == 1009
        assert all(op in (OP_BINARY, OP_CONT) for op, _ in frames[:-1]), frames[:3]
    assert_stream_echo_works(small_echo.port)


PLAIN_KEY = b"\x01\x02\x03\x04"
GARBAGE = {
    "an invalid block type": b"\xff" * 64,
    "a stored block whose lengths disagree": b"\x00\x05\x00\x00\x00" + b"x" * 16,
    # a frame not compressed at all: read as a stored block, LEN and NLEN disagree
    "an uncompressed frame": bytes([0x81, 0x85]) + PLAIN_KEY + mask_bytes(b"hello", PLAIN_KEY),
}


@pytest.mark.parametrize("when", ["with the request", "after the handshake", "after good frames"])
@pytest.mark.parametrize("garbage", list(GARBAGE))
def test_stream_garbage_ends_the_connection(echo: Server, garbage: str, when: str) -> None:
    """Bytes that are no DEFLATE stream: the server ends the connection
    (a close frame with 1002 or 1007 in its stream first, at most), and
    serves other clients."""
    raw = GARBAGE[garbage]
    try:
        c = StreamClient(echo.port, raw=raw if when == "with the request" else b"")
    except Closed:
        assert when == "with the request"  # closed before answering: acceptable then
    else:
        with c:
            assert c.status == 101
            if when != "with the request":
                assert c.extensions == "deflate-stream"
                if when == "after good frames":
                    assert c.echo(OP_TEXT, BLOCK.encode()) == BLOCK.encode()
                    assert c.echo(OP_BINARY, b"\x00" * 5000) == b"\x00" * 5000
                c.send_raw(raw)
            frames = c.rest_until_eof(8)  # EOF within a few seconds
            assert len(frames) <= 1, frames
            for op, payload in frames:
                assert op == OP_CLOSE and close_code(payload) in (1002, 1007), (op, payload)
    assert_stream_echo_works(echo.port)


# ====================================================================== our client


class OneExtensionClient(OurClient):
    """OurClient (tests/test_deflate.py: libwebsocket_client_connect with
    libwebsocket_internal_extensions) whose protocols[0] answers
    CLIENT_CONFIRM_EXTENSION_SUPPORTED nonzero for every built-in but
    ``name``: only that one is offered.  ``asked`` lists the names asked."""

    def __init__(self, port: int, name: str, ssl_connection: int = 0) -> None:
        self.name = name
        self.asked: list[str] = []
        try:
            super().__init__(port, lws.libwebsocket_internal_extensions, ssl_connection)
        except BaseException:
            if hasattr(self, "ctx"):
                self.destroy()
            raise

    def callback(self, context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int):
        if reason == lws.LWS_CALLBACK_CLIENT_CONFIRM_EXTENSION_SUPPORTED:
            name = ffi.string(ffi.cast("char *", in_)).decode()
            self.asked.append(name)
            return 0 if name == self.name else 1
        return super().callback(context, wsi, reason, user, in_, len_)


@contextlib.contextmanager
def one_extension_client(
    port: int, name: str, ssl_connection: int = 0
) -> Iterator[OneExtensionClient]:
    client = OneExtensionClient(port, name, ssl_connection)
    try:
        yield client
    finally:
        client.destroy()


def client_messages() -> list[str | bytes]:
    messages: list[str | bytes] = [payload_of(n, n % 2 == 1) for n in (0, 1, 125, 65536)]
    messages += [BLOCK] * 5 + ["", b"", "é€😀" * 100, b"\0" * 70000]
    messages += [payload_of(MIB, False), payload_of(MIB, True)]
    return messages


def as_wire(message: str | bytes) -> tuple[int, bytes]:
    return (OP_TEXT, message.encode()) if isinstance(message, str) else (OP_BINARY, message)


@pytest.mark.parametrize("name", CLIENT_NAMES)
def test_our_client_to_our_servers(echo: Server, name: str) -> None:
    messages = client_messages()
    with one_extension_client(echo.port, name) as c:
        assert c.echo(messages) == messages
        assert c.echo(messages[4:10]) == messages[4:10]
    assert c.asked[: len(BUILTINS)] == BUILTINS  # offered in the array's order


@pytest.mark.parametrize("name", CLIENT_NAMES)
def test_our_client_to_an_in_process_server(name: str) -> None:
    """The server sees an offer of that extension alone and accepts it."""
    seen: dict[str, list[str]] = {"offer": [], "confirm": []}

    def first(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
            tok = ffi.cast("struct lws_tokens *", user)[lws.WSI_TOKEN_EXTENSIONS]
            if tok.token != ffi.NULL:
                seen["offer"].append(ffi.buffer(tok.token, tok.token_len)[:].decode())
        elif reason == lws.LWS_CALLBACK_CONFIRM_EXTENSION_OKAY:
            seen["confirm"].append(ffi.string(ffi.cast("char *", in_)).decode())
        return 0

    messages: list[str | bytes] = [BLOCK, BLOCK, b"\0" * 70000, "", b"", payload_of(MIB, False)]
    with (
        thread_server([("echo", Echo(first), 0)], lws.libwebsocket_internal_extensions) as srv,
        one_extension_client(srv.port, name) as c,
    ):
        assert c.echo(messages) == messages
    assert len(seen["offer"]) == 1 and "," not in seen["offer"][0], seen
    assert seen["offer"][0].split(";")[0].strip() == name, seen
    assert seen["confirm"] == [name]


@pytest.mark.parametrize("name", CLIENT_NAMES)
def test_our_client_to_our_c_server_over_tls(tls_certs: Any, name: str) -> None:
    """Below TLS: deflate-stream inflates what OpenSSL decrypted (records
    held inside OpenSSL included); deflate-frame the same as over TCP."""
    server = start_echo(
        "c", "--cert", str(tls_certs.self_signed.cert), "--key", str(tls_certs.self_signed.key)
    )
    try:
        messages = client_messages()
        # 2: the self-signed certificate is accepted (its name is still checked)
        with one_extension_client(server.port, name, ssl_connection=2) as c:
            assert c.echo(messages) == messages
            assert c.echo(messages[4:10]) == messages[4:10]
    finally:
        server.stop()


def mixed_echo(deflater: Deflater, opcode: int, message: bytes) -> bytes:
    """A message as a peer's echo: three fragments, the first and last
    compressed (RSV1 on the continuation), the middle one plain; text may be
    cut inside a character."""
    if not message:
        return frame(opcode, b"", mask=False)
    a, b = len(message) // 3, 2 * len(message) // 3
    out = []
    for i, piece in enumerate((message[:a], message[a:b], message[b:])):
        squeeze = i != 1 and bool(piece)
        out.append(
            frame(
                OP_CONT if i else opcode,
                deflater.message(piece) if squeeze else piece,
                fin=i == 2,
                rsv=RSV1 if squeeze else 0,
                mask=False,
            )
        )
    return b"".join(out)


def hand_peer(
    conn: socket.socket,
    data: bytes,
    inflow: Callable[[bytes], bytes],
    send: Callable[..., None],
    payload: Callable[[int, bytes], bytes],
    echo: Callable[[int, bytes], list[bytes]],
) -> dict[str, Any]:
    """The server side of a compressed connection by hand (FakeServer's
    ``after``): a ping first, then every message echoed.  ``inflow`` turns
    received bytes into frame bytes, ``send(*frames)`` sends frames,
    ``payload(rsv, body)`` is a data frame's payload, ``echo(opcode,
    message)`` the frames echoing a message.  Records every frame (opcode,
    RSV bits, masked, wire length), the messages (opcode, bytes, wire bytes),
    the pongs, and the bytes received on the wire and as frames."""
    seen: dict[str, Any] = {
        "frames": [], "messages": [], "pongs": [], "wire": len(data), "plain": 0
    }  # fmt: skip
    send(frame(OP_PING, b"peer ping", mask=False))
    buf = inflow(data)
    parts: list[bytes] = []
    opcode, wire = OP_CONT, 0
    while True:
        parsed = parse_client_frame(buf)
        if parsed is None:
            try:
                chunk = conn.recv(MIB)
            except OSError:
                break
            if not chunk:
                break
            seen["wire"] += len(chunk)
            buf += inflow(chunk)
            continue
        (first, masked, _, body), used = parsed
        buf = buf[used:]
        seen["plain"] += used
        fin, rsv, op = bool(first & 0x80), first & 0x70, first & 0x0F
        seen["frames"].append((op, rsv, masked, len(body)))
        if op == OP_CLOSE:
            with contextlib.suppress(OSError):
                send(frame(OP_CLOSE, body[:2], mask=False))
            break
        if op == OP_PING:
            send(frame(OP_PONG, body, mask=False))
        elif op == OP_PONG:
            seen["pongs"].append(body)
        else:
            if op != OP_CONT:
                opcode, parts, wire = op, [], 0
            parts.append(payload(rsv, body))
            wire += len(body)
            if fin:
                message = b"".join(parts)
                seen["messages"].append((opcode, message, wire))
                send(*echo(opcode, message))
    return seen


def frame_peer(conn: socket.socket, data: bytes) -> dict[str, Any]:
    """deflate-frame by hand: RSV1 payloads inflated, every message echoed by
    mixed_echo (compressed and plain fragments)."""
    inflater, deflater = Inflater(), Deflater()
    return hand_peer(
        conn,
        data,
        inflow=lambda b: b,
        send=lambda *frames: conn.sendall(b"".join(frames)),
        payload=lambda rsv, body: inflater.message(body) if rsv & RSV1 else body,
        echo=lambda opcode, message: [mixed_echo(deflater, opcode, message)],
    )


def stream_peer(conn: socket.socket, data: bytes) -> dict[str, Any]:
    """deflate-stream by hand: everything each way one compressed stream,
    every message echoed as two fragments."""
    rx, tx = zlib.decompressobj(-15), zlib.compressobj(6, zlib.DEFLATED, -15)

    def send(*frames: bytes) -> None:
        conn.sendall(b"".join(tx.compress(f) + tx.flush(zlib.Z_SYNC_FLUSH) for f in frames))

    def echo(opcode: int, message: bytes) -> list[bytes]:
        h = len(message) // 2
        return [
            frame(opcode, message[:h], fin=False, mask=False),
            frame(OP_CONT, message[h:], mask=False),
        ]

    return hand_peer(
        conn, data, inflow=rx.decompress, send=send, payload=lambda rsv, body: body, echo=echo
    )


@pytest.mark.parametrize("name", CLIENT_NAMES)
def test_our_client_to_an_independent_peer(name: str) -> None:
    """What our client sends, seen by a hand-written server: the offer, RSV1
    on exactly its non-empty data frames (deflate-frame) or no RSV bits in
    a compressed stream (deflate-stream), masking, its pong; and that it
    reads the peer's compressed, mixed and split echoes."""
    peer = FakeServer(
        lambda key: handshake_reply(key, f"Sec-WebSocket-Extensions: {name}"),
        after=stream_peer if name == "deflate-stream" else frame_peer,
    )
    messages = client_messages()
    try:
        with one_extension_client(peer.port, name) as c:
            assert c.echo(messages) == messages
    finally:
        peer.close()
    assert peer.error is None, repr(peer.error)
    offer = peer.headers()["sec-websocket-extensions"]
    assert "," not in offer and offer.split(";")[0].strip() == name, offer
    if name == "deflate-stream":
        assert offer == name  # deflate-stream has no parameters
    seen = peer.result
    assert seen is not None
    assert [m[:2] for m in seen["messages"]] == [as_wire(m) for m in messages]
    assert seen["pongs"] == [b"peer ping"]
    assert all(masked for _, _, masked, _ in seen["frames"]), seen["frames"]
    if name == "deflate-stream":
        assert all(rsv == 0 for _, rsv, _, _ in seen["frames"]), seen["frames"]
        assert seen["wire"] < 0.7 * seen["plain"], (seen["wire"], seen["plain"])
        return
    for op, rsv, _, n in seen["frames"]:
        if op & 0x8:
            assert rsv == 0, (op, rsv)
        else:
            assert (rsv == RSV1) == (n > 0), (op, rsv, n)
    big_text = as_wire(messages[-2])
    assert len(big_text[1]) > MIB - 8 and big_text[0] == OP_TEXT
    wire = next(m[2] for m in seen["messages"] if m[:2] == big_text)
    assert wire < len(big_text[1]) // 2, wire  # it really compressed

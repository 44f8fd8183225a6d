"""examples/echo_server.c --whole under ASan/UBSan, and echo_server.py --whole,
over real sockets: the
library gathers each message (lws_set_whole_messages, native/src/message.c)
and the example echoes it in one write, so every echo is one frame however
the client cut the message (fragments, pings between them, TCP writes split
at random bytes, permessage-deflate), and a message past the size limit
closes with 1009.  The server's stop() fails the test on any sanitizer
report (tests/servers.py)."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator

import pytest
from servers import Server, start_echo
from support.raw import (
    OP_BINARY,
    OP_CONT,
    OP_PING,
    OP_TEXT,
    RSV1,
    Closed,
    Deflater,
    Inflater,
    RawWS,
)
from support.raw import frame as make_frame

MIB = 1 << 20


@pytest.fixture(scope="module", params=["c", "python"])
def whole(request: pytest.FixtureRequest) -> Iterator[Server]:
    server = start_echo(request.param, "--whole", "--max-message-size", str(2 * MIB))
    yield server
    server.stop()


def fragments(rng: random.Random, op: int, payload: bytes, rsv: int = 0) -> list[bytes]:
    """payload as a message of 1-6 frames cut at random places, a ping or an
    empty continuation sometimes between them (RSV bits on the first only)."""
    cuts = sorted(rng.sample(range(len(payload) + 1), k=min(rng.randint(0, 5), len(payload))))
    parts = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)])]
    out = []
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        out.append(make_frame(op if n == 0 else OP_CONT, part, fin=last, rsv=rsv if n == 0 else 0))
        if not last and rng.random() < 0.3:
            out.append(make_frame(OP_PING, b"between"))
        if not last and rng.random() < 0.2:
            out.append(make_frame(OP_CONT, b"", fin=False))
    return out


def send_in_random_pieces(c: RawWS, rng: random.Random, data: bytes) -> None:
    """data in TCP writes cut at random bytes, a pause now and then so the
    server reads them one by one."""
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    pos = 0
    while pos < len(data):
        n = rng.choice((1, 2, 3, 7, 100, 1000, 20000))
        c.send_raw(data[pos : pos + n])
        pos += n
        if rng.random() < 0.2:
            time.sleep(0.001)


def next_data_frame(c: RawWS, timeout: float = 20) -> tuple[bool, int, int, bytes]:
    """The next frame that is not a pong (the answers to our pings)."""
    while True:
        fin, rsv, op, payload = c.recv_frame(timeout)
        if op != 0xA:
            return fin, rsv, op, payload


def random_message(rng: random.Random) -> tuple[int, bytes]:
    if rng.random() < 0.5:
        text = "".join(rng.choice("aé€😀 xyz") for _ in range(rng.randint(0, 400)))
        return OP_TEXT, text.encode()
    return OP_BINARY, rng.randbytes(rng.choice((0, 1, 125, 126, 127, 1000, 70000)))


@pytest.mark.parametrize("seed", range(3))
def test_pieces_at_random_bytes_come_back_as_one_frame(whole: Server, seed: int) -> None:
    rng = random.Random(seed)
    msgs = [random_message(rng) for _ in range(60)]
    stream = b"".join(b"".join(fragments(rng, op, payload)) for op, payload in msgs)
    with RawWS(whole.port) as c:
        send_in_random_pieces(c, rng, stream)
        for n, (op, payload) in enumerate(msgs):
            fin, rsv, got_op, got = next_data_frame(c)
            assert (fin, rsv, got_op) == (True, 0, op), f"message {n}"
            assert got == payload, f"message {n}"


def test_a_1_mib_message_in_random_fragments(whole: Server) -> None:
    rng = random.Random(7)
    payload = rng.randbytes(MIB)
    parts = [payload[i : i + 65000] for i in range(0, MIB, 65000)]
    stream = b"".join(
        make_frame(OP_BINARY if n == 0 else OP_CONT, p, fin=n == len(parts) - 1)
        for n, p in enumerate(parts)
    )
    with RawWS(whole.port) as c:
        send_in_random_pieces(c, rng, stream[:4000])  # the start byte by byte and so on
        c.send_raw(stream[4000:])
        assert next_data_frame(c, 30) == (True, 0, OP_BINARY, payload)


def test_compressed_fragments_come_back_as_one_frame(whole: Server) -> None:
    rng = random.Random(11)
    with RawWS(whole.port, extensions="permessage-deflate") as c:
        assert c.extensions == "permessage-deflate"
        deflater, inflater = Deflater(), Inflater()
        for size in (0, 10, 5000, MIB):
            text = ("compressible words, " * (size // 20 + 1))[:size].encode()
            data = deflater.message(text)
            send_in_random_pieces(c, rng, b"".join(fragments(rng, OP_TEXT, data, RSV1)))
            fin, rsv, op, got = next_data_frame(c)
            assert (fin, rsv, op) == (True, RSV1, OP_TEXT), size
            assert inflater.message(got) == text, size


def test_over_the_limit_closes_1009(whole: Server) -> None:
    limit = 2 * MIB
    with RawWS(whole.port) as c:
        c.send_frame(OP_BINARY, b"a" * (limit - 10), fin=False)
        c.send_frame(OP_CONT, b"a" * 10)  # exactly the limit: echoed
        assert next_data_frame(c, 30) == (True, 0, OP_BINARY, b"a" * limit)
        c.send_frame(OP_BINARY, b"b" * (limit - 10), fin=False)
        c.send_frame(OP_CONT, b"b" * 11)
        assert c.close_code(30) == 1009
    with RawWS(whole.port, extensions="permessage-deflate") as c:
        # 1 KiB over the limit after inflating, from about 2 KiB
        data = Deflater().message(bytes(limit + 1024))
        c.send_frame(OP_BINARY, data[:1000], fin=False, rsv=RSV1)
        c.send_frame(OP_CONT, data[1000:])
        assert c.close_code(30) == 1009
    assert whole.alive()


def test_without_a_limit_message_c_bounds_a_message_at_64_mib() -> None:
    """--max-message-size 0 leaves the parser and the extensions without a
    limit: message.c's own bound (64 MiB) closes a larger one with 1009."""
    server = start_echo("c", "--whole", "--max-message-size", "0")
    try:
        with RawWS(server.port, extensions="permessage-deflate") as c:
            data = Deflater().message(bytes(64 * MIB + 1))  # about 64 KiB
            c.send_frame(OP_BINARY, data, rsv=RSV1)
            with pytest.raises(Closed, match="1009"):
                c.recv_message(60)
    finally:
        server.stop()

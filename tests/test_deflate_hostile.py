"""Hostile and unusual compressed input (issue 10 defects 1, 4 and 7; issue 12
items 2 and 3 on the compressed paths).

* DEFLATE data with BFINAL set (zlib's Z_FINISH output, RFC 7692 7.2.3.4's
  padded form, several streams in one message) to both echo servers over
  permessage-deflate, deflate-frame and deflate-stream, and from a malicious
  server to our client: decompressed, a fresh stream for what follows, 1007
  only for data that is really bad, never a spin.
* The parameter parser's over-read (`a"="10`): the ASan echo server declines
  the offer and goes on (the C unit test test_ext_params catches the read).
* A per-connection inflate budget: a client flooding messages that inflate
  to just under the limit does not starve another client (canary latency).
* deflate-stream answers a flood of pings with output bounded by the input.
* RECEIVE pieces of compressed messages: the final flag on the last piece
  that carries bytes, no empty pieces the peer did not send, a 0 byte after
  each inflated piece, remaining_packet_payload 0 on the final piece.
"""

from __future__ import annotations

import contextlib
import random
import statistics
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import Server, start_echo
from support.raw import OP_BINARY, OP_CONT, OP_PING, OP_TEXT, RSV1, TAIL, Closed, RawWS, frame
from support.served import thread_server
from test_client import FakeServer, handshake_reply, server_frame
from test_deflate import bomb
from test_deflate_frame_stream import StreamClient
from websockets.sync.client import connect

import pylws_ffi as lws
from pylws_ffi import ffi

MIB = 1 << 20
KINDS = ["c", "python"]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", params=KINDS)
def echo(request: pytest.FixtureRequest) -> Iterator[Server]:
    server = start_echo(request.param)
    yield server
    out = server.stop()
    assert "AddressSanitizer" not in out and "runtime error" not in out, out[-3000:]


def finished(data: bytes) -> bytes:
    """data compressed as one DEFLATE stream ended with Z_FINISH (its last
    block has BFINAL set); "hello" gives the 7 bytes of issue 10."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(zlib.Z_FINISH)


def synced(data: bytes, c: Any = None) -> bytes:
    """data sync-flushed, its 00 00 ff ff removed (RFC 7692 7.2.1)."""
    c = c or zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


def inflate(payload: bytes) -> bytes:
    return zlib.decompressobj(-15).decompress(payload + TAIL)


INFLATERS: dict[int, Any] = {}


def inflate_from(c: RawWS, payload: bytes) -> bytes:
    """payload inflated with the connection's inflater: the server's
    compressor keeps its window between messages (context takeover)."""
    z = INFLATERS.setdefault(id(c.sock), zlib.decompressobj(-15))
    return z.decompress(payload + TAIL)


def assert_still_serves(server: Server) -> None:
    with connect(server.url, compression="deflate", open_timeout=10) as ws:
        ws.send("still there")
        assert ws.recv(timeout=10) == "still there"


# ====================================================================== BFINAL

# (frames as (opcode, payload, fin, rsv)) -> the message they make
BFINAL_FORMS: dict[str, tuple[list[tuple[int, bytes, bool, int]], bytes]] = {
    # issue 10: 7 bytes, the re-added tail is then an unfinished block
    "zlib-finish": ([(OP_TEXT, finished(b"hello"), True, RSV1)], b"hello"),
    # RFC 7692 7.2.3.4: a 0x00 after the block makes the tail an empty stored block
    "rfc-padded": ([(OP_TEXT, finished(b"Hello") + b"\x00", True, RSV1)], b"Hello"),
    "sync-then-finish": (
        [(OP_TEXT, synced(b"one ") + TAIL + finished(b"two"), True, RSV1)],
        b"one two",
    ),
    "two-streams-two-frames": (
        [
            (OP_BINARY, finished(b"first stream, "), False, RSV1),
            (OP_CONT, finished(b"second stream"), True, 0),
        ],
        b"first stream, second stream",
    ),
    "large": ([(OP_BINARY, finished(b"z" * 300_000), True, RSV1)], b"z" * 300_000),
}


def frames_for(ext: str, form: str) -> list[bytes]:
    parts, _ = BFINAL_FORMS[form]
    out = []
    for op, payload, fin, rsv in parts:
        # deflate-frame marks every compressed frame, continuations too
        if ext == "deflate-frame" and op == OP_CONT:
            rsv = RSV1
        out.append(frame(op, payload, fin, rsv))
    return out


def recv_inflated(c: RawWS, ext: str, timeout: float = 10) -> bytes:
    op, rsv, parts = c.recv_message(timeout=timeout)
    if ext == "deflate-frame":
        return b"".join(inflate_from(c, p) if p else p for p in parts)
    data = b"".join(parts)
    return inflate_from(c, data) if rsv & RSV1 else data


@pytest.mark.parametrize("form", list(BFINAL_FORMS))
@pytest.mark.parametrize("ext", ["permessage-deflate", "deflate-frame"])
def test_bfinal_message_is_decompressed(echo: Server, ext: str, form: str) -> None:
    """Issue 10 defect 1: the server answered nothing and spun at 100 % CPU."""
    with RawWS(echo.port, extensions=ext) as c:
        assert c.extensions == ext
        for f in frames_for(ext, form):
            c.send_raw(f)
        assert recv_inflated(c, ext) == BFINAL_FORMS[form][1]
        # a fresh stream follows: an ordinary message from a new compressor
        c.send_frame(OP_TEXT, synced(b"after"), rsv=RSV1)
        assert recv_inflated(c, ext) == b"after"
        # and a BFINAL message again, then one more
        c.send_frame(OP_TEXT, finished(b"hello"), rsv=RSV1)
        assert recv_inflated(c, ext) == b"hello"
        k = zlib.compressobj(6, zlib.DEFLATED, -15)
        c.send_frame(OP_TEXT, synced(b"takeover " * 3, k), rsv=RSV1)
        c.send_frame(OP_TEXT, synced(b"takeover " * 3, k), rsv=RSV1)  # refers back
        assert recv_inflated(c, ext) == b"takeover " * 3
        assert recv_inflated(c, ext) == b"takeover " * 3
    assert_still_serves(echo)


@pytest.mark.parametrize("ext", ["permessage-deflate", "deflate-frame"])
@pytest.mark.parametrize(
    "after", [b"\xff\xff\xff", b"\x07"], ids=["bad-block-type", "reserved-block"]
)
def test_bad_data_after_bfinal_is_1007(echo: Server, ext: str, after: bytes) -> None:
    with RawWS(echo.port, extensions=ext) as c:
        c.send_frame(OP_TEXT, finished(b"hello") + after, rsv=RSV1)
        assert c.close_code() == 1007
    assert_still_serves(echo)


def test_deflate_stream_bfinal(echo: Server) -> None:
    """deflate-stream: a block with BFINAL ends the client's stream; what it
    sends after is a new stream, inflated as such."""
    with StreamClient(echo.port) as c:
        assert c.extensions == "deflate-stream"
        end = zlib.compressobj(6, zlib.DEFLATED, -15)
        c.send_raw(end.compress(frame(OP_TEXT, b"hello")) + end.flush(zlib.Z_FINISH))
        assert c.recv_message(OP_TEXT, timeout=10) == b"hello"
        c.tx = zlib.compressobj(6, zlib.DEFLATED, -15)  # a new stream
        c.send(OP_TEXT, b"after")
        assert c.recv_message(OP_TEXT, timeout=10) == b"after"
        c.send_raw(zlib.compressobj(6, zlib.DEFLATED, -15).compress(b"") + b"\xff\xff")
        with pytest.raises(Closed):
            c.recv_message(OP_TEXT, timeout=10)
    assert_still_serves(echo)


CLIENT_SCRIPT = """
import sys, time
import pylws_ffi as lws
port, want = int(sys.argv[1]), int(sys.argv[2])
got = []
pieces = []
def cb(context, wsi, reason, user, in_, len_):
    if reason == lws.LWS_CALLBACK_CLIENT_RECEIVE:
        pieces.append(lws.payload(in_, len_))
        if lws.libwebsocket_is_final_fragment(wsi):
            got.append(b"".join(pieces).decode())
            pieces.clear()
    return 0
ctx = lws.libwebsocket_create_context(
    lws.CONTEXT_PORT_NO_LISTEN, None, [("x", cb, 0)], lws.libwebsocket_internal_extensions)
lws.libwebsocket_client_connect(ctx, "127.0.0.1", port, 0, "/")
deadline = time.monotonic() + 10
while len(got) < want and time.monotonic() < deadline:
    lws.libwebsocket_service(ctx, 10)
print("|".join(got))
"""


@pytest.mark.parametrize("ext", ["permessage-deflate", "deflate-frame"])
def test_our_client_survives_a_bfinal_server(ext: str) -> None:
    """A malicious server hung a client that offered compression.  The
    client runs in a subprocess: the old code spun inside the C loop."""
    messages = [
        server_frame(OP_TEXT | RSV1, finished(b"hello")),
        server_frame(OP_TEXT | RSV1, synced(b"world")),
    ]
    server = FakeServer(
        lambda key: handshake_reply(key, f"Sec-WebSocket-Extensions: {ext}") + b"".join(messages),
        linger=15,
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", CLIENT_SCRIPT, str(server.port), "2"],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=Path(__file__).parent,  # the installed package, not the source folder
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the client did not finish: it spins on the BFINAL message")
    finally:
        server.closing.set()
    assert result.stdout.strip() == "hello|world", result.stdout + result.stderr


# ====================================================================== parse_params


@pytest.mark.parametrize(
    "offer",
    [
        'permessage-deflate; a"="10',
        'permessage-deflate; server_max_window_bits="10',
        'permessage-deflate; a"="10, permessage-deflate',
    ],
)
def test_unbalanced_quote_in_a_parameter(offer: str) -> None:
    """Issue 10 defect 7 (the read itself is caught by native/tests/
    test_ext_params.c under ASan; here: the ASan server declines the offer)."""
    server = start_echo("c")
    try:
        with RawWS(server.port, extensions=offer) as c:
            assert c.status == 101
            if offer.endswith(", permessage-deflate"):
                assert c.extensions == "permessage-deflate"
            else:
                assert c.extensions is None
        assert_still_serves(server)
    finally:
        out = server.stop()
    assert "AddressSanitizer" not in out and "runtime error" not in out, out[-3000:]


def test_fuzz_regressions_are_there() -> None:
    d = ROOT / "fuzz" / "regressions"
    assert (d / "pmd-bfinal-hello.bin").read_bytes() == finished(b"hello")
    assert (d / "parse-params-unbalanced-quote.txt").read_bytes() == b'a"="10'


# ====================================================================== budget


def test_inflate_budget_keeps_others_responsive(echo: Server) -> None:
    """Issue 10 defect 4: messages inflating to just under the 64 MiB limit,
    back to back, gave other clients seconds of latency."""
    data = bomb(60 * MIB)  # one message: 60 MiB of zeros in ~60 KiB
    wire = frame(OP_BINARY, data, rsv=RSV1)
    stop = threading.Event()
    flooder = RawWS(echo.port, extensions="permessage-deflate", timeout=60)
    assert flooder.extensions == "permessage-deflate"

    def send() -> None:
        with contextlib.suppress(OSError):
            while not stop.is_set():
                flooder.sock.sendall(wire)

    def drain() -> None:
        flooder.sock.settimeout(1)
        while not stop.is_set():
            try:
                if not flooder.sock.recv(1 << 20):
                    return
            except TimeoutError:
                continue
            except OSError:
                return

    threads = [threading.Thread(target=f, daemon=True) for f in (send, drain)]
    for t in threads:
        t.start()
    latencies = []
    try:
        time.sleep(1)  # the flood is on
        with connect(echo.url, compression="deflate", open_timeout=30) as ws:
            end = time.monotonic() + 6
            i = 0
            while time.monotonic() < end:
                start = time.monotonic()
                ws.send(f"canary {i}")
                assert ws.recv(timeout=30) == f"canary {i}"
                latencies.append(time.monotonic() - start)
                i += 1
                time.sleep(0.05)
    finally:
        stop.set()
        flooder.sock.close()
        for t in threads:
            t.join(5)
    median = statistics.median(latencies)
    worst = max(latencies)
    print(f"canary under a flood ({echo.kind}): {len(latencies)} round trips, "
          f"median {median * 1000:.1f} ms, max {worst * 1000:.1f} ms")  # fmt: skip
    assert median < 0.25, latencies
    assert worst < 2.0, latencies
    assert_still_serves(echo)


# ====================================================================== deflate-stream pings


def test_deflate_stream_ping_flood_output_is_bounded(echo: Server) -> None:
    """Issue 10 defect 4: every pong was compressed and flushed on its own
    (391 KB of compressed pings made 187 MB of output)."""
    count = 20000
    with StreamClient(echo.port) as c:
        assert c.extensions == "deflate-stream"
        ping = frame(OP_PING, b"p" * 125)
        sent = c.tx.compress(ping * count) + c.tx.flush(zlib.Z_SYNC_FLUSH)
        c.send_raw(sent)
        c.send(OP_TEXT, b"end")
        received = 0
        plain = 0
        deadline = time.monotonic() + 60
        while True:
            chunk = c._recv(deadline)
            received += len(chunk)
            before = len(c.plain)
            c.feed(chunk)
            plain += len(c.plain) - before
            if b"end" in c.plain[-16:]:
                break
        pongs = plain // (2 + 125)
    print(f"deflate-stream ping flood ({echo.kind}): {count} pings in {len(sent)} bytes "
          f"-> {received} bytes ({plain} inflated, {pongs} pongs)")  # fmt: skip
    assert pongs == count
    assert received < 2 * len(sent) + 4096, (received, len(sent))


# ====================================================================== RECEIVE pieces


class Recorder:
    """A server callback recording (len, final, in[len] == 0, remaining) per
    RECEIVE, and echoing "done" at each message's end."""

    def __init__(self) -> None:
        self.pieces: list[tuple[int, int, bool, int]] = []
        self.data = bytearray()

    def __call__(self, context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int):
        if reason == lws.LWS_CALLBACK_RECEIVE:
            final = lws.libwebsocket_is_final_fragment(wsi)
            nul = in_ != ffi.NULL and ffi.cast("unsigned char *", in_)[len_] == 0
            remaining = lws.libwebsockets_remaining_packet_payload(wsi)
            self.pieces.append((len_, final, nul, remaining))
            self.data += lws.payload(in_, len_)
            if final:
                msg = b"done %d" % len(self.data)
                self.data = bytearray()
                lws.libwebsocket_write(wsi, msg, len(msg), lws.LWS_WRITE_TEXT)
        return 0


def check_pieces(pieces: list[tuple[int, int, bool, int]], total: int, nul: bool = True) -> None:
    assert pieces, "nothing delivered"
    assert sum(p[0] for p in pieces) == total, pieces
    assert [p[1] for p in pieces] == [0] * (len(pieces) - 1) + [1], pieces
    if total:
        assert all(p[0] > 0 for p in pieces), f"an empty piece: {pieces}"
    else:
        assert pieces == [(0, 1, pieces[0][2], 0)], pieces
    assert pieces[-1][3] == 0, f"remaining payload on the final piece: {pieces}"
    if nul:
        assert all(p[2] for p in pieces), f"a piece without a 0 after it: {pieces}"


def pmd_case(name: str, k: Any) -> tuple[list[bytes], int]:
    """(frames, inflated size) of one case; k is the client's compressor."""
    if name == "one frame":
        return [frame(OP_TEXT, synced(b"hello", k), rsv=RSV1)], 5
    if name == "final frame inflates to nothing":
        return [
            frame(OP_TEXT, synced(b"hello ", k) + TAIL, fin=False, rsv=RSV1),
            frame(OP_CONT, b"\x00", fin=True),
        ], 6
    if name == "empty final frame":
        return [
            frame(OP_BINARY, synced(b"world", k), fin=False, rsv=RSV1),
            frame(OP_CONT, b"", fin=True),
        ], 5
    if name == "three fragments":
        return [
            frame(OP_BINARY, synced(b"a" * 1000, k) + TAIL, fin=False, rsv=RSV1),
            frame(OP_CONT, synced(b"b" * 1000, k) + TAIL, fin=False),
            frame(OP_CONT, synced(b"c" * 1000, k), fin=True),
        ], 3000
    if name == "exactly one chunk":  # the output fills the inflater's chunk
        return [frame(OP_BINARY, synced(b"c" * 65536, k), rsv=RSV1)], 65536
    if name == "large":
        big = bytes(range(256)) * 1200
        return [frame(OP_BINARY, synced(big, k), rsv=RSV1)], len(big)
    assert name == "empty message"
    return [frame(OP_TEXT, b"\x00", rsv=RSV1)], 0


PMD_CASES = [
    "one frame",
    "final frame inflates to nothing",
    "empty final frame",
    "three fragments",
    "exactly one chunk",
    "large",
    "empty message",
]


def answer(c: RawWS, ext: str) -> bytes:
    """The recorder's answer to a message, inflated as ext requires."""
    return recv_inflated(c, "deflate-frame" if ext.startswith("deflate-frame") else ext)


def recorded(port: int, offer: str, frames: list[bytes], size: int) -> None:
    with RawWS(port, extensions=offer) as c:
        assert c.extensions and c.extensions.split(";")[0] == offer.split(";")[0]
        for f in frames:
            c.send_raw(f)
        assert answer(c, offer) == b"done %d" % size


@pytest.mark.parametrize(
    "offer",
    [
        "permessage-deflate",
        "permessage-deflate; client_no_context_takeover",
    ],
    ids=["takeover", "no-takeover"],
)
def test_receive_pieces_permessage_deflate(offer: str) -> None:
    """Issue 12 item 3: every compressed message ended with an extra RECEIVE
    of length 0 carrying the final flag; item 2: no 0 byte after a piece."""
    rec = Recorder()
    with thread_server([("rec", rec, 0)], lws.libwebsocket_internal_extensions) as srv:
        for name in PMD_CASES:
            # a connection per case: a compressor per case
            frames, size = pmd_case(name, zlib.compressobj(6, zlib.DEFLATED, -15))
            rec.pieces = []
            recorded(srv.port, offer, frames, size)
            try:
                check_pieces(rec.pieces, size)
            except AssertionError as e:
                raise AssertionError(f"{name}: {e}") from None


def test_receive_pieces_permessage_deflate_one_connection() -> None:
    """The same messages one after another on one connection (context
    takeover across them), pieces recorded per message."""
    rec = Recorder()
    with thread_server([("rec", rec, 0)], lws.libwebsocket_internal_extensions) as srv:
        k = zlib.compressobj(6, zlib.DEFLATED, -15)
        with RawWS(srv.port, extensions="permessage-deflate") as c:
            for name in PMD_CASES:
                frames, size = pmd_case(name, k)
                rec.pieces = []
                for f in frames:
                    c.send_raw(f)
                assert answer(c, "permessage-deflate") == b"done %d" % size
                try:
                    check_pieces(rec.pieces, size)
                except AssertionError as e:
                    raise AssertionError(f"{name}: {e}") from None


def test_receive_pieces_deflate_frame() -> None:
    rec = Recorder()
    k = zlib.compressobj(6, zlib.DEFLATED, -15)
    cases: dict[str, tuple[list[bytes], int, bool]] = {
        "one frame": ([frame(OP_TEXT, synced(b"hello", k), rsv=RSV1)], 5, True),
        "compressed final frame inflates to nothing": (
            [
                frame(OP_TEXT, synced(b"hello", k), fin=False, rsv=RSV1),
                frame(OP_CONT, b"\x00", fin=True, rsv=RSV1),
            ],
            5,
            True,
        ),
        "empty plain final frame": (
            [
                frame(OP_BINARY, synced(b"hello", k), fin=False, rsv=RSV1),
                frame(OP_CONT, b"", fin=True),
            ],
            5,
            True,
        ),
        "plain frame after a compressed one": (
            [
                frame(OP_BINARY, synced(b"hello ", k), fin=False, rsv=RSV1),
                frame(OP_CONT, b"plain", fin=True),
            ],
            11,
            False,  # the plain piece's 0 is the plain path's (conn.c)
        ),
        "exactly one chunk per frame": (
            [
                frame(OP_BINARY, synced(b"x" * 65536, k), fin=False, rsv=RSV1),
                frame(OP_CONT, synced(b"y" * 65536, k), fin=True, rsv=RSV1),
            ],
            131072,
            True,
        ),
    }
    with (
        thread_server([("rec", rec, 0)], lws.libwebsocket_internal_extensions) as srv,
        RawWS(srv.port, extensions="deflate-frame") as c,
    ):
        assert c.extensions == "deflate-frame"
        for name, (frames, size, nul) in cases.items():
            rec.pieces = []
            for f in frames:
                c.send_raw(f)
            assert answer(c, "deflate-frame") == b"done %d" % size
            try:
                check_pieces(rec.pieces, size, nul)
            except AssertionError as e:
                raise AssertionError(f"{name}: {e}") from None
            if not nul:
                assert rec.pieces[0][2], rec.pieces  # the inflated piece has its 0


CLIENT_PIECES_SCRIPT = """
import sys, time
import pylws_ffi as lws
from pylws_ffi import ffi
port, want = int(sys.argv[1]), int(sys.argv[2])
pieces = []
finals = 0
def cb(context, wsi, reason, user, in_, len_):
    global finals
    if reason == lws.LWS_CALLBACK_CLIENT_RECEIVE:
        final = lws.libwebsocket_is_final_fragment(wsi)
        nul = ffi.cast("unsigned char *", in_)[len_] == 0
        pieces.append((len_, final, nul, lws.libwebsockets_remaining_packet_payload(wsi)))
        finals += final
    return 0
ctx = lws.libwebsocket_create_context(
    lws.CONTEXT_PORT_NO_LISTEN, None, [("x", cb, 0)], lws.libwebsocket_internal_extensions)
lws.libwebsocket_client_connect(ctx, "127.0.0.1", port, 0, "/")
deadline = time.monotonic() + 10
while finals < want and time.monotonic() < deadline:
    lws.libwebsocket_service(ctx, 10)
print(repr(pieces))
"""


@pytest.mark.parametrize("ext", ["permessage-deflate", "deflate-frame"])
def test_receive_pieces_client(ext: str) -> None:
    k = zlib.compressobj(6, zlib.DEFLATED, -15)
    cont = OP_CONT | (RSV1 if ext == "deflate-frame" else 0)
    frames = [
        # permessage-deflate: one stream, the tail removed at the message's
        # end only; deflate-frame: each frame's tail removed
        server_frame(
            OP_TEXT | RSV1, synced(b"hello", k) + (TAIL if cont == OP_CONT else b""), fin=False
        ),  # fmt: skip
        server_frame(cont, b"\x00", fin=True),  # inflates to nothing
        server_frame(OP_BINARY | RSV1, synced(b"q" * 70000, k)),
    ]
    server = FakeServer(
        lambda key: handshake_reply(key, f"Sec-WebSocket-Extensions: {ext}") + b"".join(frames),
        linger=15,
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", CLIENT_PIECES_SCRIPT, str(server.port), "2"],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=Path(__file__).parent,  # the installed package, not the source folder
        )
    finally:
        server.closing.set()
    pieces = eval(result.stdout.strip() or "[]")  # a repr of a list of tuples
    finals = [i for i, p in enumerate(pieces) if p[1]]
    assert len(finals) == 2, (pieces, result.stderr)
    check_pieces(pieces[: finals[0] + 1], 5)
    check_pieces(pieces[finals[0] + 1 :], 70000)


def test_fraggle_style_checksums_over_permessage_deflate() -> None:
    """Random fragment counts, each message's pieces summed on the final
    flag (as the fraggle example does): one message, one final piece."""
    rec = Recorder()
    rnd = random.Random(7)
    with thread_server([("rec", rec, 0)], lws.libwebsocket_internal_extensions) as srv:
        k = zlib.compressobj(6, zlib.DEFLATED, -15)
        with RawWS(srv.port, extensions="permessage-deflate") as c:
            for _ in range(60):
                rec.pieces = []
                n = rnd.randint(1, 6)
                blobs = [rnd.randbytes(rnd.randint(0, 3000)) for _ in range(n)]
                wire = []
                for i, b in enumerate(blobs):
                    z = k.compress(b) + k.flush(zlib.Z_SYNC_FLUSH)
                    if i == n - 1:
                        z = z[:-4]
                    wire.append(frame(OP_BINARY if i == 0 else OP_CONT, z, fin=i == n - 1,
                                      rsv=RSV1 if i == 0 else 0))  # fmt: skip
                c.send_raw(b"".join(wire))
                total = sum(map(len, blobs))
                assert answer(c, "permessage-deflate") == b"done %d" % total
                check_pieces(rec.pieces, total)


# ====================================================================== the host's guard


def test_extension_that_never_progresses_is_failed() -> None:
    """The extension host's no-progress guard: an extension answering "more
    output" forever without ever giving any fails the connection (1011)
    instead of spinning the loop; other connections go on."""

    def stuck(context: Any, ext: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int):
        if reason == lws.LWS_EXT_CALLBACK_PACKET_RX_PREPARSE:
            data = lws.lws_tokens_payload(in_)
            return 1 if data == b"stuck" or not data else 0
        return 0

    def echo_cb(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int):
        if reason == lws.LWS_CALLBACK_RECEIVE:
            data = lws.payload(in_, len_)
            lws.libwebsocket_write(wsi, data, len(data), lws.LWS_WRITE_TEXT)
        return 0

    with thread_server([("echo", echo_cb, 0)], [("x-stuck", stuck, 0)]) as srv:
        with RawWS(srv.port, extensions="x-stuck") as c:
            assert c.extensions == "x-stuck"
            c.send_frame(OP_TEXT, b"fine")
            assert b"".join(c.recv_message()[2]) == b"fine"
            c.send_frame(OP_TEXT, b"stuck")
            assert c.close_code(timeout=5) == 1011
        with RawWS(srv.port, extensions="x-stuck") as c:
            c.send_frame(OP_TEXT, b"next")
            assert b"".join(c.recv_message()[2]) == b"next"


def test_receive_pieces_deflate_stream() -> None:
    """deflate-stream: the frames themselves are inflated, so a piece is
    empty only when the peer sent an empty frame; the final flag is on the
    message's last piece.  (The 0 after each piece is the plain path's.)"""
    rec = Recorder()
    with (
        thread_server([("rec", rec, 0)], lws.libwebsocket_internal_extensions) as srv,
        StreamClient(srv.port) as c,
    ):
        assert c.extensions == "deflate-stream"
        cases = [
            ([(OP_TEXT, b"hello", True)], 5),
            ([(OP_BINARY, b"a" * 100, False), (OP_CONT, b"b" * 100, True)], 200),
            ([(OP_BINARY, b"x" * 300_000, True)], 300_000),
        ]
        for frames, size in cases:
            rec.pieces = []
            for op, payload, fin in frames:
                c.send(op, payload, fin)
            assert c.recv_message(OP_TEXT, timeout=10) == b"done %d" % size
            check_pieces(rec.pieces, size, nul=False)
        rec.pieces = []
        c.send(OP_TEXT, b"", True)  # really empty: one empty piece
        assert c.recv_message(OP_TEXT, timeout=10) == b"done 0"
        check_pieces(rec.pieces, 0, nul=False)

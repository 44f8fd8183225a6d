"""permessage-deflate (RFC 7692), the built-in extension, end to end.

* Both echo servers (C under ASan/UBSan, Python; they offer the built-ins by
  default) against the ``websockets`` client's permessage-deflate with every
  parameter combination its ClientPerMessageDeflateFactory offers: the
  answered header, and messages whose back references reach past the
  smallest windows, repeated (context takeover), empty, fragmented.
* Sizes 0 B .. 16 MiB, text and binary; long runs of messages.
* Our client (libwebsocket_client_connect with libwebsocket_internal_extensions)
  against a ``websockets`` server with compression, ServerPerMessageDeflateFactory
  variants included.
* Hostile peers (tests/support/raw.py): a decompression bomb, RSV1 where it does not
  belong, corrupt DEFLATE data, invalid UTF-8 inside compressed text, offers
  with bad parameters; CONFIRM_EXTENSION_OKAY vetoing the extension.
* Headless Chromium negotiating permessage-deflate with both echo servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from servers import start_echo
from support import peer
from support.peer import echo_handler
from support.raw import (
    OP_BINARY,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    RSV1,
    Closed,
    Deflater,
    Inflater,
    RawWS,
    frame,
)
from support.served import Echo, thread_server
from websockets.asyncio.client import connect as aconnect
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.sync.client import connect

import pylws_ffi as lws
from pylws_ffi import ffi

MIB = 1 << 20
SIZES = [0, 1, 125, 64 * 1024, MIB, 16 * MIB]

# ====================================================================== data


def words_text(size: int, seed: int = 1) -> str:
    """JSON-like ASCII text of ``size`` characters: compressible, never the
    same twice in a row within a few hundred bytes, so a back reference
    often reaches a long way back."""
    rnd = random.Random(seed)
    vocab = [
        "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(3, 9)))
        for _ in range(400)
    ]
    out: list[str] = []
    n = 0
    i = 0
    while n < size:
        rec = (
            f'{{"id":{i},"name":"{rnd.choice(vocab)} {rnd.choice(vocab)}",'
            f'"tags":["{rnd.choice(vocab)}","{rnd.choice(vocab)}"],'
            f'"score":{rnd.random():.4f},"note":"{" ".join(rnd.sample(vocab, 6))}"}}\n'
        )
        out.append(rec)
        n += len(rec)
        i += 1
    return "".join(out)[:size]


BLOCK = words_text(3000, seed=7)  # repeated: matches 3000 bytes back (> 2**9)
UNICODE = "aé€😀 " * 50


def payload_of(size: int, binary: bool) -> str | bytes:
    if binary:
        # half random (incompressible), half text (compressible)
        half = size // 2
        return os.urandom(half) + words_text(size - half, seed=size).encode()
    # multi-byte characters at the end, so pieces may split inside them
    text = words_text(max(size - 40, 0), seed=size) + UNICODE
    return text.encode()[:size].decode("utf-8", "ignore")


# ====================================================================== servers


@pytest.fixture(scope="module", params=["c", "python"])
def echo(request):
    server = start_echo(request.param)
    yield server
    server.stop()


def expected_answer(snct: bool, cnct: bool, smwb: int | None) -> str:
    """What our server answers to the websockets client's offer."""
    answer = "permessage-deflate"
    if snct:
        answer += "; server_no_context_takeover"
    if cnct:
        answer += "; client_no_context_takeover"
    if smwb:
        answer += f"; server_max_window_bits={smwb}"
    return answer


# ====================================================================== websockets as client

COMBOS = list(
    itertools.product(
        [False, True],  # server_no_context_takeover
        [False, True],  # client_no_context_takeover
        [None, *range(9, 16)],  # server_max_window_bits
        [None, True, *range(9, 16)],  # client_max_window_bits
    )
)


def combo_id(combo: tuple[Any, ...]) -> str:
    snct, cnct, smwb, cmwb = combo
    return f"snct{int(snct)}-cnct{int(cnct)}-s{smwb or '_'}-c{'T' if cmwb is True else cmwb or '_'}"


def exchange(ws: Any) -> None:
    """Messages that show a wrong window or a wrong takeover: the same 3000
    bytes three times (with takeover the 2nd and 3rd refer back to the
    first; a compressor using a bigger window than agreed, or keeping its
    history when it agreed not to, makes the peer fail to inflate)."""
    for _ in range(3):
        ws.send(BLOCK)
        assert ws.recv(timeout=10) == BLOCK
    ws.send(BLOCK.encode() * 3)
    assert ws.recv(timeout=10) == BLOCK.encode() * 3
    ws.send("")
    assert ws.recv(timeout=10) == ""
    ws.send(b"")
    assert ws.recv(timeout=10) == b""
    ws.send(["ab", "c€", "", "d", BLOCK])
    assert ws.recv(timeout=10) == "abc€d" + BLOCK
    blob = os.urandom(70000)
    ws.send(blob)
    assert ws.recv(timeout=10) == blob


@pytest.mark.parametrize("combo", COMBOS, ids=combo_id)
def test_websockets_client_offer(echo, combo):
    snct, cnct, smwb, cmwb = combo
    factory = ClientPerMessageDeflateFactory(
        server_no_context_takeover=snct,
        client_no_context_takeover=cnct,
        server_max_window_bits=smwb,
        client_max_window_bits=cmwb,
    )
    with connect(
        echo.url, extensions=[factory], compression=None, max_size=None, open_timeout=10
    ) as ws:
        assert ws.response.headers["Sec-WebSocket-Extensions"] == expected_answer(snct, cnct, smwb)
        assert [type(e).__name__ for e in ws.protocol.extensions] == ["PerMessageDeflate"]
        exchange(ws)


def roundtrip(url: str, messages: list[str | bytes], **kw: Any) -> list[str | bytes]:
    """Send the messages and return the echoes, reading while writing."""

    async def go() -> list[str | bytes]:
        async with aconnect(url, max_size=None, open_timeout=10, **kw) as ws:
            assert ws.response.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")

            async def send_all() -> None:
                for m in messages:
                    await ws.send(m)

            sender = asyncio.ensure_future(send_all())
            got = [await asyncio.wait_for(ws.recv(), 120) for _ in messages]
            await sender
            return got

    return asyncio.run(go())


TIGHT = ClientPerMessageDeflateFactory(
    server_no_context_takeover=True,
    client_no_context_takeover=True,
    server_max_window_bits=9,
    client_max_window_bits=9,
)


@pytest.mark.parametrize("offer", ["default", "tight"])
@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
@pytest.mark.parametrize("size", SIZES)
def test_sizes(echo, size, binary, offer):
    message = payload_of(size, binary)
    kw: dict[str, Any] = (
        {"compression": "deflate"} if offer == "default" else {"extensions": [TIGHT]}
    )
    if offer == "tight":
        kw["compression"] = None
    assert roundtrip(echo.url, [message], **kw) == [message]


@pytest.mark.parametrize("takeover", [True, False], ids=["takeover", "no-takeover"])
def test_many_messages_in_a_row(echo, takeover):
    rnd = random.Random(3)
    messages: list[str | bytes] = []
    for i in range(1500):
        n = rnd.choice([0, 1, 20, 300, 3000, 20000])
        messages.append(words_text(n, seed=i % 50) if i % 3 else BLOCK[:n].encode())
    factory = ClientPerMessageDeflateFactory(
        server_no_context_takeover=not takeover, client_no_context_takeover=not takeover
    )
    assert roundtrip(echo.url, messages, compression=None, extensions=[factory]) == messages


def test_fragmented_messages_from_websockets(echo):
    with connect(echo.url, compression="deflate", max_size=None, open_timeout=10) as ws:
        pieces = [BLOCK[:1000], "", BLOCK[1000:1001], "é", BLOCK * 30]
        for _ in range(3):
            ws.send(pieces)
            assert ws.recv(timeout=10) == "".join(pieces)
        chunks = [os.urandom(n) for n in (1, 0, 300, 70000, 5)] + [b"\0" * 200000]
        ws.send(chunks)
        assert ws.recv(timeout=10) == b"".join(chunks)


@pytest.mark.parametrize("cut", [1, 7, 1000, 65536])
def test_compressed_message_cut_anywhere(echo, cut):
    """One compressed message split into frames at arbitrary byte offsets
    (the DEFLATE stream splits mid-block), empty continuations included."""
    text = (BLOCK * 40).encode()
    with RawWS(echo.port, extensions="permessage-deflate") as c:
        assert c.extensions == "permessage-deflate"
        data = Deflater().message(text)
        pieces = [data[i : i + cut] for i in range(0, len(data), cut)]
        for n, piece in enumerate(pieces):
            c.send_frame(
                OP_TEXT if n == 0 else OP_CONT, piece, fin=False, rsv=RSV1 if n == 0 else 0
            )
            if n == 1:
                c.send_frame(OP_CONT, b"", fin=False)
                c.send_frame(OP_PING, b"between")  # a control frame between the pieces
        c.send_frame(OP_CONT, b"", fin=True)
        inflater = Inflater()
        op, rsv, parts = c.recv_message(timeout=20)
        assert (op, rsv) == (OP_TEXT, RSV1)
        assert inflater.message(b"".join(parts)) == text
        # the server's answers really are compressed
        assert sum(map(len, parts)) < len(text) // 3


def test_server_compresses_with_context_takeover(echo):
    """With takeover (the default) the same message costs far less the
    second time: the server's compressor kept its history."""
    with RawWS(echo.port, extensions="permessage-deflate") as c:
        d, i = Deflater(), Inflater()
        sizes = []
        for _ in range(3):
            c.send_frame(OP_TEXT, d.message(BLOCK.encode()), rsv=RSV1)
            op, rsv, parts = c.recv_message()
            assert rsv == RSV1 and i.message(b"".join(parts)) == BLOCK.encode()
            sizes.append(sum(map(len, parts)))
        assert sizes[1] < sizes[0] // 5 and sizes[2] < sizes[0] // 5, sizes
        # an uncompressed message (no RSV1) on the same connection passes as it is
        c.send_frame(OP_TEXT, b"plain")
        op, rsv, parts = c.recv_message()
        assert i.message(b"".join(parts)) == b"plain"


# ====================================================================== our client


class WSServer(peer.WSServer):
    """support.peer's echo server, recording each handshake's extension
    offer and answer."""

    def __init__(self, **kw: Any) -> None:
        self.offers: list[str | None] = []
        self.answers: list[str | None] = []

        async def handler(ws: Any) -> None:
            self.offers.append(ws.request.headers.get("Sec-WebSocket-Extensions"))
            self.answers.append(ws.response.headers.get("Sec-WebSocket-Extensions"))
            await echo_handler(ws)

        super().__init__(handler, "127.0.0.1", **kw)


@contextlib.contextmanager
def ws_server(**kw: Any) -> Iterator[WSServer]:
    server = WSServer(**kw)
    try:
        yield server
    finally:
        server.close()


class OurClient:
    """One pylws client connection with the built-in extensions."""

    def __init__(self, port: int, extensions: Any = None, ssl_connection: int = 0) -> None:
        if extensions is None:
            extensions = lws.libwebsocket_internal_extensions
        self.pieces: list[bytes] = []
        self.messages: list[str | bytes] = []
        self.established = self.closed = False
        self.error = ""
        self.ctx = lws.libwebsocket_create_context(
            lws.CONTEXT_PORT_NO_LISTEN, None, [("echo", self.callback, 0)], extensions
        )
        self.wsi = lws.libwebsocket_client_connect(self.ctx, "127.0.0.1", port, ssl_connection, "/")
        self.run(lambda: self.established, "the handshake")

    def callback(self, context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int):
        if reason == lws.LWS_CALLBACK_CLIENT_ESTABLISHED:
            self.established = True
        elif reason == lws.LWS_CALLBACK_CLIENT_RECEIVE:
            self.pieces.append(lws.payload(in_, len_))
            if lws.libwebsocket_is_final_fragment(wsi):
                data = b"".join(self.pieces)
                self.pieces = []
                self.messages.append(data if lws.lws_frame_is_binary(wsi) else data.decode())
        elif reason == lws.LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
            self.error = ffi.string(ffi.cast("char *", in_)).decode() if in_ else "?"
            self.closed = True
        elif reason == lws.LWS_CALLBACK_CLOSED:
            self.closed = True
        return 0

    def run(self, until: Any, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not until():
            assert not self.closed, f"closed while waiting for {what}: {self.error}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            lws.libwebsocket_service(self.ctx, 10)

    def send(self, message: str | bytes) -> None:
        data = message.encode() if isinstance(message, str) else message
        kind = lws.LWS_WRITE_TEXT if isinstance(message, str) else lws.LWS_WRITE_BINARY
        assert lws.libwebsocket_write(self.wsi, data, len(data), kind) == len(data)

    def echo(self, messages: list[str | bytes]) -> list[str | bytes]:
        start = len(self.messages)
        for m in messages:
            self.send(m)
        self.run(lambda: len(self.messages) >= start + len(messages), "the echoes")
        return self.messages[start:]

    def destroy(self) -> None:
        lws.libwebsocket_context_destroy(self.ctx)


@contextlib.contextmanager
def our_client(port: int, extensions: Any = None) -> Iterator[OurClient]:
    client = OurClient(port, extensions)
    try:
        yield client
    finally:
        client.destroy()


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_our_client_against_websockets_server(binary):
    with ws_server(compression="deflate") as srv, our_client(srv.port) as client:
        for size in SIZES:
            message = payload_of(size, binary)
            assert client.echo([message]) == [message], size
        many = [payload_of(n % 5000, binary) for n in range(0, 500 * 37, 37)]
        assert client.echo(many) == many
        # (the server's handler has run by now)
        # every built-in, in order; the server takes the one it knows
        assert srv.offers == [
            "permessage-deflate; client_max_window_bits, deflate-frame, "
            "x-webkit-deflate-frame, deflate-stream"
        ]
        # (websockets' defaults)
        assert srv.answers == [
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
        ]


SERVER_VARIANTS = [
    dict(snct, **cnct, **smwb, **cmwb)
    for snct in ({}, {"server_no_context_takeover": True})
    for cnct in ({}, {"client_no_context_takeover": True})
    for smwb in ({}, {"server_max_window_bits": 9}, {"server_max_window_bits": 12})
    for cmwb in ({}, {"client_max_window_bits": 9}, {"client_max_window_bits": 11})
] + [
    {"client_max_window_bits": 12, "require_client_max_window_bits": True},
    {"client_max_window_bits": 15},
]


def variant_id(params: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in params.items()) or "default"


@pytest.mark.parametrize("params", SERVER_VARIANTS, ids=variant_id)
def test_our_client_against_server_factory_variants(params):
    factory = ServerPerMessageDeflateFactory(**params)
    with ws_server(compression=None, extensions=[factory]) as srv, our_client(srv.port) as c:
        messages: list[str | bytes] = [BLOCK, BLOCK, BLOCK.encode() * 3, "", b"", "é" * 1000]
        messages.append(payload_of(MIB, False))
        assert c.echo(messages) == messages
        answer = srv.answers[0]  # (the handler has run by now)
        assert answer is not None and answer.startswith("permessage-deflate")
        for key, value in params.items():
            if key != "require_client_max_window_bits":
                assert (key if value is True else f"{key}={value}") in answer


def test_our_client_to_our_servers(echo):
    with our_client(echo.port) as c:
        messages: list[str | bytes] = [payload_of(n, n % 2 == 1) for n in (0, 1, 125, 65536)]
        messages += [BLOCK] * 20 + [payload_of(4 * MIB, False)]
        assert c.echo(messages) == messages


# ====================================================================== hostile peers


def bomb(total: int) -> bytes:
    """A DEFLATE stream of ``total`` zero bytes (a multiple of 1 MiB), made
    by repeating the compressed form of 1 MiB: about 1 KiB per MiB, the
    best DEFLATE can do (its ratio is at most about 1032:1)."""
    one = Deflater().message(b"\0" * MIB) + b"\x00\x00\xff\xff"
    return (one * (total // MIB))[:-4]


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


@pytest.fixture(params=["c", "python"])
def lean_echo(request):
    """An echo server of its own (its peak RSS is measured), the C one with
    a small ASan quarantine so freed memory counts as freed."""
    server = start_echo(request.param, asan_options="quarantine_size_mb=8:malloc_context_size=5")
    yield server
    server.stop()


@pytest.mark.parametrize("fragmented", [False, True], ids=["one-frame", "fragmented"])
def test_decompression_bomb_is_closed_with_1009(lean_echo, fragmented):
    data = bomb(1024 * MIB)  # 1 GiB of zeros in about 1 MiB
    assert len(data) < 2 * MIB
    # warm up (the Python server imports lazily), then measure
    with connect(lean_echo.url, compression="deflate", open_timeout=10) as ws:
        ws.send("warm")
        assert ws.recv(timeout=10) == "warm"
    before = rss_kib(lean_echo.proc.pid)
    with RawWS(lean_echo.port, extensions="permessage-deflate") as c:
        assert c.extensions == "permessage-deflate"
        if fragmented:
            step = 4096
            frames = [
                frame(OP_BINARY if i == 0 else OP_CONT, data[i : i + step],
                      fin=i + step >= len(data), rsv=RSV1 if i == 0 else 0)
                for i in range(0, len(data), step)
            ]  # fmt: skip
            wire = b"".join(frames)
        else:
            wire = frame(OP_BINARY, data, rsv=RSV1)

        def send() -> None:
            with contextlib.suppress(OSError):
                c.sock.sendall(wire)

        start = time.monotonic()
        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        code = None
        with contextlib.suppress(Closed, TimeoutError):
            while True:  # the echoes of the first 64 MiB come back, then the close
                _, _, op, payload = c.recv_frame(timeout=30)
                if op == 8:
                    code = int.from_bytes(payload[:2], "big")
                    break
        took = time.monotonic() - start
        sender.join(10)
    peak = rss_kib(lean_echo.proc.pid, "VmHWM")
    print(f"bomb: {code} after {took:.2f} s, peak RSS +{(peak - before) // 1024} MiB")
    assert code == 1009, code
    assert took < 20, took
    assert (peak - before) < 100 * 1024, f"RSS grew by {(peak - before) // 1024} MiB"
    # the server goes on
    with connect(lean_echo.url, compression="deflate", open_timeout=10) as ws:
        ws.send("after")
        assert ws.recv(timeout=10) == "after"


def deflated(data: bytes) -> bytes:
    return Deflater().message(data)


HOSTILE = {
    "RSV1 on a ping": (lambda: [frame(OP_PING, b"x", rsv=RSV1)], 1002),
    "RSV1 on a pong": (lambda: [frame(OP_PONG, b"", rsv=RSV1)], 1002),
    "RSV1 on a close": (lambda: [frame(8, b"\x03\xe8", rsv=RSV1)], 1002),
    "RSV1 on a continuation frame": (
        lambda: [
            frame(OP_TEXT, deflated(b"hello ")[:3], fin=False, rsv=RSV1),
            frame(OP_CONT, deflated(b"hello ")[3:], fin=True, rsv=RSV1),
        ],
        1002,
    ),
    "RSV1 on an uncompressed continuation": (
        lambda: [
            frame(OP_TEXT, b"plain ", fin=False),
            frame(OP_CONT, deflated(b"x"), fin=True, rsv=RSV1),
        ],
        1002,
    ),
    "RSV2": (lambda: [frame(OP_TEXT, deflated(b"x"), rsv=0x20)], 1002),
    "RSV3": (lambda: [frame(OP_TEXT, deflated(b"x"), rsv=0x10)], 1002),
    "corrupt deflate data": (lambda: [frame(OP_BINARY, b"\xff\xff\xff\xff", rsv=RSV1)], 1007),
    "corrupt deflate data after good data": (
        # good blocks, then a stored block whose LEN and NLEN disagree
        lambda: [
            frame(
                OP_BINARY,
                deflated(b"good" * 100) + b"\x00\x00\xff\xff" + b"\x00\x05\x00\x00\x00",
                rsv=RSV1,
            )
        ],
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
    "invalid UTF-8 in a compressed fragment": (
        lambda: [
            frame(OP_TEXT, deflated(b"ok "), fin=False, rsv=RSV1),
            frame(OP_CONT, b"", fin=False),
            frame(OP_CONT, Deflater().message(b"\xc3\x28"), fin=True),
        ],
        1007,
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_compressed_frames(echo, name):
    make, code = HOSTILE[name]
    with RawWS(echo.port, extensions="permessage-deflate") as c:
        assert c.extensions == "permessage-deflate"
        for f in make():
            c.send_raw(f)
        assert c.close_code() == code
        assert c.tcp_closed(5)
    with connect(echo.url, compression="deflate", open_timeout=10) as ws:
        ws.send("server still up")
        assert ws.recv(timeout=10) == "server still up"


def test_compressed_message_without_negotiation_is_1002(echo):
    with RawWS(echo.port) as c:
        assert c.extensions is None
        c.send_frame(OP_TEXT, deflated(b"hello"), rsv=RSV1)
        assert c.close_code() == 1002
    # and with the extension declined by a bad offer
    with RawWS(echo.port, extensions="permessage-deflate; bogus") as c:
        assert c.extensions is None
        c.send_frame(OP_TEXT, deflated(b"hello"), rsv=RSV1)
        assert c.close_code() == 1002


BAD_OFFERS = [
    "permessage-deflate; server_max_window_bits=8",
    "permessage-deflate; server_max_window_bits=16",
    "permessage-deflate; server_max_window_bits=7",
    "permessage-deflate; server_max_window_bits=09",
    "permessage-deflate; server_max_window_bits=",
    "permessage-deflate; server_max_window_bits",
    "permessage-deflate; server_max_window_bits=1x",
    "permessage-deflate; client_max_window_bits=16",
    "permessage-deflate; unknown_param",
    "permessage-deflate; unknown=1",
    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
    "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
    "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
    "permessage-deflate; server_no_context_takeover=1",
    'permessage-deflate; server_max_window_bits="8"',
    "permessage-deflate; =10",
    "x-unknown-extension",
]


@pytest.mark.parametrize("offer", BAD_OFFERS)
def test_bad_offer_is_declined(echo, offer):
    with RawWS(echo.port, extensions=offer) as c:
        assert c.status == 101
        assert c.extensions is None
        c.send_frame(OP_TEXT, b"plain text")
        op, rsv, parts = c.recv_message()
        assert (op, rsv, b"".join(parts)) == (OP_TEXT, 0, b"plain text")


@pytest.mark.parametrize(
    "offer,answer",
    [
        ("permessage-deflate; unknown=1, permessage-deflate", "permessage-deflate"),
        (
            "permessage-deflate; server_max_window_bits=8, "
            "permessage-deflate; server_max_window_bits=9",
            "permessage-deflate; server_max_window_bits=9",
        ),
        (
            'permessage-deflate; server_max_window_bits="10"',
            "permessage-deflate; server_max_window_bits=10",
        ),
        ("x-foo, permessage-deflate; client_max_window_bits", "permessage-deflate"),
        ("PerMessage-Deflate", "permessage-deflate"),
    ],
)
def test_fallback_offers(echo, offer, answer):
    with RawWS(echo.port, extensions=offer) as c:
        assert c.extensions == answer
        d, i = Deflater(wbits=15), Inflater()
        c.send_frame(OP_TEXT, d.message(BLOCK.encode()), rsv=RSV1)
        op, rsv, parts = c.recv_message()
        assert rsv == RSV1 and i.message(b"".join(parts)) == BLOCK.encode()


def test_reserved_bits_of_a_compressed_message():
    """libwebsocket_get_reserved_bits in RECEIVE: the frame's RSV bits in
    place, as the classic library kept them (RSV1 = 0x40)."""
    bits: list[int] = []

    def record(context, wsi, reason, user, in_, len_):
        if reason == lws.LWS_CALLBACK_RECEIVE:
            bits.append(lws.libwebsocket_get_reserved_bits(wsi))
            data = lws.payload(in_, len_)
            lws.libwebsocket_write(wsi, data, len(data), lws.LWS_WRITE_TEXT)
        return 0

    with thread_server([("echo", record, 0)], lws.libwebsocket_internal_extensions) as srv:
        with connect(f"ws://127.0.0.1:{srv.port}", compression="deflate") as ws:
            ws.send(BLOCK)
            assert ws.recv(timeout=10) == BLOCK
        with connect(f"ws://127.0.0.1:{srv.port}", compression=None) as ws:
            ws.send("plain")
            assert ws.recv(timeout=10) == "plain"
    # the compressed message may arrive in more than one piece, each with RSV1
    *compressed, plain = bits
    assert compressed and set(compressed) == {0x40} and plain == 0, bits


# ====================================================================== protocols[0] decides


def test_confirm_extension_okay_can_refuse():
    seen: dict[str, Any] = {"confirm": [], "offer": []}

    def first(context, wsi, reason, user, in_, len_):
        if reason == lws.LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
            tokens = ffi.cast("struct lws_tokens *", user)
            tok = tokens[lws.WSI_TOKEN_EXTENSIONS]
            seen["offer"].append(
                ffi.buffer(tok.token, tok.token_len)[:].decode() if tok.token != ffi.NULL else None
            )
        elif reason == lws.LWS_CALLBACK_CONFIRM_EXTENSION_OKAY:
            name = ffi.string(ffi.cast("char *", in_)).decode()
            seen["confirm"].append(name)
            return 1 if name == "permessage-deflate" else 0
        elif reason == lws.LWS_CALLBACK_RECEIVE:
            data = lws.payload(in_, len_)
            lws.libwebsocket_write(wsi, data, len(data), lws.LWS_WRITE_TEXT)
        return 0

    with thread_server([("echo", first, 0)], lws.libwebsocket_internal_extensions) as srv:
        url = f"ws://127.0.0.1:{srv.port}"
        with connect(url, compression="deflate", open_timeout=10) as ws:
            assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
            assert ws.protocol.extensions == []
            ws.send("uncompressed")
            assert ws.recv(timeout=10) == "uncompressed"
    assert seen["confirm"] == ["permessage-deflate"]
    assert seen["offer"] == ["permessage-deflate; client_max_window_bits"]


def test_confirm_extension_okay_zero_accepts():
    calls: list[str] = []

    def first(context, wsi, reason, user, in_, len_):
        if reason == lws.LWS_CALLBACK_CONFIRM_EXTENSION_OKAY:
            calls.append(ffi.string(ffi.cast("char *", in_)).decode())
        elif reason == lws.LWS_CALLBACK_RECEIVE:
            data = lws.payload(in_, len_)
            lws.libwebsocket_write(wsi, data, len(data), lws.LWS_WRITE_TEXT)
        return 0

    with (
        thread_server([("echo", first, 0)], lws.libwebsocket_internal_extensions) as srv,
        connect(f"ws://127.0.0.1:{srv.port}", compression="deflate", open_timeout=10) as ws,
    ):
        assert ws.response.headers["Sec-WebSocket-Extensions"] == "permessage-deflate"
        ws.send(BLOCK)
        assert ws.recv(timeout=10) == BLOCK
    assert calls == ["permessage-deflate"]


# ====================================================================== core bugs


def pausing_echo() -> Any:
    """An echo that pauses reception after each piece until its output has
    drained (rx flow control as a server applies backpressure)."""

    def on_other(context, wsi, reason, user, in_, len_):
        if reason == lws.LWS_CALLBACK_SERVER_WRITEABLE:
            lws.libwebsocket_rx_flow_control(wsi, 1)
        return 0

    echo_cb = Echo(on_other)

    def cb(context, wsi, reason, user, in_, len_):
        rc = echo_cb(context, wsi, reason, user, in_, len_)
        if reason == lws.LWS_CALLBACK_RECEIVE:
            lws.libwebsocket_rx_flow_control(wsi, 0)
            lws.libwebsocket_callback_on_writable(context, wsi)
        return rc

    return cb


def test_rx_flow_control_with_uncompressed_messages():
    """The control for the next test: the same server without compression."""
    message = b"\0" * (300 * 1024)
    with (
        thread_server([("echo", pausing_echo(), 0)], lws.libwebsocket_internal_extensions) as srv,
        connect(f"ws://127.0.0.1:{srv.port}", compression=None, max_size=None) as ws,
    ):
        for _ in range(3):
            ws.send(message)
            assert ws.recv(timeout=5) == message


def test_rx_flow_control_inside_a_compressed_message():
    message = b"\0" * (300 * 1024)  # inflates in several 64 KiB pieces
    with (
        thread_server([("echo", pausing_echo(), 0)], lws.libwebsocket_internal_extensions) as srv,
        connect(f"ws://127.0.0.1:{srv.port}", compression="deflate", max_size=None) as ws,
    ):
        ws.send(message)
        assert ws.recv(timeout=5) == message


# ====================================================================== a browser

try:
    from test_browser import Chromium, DevTools, Page, find_chromium
except ImportError:  # pragma: no cover - the browser test module is missing
    Chromium = DevTools = Page = find_chromium = None  # type: ignore[assignment,misc]

BROWSER_JS = """
(async () => {
  const ws = new WebSocket('ws://' + location.host + '/');
  ws.binaryType = 'arraybuffer';
  const got = [];
  const done = new Promise((resolve, reject) => {
    ws.onmessage = (e) => {
      got.push(typeof e.data === 'string' ? e.data : new Uint8Array(e.data));
      if (got.length === 4) resolve();
    };
    ws.onerror = () => reject(new Error('websocket error'));
    ws.onclose = (e) => reject(new Error('closed ' + e.code));
  });
  await new Promise((resolve) => { ws.onopen = resolve; });
  const big = JSON.stringify(Array.from({length: 3000}, (_, i) => ({id: i, name: 'item ' + i})));
  const bytes = new Uint8Array(100000).map((_, i) => i % 251);
  ws.send('hello from chromium');
  ws.send(big);
  ws.send(bytes);
  ws.send('é€😀');
  await done;
  const sameBytes = got[2].length === bytes.length && got[2].every((v, i) => v === bytes[i]);
  const result = {
    extensions: ws.extensions,
    texts: [got[0], got[1] === big, got[3]],
    binary: sameBytes,
  };
  ws.close(1000);
  return result;
})()
"""


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    exe = find_chromium() if find_chromium else None
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install --no-install-recommends chromium)")
    browser = Chromium(exe, tmp_path_factory.mktemp("chromium-deflate"))
    yield browser
    browser.stop()


def browser_exchange(chromium: Any, url: str) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        devtools = DevTools(await aconnect(chromium.url, max_size=None, open_timeout=10))
        try:
            page = await Page.open(devtools, url)
            return await page.js(BROWSER_JS)
        finally:
            await devtools.close()

    return asyncio.run(asyncio.wait_for(go(), 60))


def test_chromium_negotiates_deflate(chromium, echo):
    result = browser_exchange(chromium, f"http://127.0.0.1:{echo.port}/")
    assert result["extensions"].startswith("permessage-deflate"), result
    assert result["texts"] == ["hello from chromium", True, "é€😀"]
    assert result["binary"] is True


def test_chromium_offer_seen_by_the_server(chromium):
    """Server side: what Chromium offered (FILTER_PROTOCOL_CONNECTION's
    tokens) and that protocols[0] was asked (CONFIRM_EXTENSION_OKAY)."""
    seen: dict[str, list[str]] = {"offer": [], "confirm": []}
    page = b"<!doctype html><title>deflate</title><p>pylws"

    def first(context, wsi, reason, user, in_, len_):
        if reason == lws.LWS_CALLBACK_HTTP:
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n" % len(page)
            )
            lws.libwebsocket_write(wsi, head + page, len(head + page), lws.LWS_WRITE_HTTP)
            return 1
        if reason == lws.LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
            tok = ffi.cast("struct lws_tokens *", user)[lws.WSI_TOKEN_EXTENSIONS]
            if tok.token != ffi.NULL:
                seen["offer"].append(ffi.buffer(tok.token, tok.token_len)[:].decode())
        elif reason == lws.LWS_CALLBACK_CONFIRM_EXTENSION_OKAY:
            seen["confirm"].append(ffi.string(ffi.cast("char *", in_)).decode())
        return 0

    with thread_server([("echo", Echo(first), 0)], lws.libwebsocket_internal_extensions) as srv:
        result = browser_exchange(chromium, f"http://127.0.0.1:{srv.port}/")
    assert result["extensions"].startswith("permessage-deflate"), result
    assert result["texts"] == ["hello from chromium", True, "é€😀"] and result["binary"]
    assert seen["offer"] and "permessage-deflate" in seen["offer"][0], seen
    assert seen["confirm"] == ["permessage-deflate"]

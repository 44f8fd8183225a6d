"""lws_set_whole_messages: a connection that asks for whole messages gets each
in one RECEIVE call, however the peer cut it (pieces of one frame split across
TCP segments, fragments, control frames between them, permessage-deflate),
up to the message size limit (1009 past it); one that does not ask still gets
pieces.  Over real sockets on loopback (tests/support/raw.py's RawWS)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from support.raw import OP_BINARY, OP_CONT, OP_PING, OP_TEXT, RSV1, Deflater, Inflater, RawWS
from support.raw import frame as make_frame
from support.served import thread_server

import pylws_ffi as lws
from pylws_ffi import ffi

MIB = 1 << 20


class Recorder:
    """Records each RECEIVE as (final, binary, bytes) and echoes each whole
    message back as one; asks for whole messages in ESTABLISHED when
    ``whole``.  ``views`` checks the zero-copy view and the 0 byte after."""

    def __init__(self, whole: bool, max_size: int | None = None) -> None:
        self.whole = whole
        self.max_size = max_size
        self.calls: list[tuple[int, int, bytes]] = []
        self.parts: list[bytes] = []

    def __call__(self, context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int):
        if reason == lws.LWS_CALLBACK_ESTABLISHED:
            if self.max_size is not None:
                lws.lws_set_max_message_size(context, self.max_size)
            if self.whole:
                assert lws.lws_set_whole_messages(wsi, True) == 0
        elif reason == lws.LWS_CALLBACK_RECEIVE:
            final = lws.libwebsocket_is_final_fragment(wsi)
            binary = lws.lws_frame_is_binary(wsi)
            view = ffi.buffer(in_, len_ + 1)  # the message, its 0 byte after it
            assert view[len_] == b"\0"
            data = bytes(view[:len_])
            self.calls.append((final, binary, data))
            self.parts.append(data)
            if final:
                whole = b"".join(self.parts)
                self.parts = []
                kind = lws.LWS_WRITE_BINARY if binary else lws.LWS_WRITE_TEXT
                return -1 if lws.libwebsocket_write(wsi, whole, len(whole), kind) < 0 else 0
        return 0


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[Any] = []

    def start(rec: Recorder, extensions: Any = None) -> int:
        cm = thread_server([("echo", rec, 0)], extensions)
        servers.append(cm)
        return cm.__enter__().port

    yield start
    for cm in servers:
        cm.__exit__(None, None, None)


def wait_calls(rec: Recorder, n: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(rec.calls) < n and time.monotonic() < deadline:
        time.sleep(0.01)


def test_one_frame_split_across_segments_comes_whole(serve: Any) -> None:
    rec = Recorder(whole=True)
    port = serve(rec)
    payload = bytes(range(256)) * 4096  # 1 MiB
    data = make_frame(OP_BINARY, payload)
    with RawWS(port) as c:
        for i in range(0, len(data), 7919):  # pieces the server reads one by one
            c.send_raw(data[i : i + 7919])
            if i < 8 * 7919:
                time.sleep(0.002)
        op, _, parts = c.recv_message(timeout=20)
        assert (op, b"".join(parts)) == (OP_BINARY, payload)
    assert [(f, b, len(d)) for f, b, d in rec.calls] == [(1, 1, MIB)]
    assert rec.calls[0][2] == payload


def test_without_the_opt_in_pieces_still_come(serve: Any) -> None:
    rec = Recorder(whole=False)
    port = serve(rec)
    with RawWS(port) as c:
        c.send_frame(OP_TEXT, b"hello ", fin=False)
        wait_calls(rec, 1)
        c.send_frame(OP_CONT, b"world", fin=True)
        op, _, parts = c.recv_message()
        assert (op, b"".join(parts)) == (OP_TEXT, b"hello world")
    assert rec.calls == [(0, 0, b"hello "), (1, 0, b"world")]


def test_fragments_and_pings_between_them(serve: Any) -> None:
    rec = Recorder(whole=True)
    port = serve(rec)
    text = "héllo wörld, ".encode() * 1000
    with RawWS(port) as c:
        pieces = [text[i : i + 1000] for i in range(0, len(text), 1000)]
        for n, piece in enumerate(pieces):
            c.send_frame(OP_TEXT if n == 0 else OP_CONT, piece, fin=n == len(pieces) - 1)
            if n == 2:
                c.send_frame(OP_PING, b"between")
                c.send_frame(OP_CONT, b"", fin=False)  # an empty continuation
        op, _, parts = c.recv_message()
        assert (op, b"".join(parts)) == (OP_TEXT, text)
        # the next message, a one-frame one, is not merged with the last
        c.send_frame(OP_BINARY, b"\x00\x01")
        op, _, parts = c.recv_message()
        assert (op, b"".join(parts)) == (OP_BINARY, b"\x00\x01")
        c.send_frame(OP_TEXT, b"")  # empty message
        op, _, parts = c.recv_message()
        assert (op, b"".join(parts)) == (OP_TEXT, b"")
    assert rec.calls == [(1, 0, text), (1, 1, b"\x00\x01"), (1, 0, b"")]


def test_invalid_utf8_across_fragments_closes_1007(serve: Any) -> None:
    rec = Recorder(whole=True)
    port = serve(rec)
    with RawWS(port) as c:
        c.send_frame(OP_TEXT, b"ok \xc3", fin=False)  # a sequence cut in two: fine
        c.send_frame(OP_CONT, b"\xa9 then \xff", fin=True)  # 0xff never is
        assert c.close_code() == 1007
    assert rec.calls == []


def test_over_the_size_limit_closes_1009(serve: Any) -> None:
    rec = Recorder(whole=True, max_size=100_000)
    port = serve(rec)
    with RawWS(port) as c:
        c.send_frame(OP_BINARY, b"a" * 100_000)  # exactly the limit: delivered
        op, _, parts = c.recv_message()
        assert len(b"".join(parts)) == 100_000
        for n in range(3):
            c.send_frame(OP_CONT if n else OP_BINARY, b"b" * 40_000, fin=False)
            c.send_frame(OP_CONT, b"", fin=False)
        c.send_frame(OP_CONT, b"", fin=True)
        assert c.close_code() == 1009
    assert [len(d) for _, _, d in rec.calls] == [100_000]


def test_permessage_deflate_is_gathered_after_inflate(serve: Any) -> None:
    rec = Recorder(whole=True)
    port = serve(rec, lws.libwebsocket_internal_extensions)
    text = ("the same words, over and over; " * 20000).encode()  # ~600 KB
    with RawWS(port, extensions="permessage-deflate") as c:
        assert c.extensions == "permessage-deflate"
        data = Deflater().message(text)
        cut = 777
        pieces = [data[i : i + cut] for i in range(0, len(data), cut)]
        for n, piece in enumerate(pieces):
            c.send_frame(
                OP_TEXT if n == 0 else OP_CONT,
                piece,
                fin=n == len(pieces) - 1,
                rsv=RSV1 if n == 0 else 0,
            )
        op, rsv, parts = c.recv_message(timeout=20)
        assert (op, rsv) == (OP_TEXT, RSV1)
        assert Inflater().message(b"".join(parts)) == text
    assert [(f, b) for f, b, _ in rec.calls] == [(1, 0)]
    assert rec.calls[0][2] == text


def test_deflate_bomb_over_the_limit_closes_1009(serve: Any) -> None:
    rec = Recorder(whole=True, max_size=MIB)
    port = serve(rec, lws.libwebsocket_internal_extensions)
    with RawWS(port, extensions="permessage-deflate") as c:
        c.send_frame(OP_BINARY, Deflater().message(bytes(4 * MIB)), rsv=RSV1)
        assert c.close_code() == 1009
    assert rec.calls == []


def test_null_wsi_is_refused() -> None:
    with pytest.raises(ValueError):
        lws.lws_set_whole_messages(ffi.NULL, 1)

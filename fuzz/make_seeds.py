#!/usr/bin/env python3
"""Write the seed corpora (fuzz/corpus/<fuzzer>/) and the reproducers of
issue 10's defects (fuzz/regressions/<fuzzer>/).  The files are committed;
run this again only to change them:  python3 fuzz/make_seeds.py
Each input starts with the harness's header bytes (see the fuzz_*.c)."""

from __future__ import annotations

import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEY_ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455's sample key's accept value


def frame(op: int, payload: bytes, *, fin: bool = True, rsv1: bool = False, mask: bool) -> bytes:
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | op
    m = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 65536:
        head = bytes([b0, m | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, m | 127]) + n.to_bytes(8, "big")
    return head + (b"\0\0\0\0" if mask else b"") + payload  # a zero mask key


def deflate_sync(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-15)
    return (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


def deflate_final(data: bytes) -> bytes:
    """What zlib's Z_FINISH makes: the last block has BFINAL set (7 bytes for b"hello")."""
    c = zlib.compressobj(wbits=-15)
    return c.compress(data) + c.flush(zlib.Z_FINISH)


BFINAL_HELLO = deflate_final(b"hello")
assert len(BFINAL_HELLO) == 7

UPGRADE = (
    b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
)
ANSWER = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: " + KEY_ACCEPT + b"\r\nSec-WebSocket-Protocol: fuzz\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n"
)
PIPELINED = b"GET / HTTP/1.1\r\n\r\n" * 4000  # 72,000 bytes in one write (defect 2)


def fragments(op: int, parts: list[bytes], *, mask: bool, rsv1: bool = False) -> bytes:
    """One message in len(parts) frames (RSV1 on the first only, as permessage-deflate)."""
    return b"".join(
        frame(op if i == 0 else 0, part, fin=i == len(parts) - 1, rsv1=rsv1 and i == 0, mask=mask)
        for i, part in enumerate(parts)
    )


def cut(data: bytes, n: int) -> list[bytes]:
    """data in n pieces of about the same size."""
    step = -(-len(data) // n)
    return [data[i : i + step] for i in range(0, len(data), step)]


def whole_seeds(mask: bool) -> dict[str, bytes]:
    """Inputs for the connection harnesses' whole-message mode (connfuzz.h): mode
    & 0x20 plays the input in pieces and whole, mode >> 6 the size limit (0 = 1 MiB,
    1 = none, 2 = 100 bytes, 3 = 4096 bytes); mode & 1 = upgrade/101 first,
    (mode >> 1) & 7 the extension (1 = permessage-deflate, 3 = deflate-frame)."""
    text = "fragmented text: h\u00e9llo \u20ac".encode()
    big = b"abcdefgh" * 40  # 320 bytes, compresses well
    return {
        # text in four fragments (the é cut in two), chunked by the rng bytes
        "whole_fragments": b"\x21\x04\x03\x01\x07\x02"
        + fragments(1, [text[:5], text[5:19], text[19:], b""], mask=mask)
        + frame(2, b"\x00\x01binary one piece", mask=mask),
        # a ping and a pong between the fragments
        "whole_ping_between": b"\x21\x00"
        + frame(1, b"hel", fin=False, mask=mask)
        + frame(9, b"ping", mask=mask)
        + frame(0, b"lo", fin=False, mask=mask)
        + frame(10, b"", mask=mask)
        + frame(0, b" world", mask=mask)
        + frame(1, b"next", mask=mask),
        # a compressed message in three frames (permessage-deflate)
        "whole_pmd_fragments": b"\x23\x02\x05\x02"
        + fragments(1, cut(deflate_sync(big), 3), mask=mask, rsv1=True)
        + frame(1, deflate_sync(b"one piece"), rsv1=True, mask=mask),
        # deflate-frame: each fragment compressed on its own
        "whole_deflate_frame": b"\x27\x00"
        + frame(2, deflate_sync(b"first "), fin=False, rsv1=True, mask=mask)
        + frame(0, b"plain ", fin=False, mask=mask)
        + frame(0, deflate_sync(b"last"), rsv1=True, mask=mask),
        # over the 100-byte limit in fragments: 1009 with 60 bytes gathered
        "whole_over_limit": b"\xa1\x00" + fragments(2, [bytes(60), bytes(60)], mask=mask),
        # over the 100-byte limit after inflating (320 bytes from a few)
        "whole_pmd_over_limit": b"\xa3\x00"
        + fragments(1, cut(deflate_sync(big), 2), mask=mask, rsv1=True),
        # no limit (message.c's own bound, 64 MiB, is not reached from a seed: an
        # input inflating to 64 MiB takes 0.5 s and its mutations slowed the
        # fuzzer 15-fold; tests/test_echo_whole.py sends that one)
        "whole_no_limit": b"\x63\x00"
        + fragments(2, cut(deflate_sync(big * 4), 3), mask=mask, rsv1=True),
    }


SEEDS: dict[str, dict[str, bytes]] = {
    "fuzz_frame": {
        # [cfg][maxsz][rng_len] then the stream; cfg 0x05 = server, RSV1 allowed
        "text": b"\x01\x00\x00" + frame(1, b"hello", mask=True),
        "fragmented": b"\x01\x00\x04\x01\x02\x03\x04"
        + frame(1, b"hel", fin=False, mask=True)
        + frame(9, b"ping", mask=True)
        + frame(0, "lo \u00e9".encode(), mask=True),
        "close": b"\x01\x00\x00" + frame(8, b"\x03\xe8bye", mask=True),
        "long16": b"\x01\x00\x02\x07\x01" + frame(2, bytes(300), mask=True),
        "client": b"\x00\x10\x00" + frame(2, b"abc", mask=False) + frame(10, b"", mask=False),
        "rsv1": b"\x05\x00\x00" + frame(1, b"\xff\xfe", rsv1=True, mask=True),
        "bad_utf8": b"\x01\x00\x03\x01\x01\x01" + frame(1, b"ab\xc3", mask=True),
    },
    "fuzz_http": {
        "request": b"\x00\x10" + UPGRADE,
        "get": b"\x00\x05GET /index.html?x=1 HTTP/1.0\r\nHost: a\r\nAccept: */*\r\n\r\n",
        "response": b"\x00\x20" + ANSWER,
        "bare_lf": b"\x00\x03HTTP/1.1 404\nContent-Length: 0\n\n",
        "pipelined": b"\x00\x12" + PIPELINED[: 18 * 50],
    },
    "fuzz_client_answer": {
        "ok": ANSWER,
        "deflate_frame": ANSWER.replace(
            b"permessage-deflate; server_no_context_takeover", b"deflate-frame"
        ),
        "no_ext": ANSWER.replace(
            b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n", b""
        ),
        "wrong_accept": ANSWER.replace(KEY_ACCEPT, b"x" * 28),
    },
    "fuzz_ext_negotiate": {
        # [mode % 3: 0 offer, 1 answer, 2 parameters]
        "offer": b"\x00permessage-deflate; client_max_window_bits, deflate-frame",
        "offer2": b"\x00x-webkit-deflate-frame; no_context_takeover; max_window_bits=10",
        "offer3": b'\x00permessage-deflate; server_max_window_bits="10"; '
        b"server_no_context_takeover, deflate-stream",
        "answer": b"\x01permessage-deflate; server_no_context_takeover; client_max_window_bits=9",
        "params": b"\x02client_max_window_bits;server_max_window_bits=12",
    },
    "fuzz_inflate": {
        # [mode][rng_len]: mode & 3 = extension, & 4 = round trip, >> 3 = parameters
        "pmd": b"\x00\x00" + deflate_sync(b"hello hello hello"),
        "pmd_chunked": b"\x00\x04\x02\x05\x01\x07" + deflate_sync(b"abcabcabcabc" * 20),
        "frame": b"\x01\x00" + deflate_sync(b"hello"),
        "stream": b"\x02\x00" + deflate_sync(bytes([0x81, 5]) + b"hello"),
        "rt_pmd": b"\x04\x03\x10\x20\x30" + b"the quick brown fox " * 10,
        "rt_pmd_nct": b"\x0c\x00" + b"jumps over the lazy dog " * 5,
        "rt_frame": b"\x05\x02\x40\x09" + b"deflate-frame " * 8,
        "rt_stream": b"\x06\x01\x30" + b"deflate-stream " * 8,
    },
    "fuzz_utf8": {
        "ascii": b"\x00hello world",
        "mixed": b"\x03\x01\x02\x03" + "h\u00e9llo \u20ac \U0001f600".encode(),
        "surrogate": b"\x00\xed\xa0\x80",
        "overlong": b"\x00\xc0\xaf\xe0\x80\xaf",
        "too_big": b"\x00\xf4\x90\x80\x80",
    },
    "fuzz_base64": {
        "text": b"\x20hello world",
        "binary": b"\x08" + bytes(range(256)),
        "encoded": b"\x10aGVsbG8gd29ybGQ=",
        "padding": b"\x04YQ==",
    },
    "fuzz_conn_server": {
        # [mode][rng_len]: mode & 1 = the harness sends the upgrade first
        "http": b"\x00\x00GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n",
        "upgrade_raw": b"\x00\x00" + UPGRADE + frame(1, b"hello", mask=True),
        "echo": b"\x13\x00" + frame(1, b"hello", mask=True) + frame(8, b"\x03\xe8", mask=True),
        "pmd": b"\x03\x00" + frame(1, deflate_sync(b"hello"), rsv1=True, mask=True),
        "deflate_frame": b"\x07\x00" + frame(1, deflate_sync(b"hello"), rsv1=True, mask=True),
        "deflate_stream": b"\x0b\x00" + deflate_sync(frame(1, b"hello", mask=True)),
        "fragments": b"\x03\x03\x05\x01\x09"
        + frame(1, b"hel", fin=False, mask=True)
        + frame(9, b"p", mask=True)
        + frame(0, b"lo", mask=True),
        **whole_seeds(mask=True),
    },
    "fuzz_conn_client": {
        # [mode][rng_len]: mode & 1 = the harness answers 101 first
        "echo": b"\x01\x00" + frame(1, b"hello", mask=False) + frame(9, b"", mask=False),
        "pmd": b"\x03\x00" + frame(1, deflate_sync(b"hello"), rsv1=True, mask=False),
        "deflate_frame": b"\x07\x00" + frame(2, deflate_sync(b"hi"), rsv1=True, mask=False),
        "deflate_stream": b"\x0b\x00" + deflate_sync(frame(1, b"hello", mask=False)),
        "raw_answer": b"\x00\x00"
        + ANSWER.replace(KEY_ACCEPT, b"{A}")
        + frame(1, b"hello", mask=False),
        **whole_seeds(mask=False),
    },
}

# issue 10's defects, one reproducer per harness that can see it
REGRESSIONS: dict[str, dict[str, bytes]] = {
    "fuzz_inflate": {
        # defect 1: a permessage-deflate message whose last block has BFINAL set
        "defect1-pmd-bfinal-hello": b"\x00\x00" + BFINAL_HELLO,
        "defect1-deflate-frame-bfinal-hello": b"\x01\x00" + BFINAL_HELLO,
        "defect1-deflate-stream-bfinal-hello": b"\x02\x00" + BFINAL_HELLO,
    },
    "fuzz_conn_server": {
        "defect1-pmd-bfinal-hello": b"\x03\x00" + frame(1, BFINAL_HELLO, rsv1=True, mask=True),
        "defect1-deflate-frame-bfinal-hello": b"\x07\x00"
        + frame(1, BFINAL_HELLO, rsv1=True, mask=True),
        # defect 2: pipelined requests answered inline recurse once each
        "defect2-pipelined-4000": b"\x00\x00" + PIPELINED,
    },
    "fuzz_conn_client": {
        "defect1-pmd-bfinal-hello": b"\x03\x00" + frame(1, BFINAL_HELLO, rsv1=True, mask=False),
    },
    "fuzz_http": {
        "defect2-pipelined-4000": b"\x00\x12" + PIPELINED,
    },
    "fuzz_ext_negotiate": {
        # defect 7: parse_params steps past the NUL of a name holding a quote
        "defect7-parse-params-quote": b'\x02a"="10',
        "defect7-offer-quote": b'\x00permessage-deflate; a"="10',
    },
}


def write(tree: dict[str, dict[str, bytes]], top: str) -> None:
    for fuzzer, files in tree.items():
        d = HERE / top / fuzzer
        d.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (d / name).write_bytes(data)


if __name__ == "__main__":
    write(SEEDS, "corpus")
    write(REGRESSIONS, "regressions")

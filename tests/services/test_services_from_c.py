"""The server services: from C only (their Python side is test_server_api.py's):
LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION and
libwebsockets_remaining_packet_payload.

Run as ``[python]`` and ``[c]`` where both implement it; the harness and
what the two are: tests/support/services.py.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import time
from pathlib import Path
from typing import Any

from support.raw import LOCAL, MIB, RawWs, frame, read_to_eof
from support.services import Target, http_get, read_head, read_response

# ================================================ 11. FILTER_PROTOCOL_CONNECTION, from C

# (The same from Python is test_server_api.py's; here services_helper.c reads
# the tokens as a classic C program does, under the sanitizers.)

FILTER_TOKENS = [
    "uri", "host", "origin", "protocol", "upgrade", "connection", "key", "version",
    "sworigin", "extensions", "key1", "key2", "draft", "accept", "nonce",
]  # fmt: skip


def parse_filter(line: str) -> dict[str, Any]:
    """services_helper.c's "filter P FD wsi=Q in=I len=L nul=N name=[v]|name=- ..."
    as {"to", "fd", "wsi", "in", "len", "nul", name: value or None}."""
    m = re.fullmatch(r"filter (\S+) (\d+) wsi=(\S+) in=(\d) len=(\d+) nul=(\d)(.*)", line)
    assert m, line
    got: dict[str, Any] = {
        "to": m.group(1),
        "fd": int(m.group(2)),
        "wsi": m.group(3),
        "in": int(m.group(4)),
        "len": int(m.group(5)),
        "nul": int(m.group(6)),
    }
    rest = m.group(7)
    for name in FILTER_TOKENS:
        t = re.match(rf" {name}=(?:-|\[([^\]]*)\])", rest)
        assert t, (name, rest)
        got[name] = t.group(1)
        rest = rest[t.end() :]
    assert rest == "", rest
    return got


def ws_request(path: str, *headers: str, key: str | None = None, version: int = 13) -> bytes:
    """An upgrade request with exactly these extra header lines."""
    key = key or base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        f"Sec-WebSocket-Version: {version}",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def filter_of(t: Target, request: bytes) -> tuple[dict[str, Any], int, dict[str, str], bytes]:
    """Send request on a new connection: (the filter's tokens, the answer's
    status and headers, its body up to EOF for a refusal).  A 101 is closed
    again at once."""
    before = len(t.matching(r"filter .*"))
    with socket.create_connection((LOCAL, t.port), timeout=10) as s:
        s.sendall(request)
        buf = bytearray()
        status, headers = read_head(s, buf)
        body = bytes(buf) + read_to_eof(s) if status != 101 else b""
    line = t.wait_lines(r"filter .*", before + 1)[before].group(0)
    return parse_filter(line), status, headers, body


def test_c_filter_goes_to_the_asked_protocol_with_c_string_tokens(c_helper: Any, www: Path) -> None:
    t = c_helper("serve", str(www))
    key = base64.b64encode(os.urandom(16)).decode()
    got, status, headers, _ = filter_of(
        t,
        ws_request(
            "/chat/room?id=7&x=%20y",
            "Host: example.test:8080",
            "Origin: http://origin.test",
            "Sec-WebSocket-Protocol: nonesuch, svc-b",
            key=key,
        ),
    )
    assert status == 101 and headers["sec-websocket-protocol"] == "svc-b"
    # svc-b's own callback, not protocols[0]'s, and the connection is svc-b's
    # already (libwebsockets_get_protocol in the filter, as classically)
    assert got["to"] == "svc-b" and got["wsi"] == "svc-b"
    # user = the tokens; in = NULL, len = 0; each token ends at its token_len
    assert got["in"] == 0 and got["len"] == 0 and got["nul"] == 1
    assert got["uri"] == "/chat/room?id=7&x=%20y"
    assert got["host"] == "example.test:8080"
    assert got["origin"] == "http://origin.test"
    assert got["protocol"] == "nonesuch, svc-b"
    assert got["key"] == key and got["version"] == "13"
    assert got["upgrade"] == "websocket" and got["connection"] == "Upgrade"
    for absent in ("sworigin", "extensions", "key1", "key2", "draft", "accept", "nonce"):
        assert got[absent] is None, (absent, got[absent])
    t.wait_line(rf"established svc-b {got['fd']}")

    # no protocol asked for: protocols[0]'s, and no Origin/Protocol tokens
    got, status, _, _ = filter_of(t, ws_request("/", "Host: h"))
    assert status == 101
    assert (got["to"], got["wsi"], got["uri"], got["host"]) == ("http", "http", "/", "h")
    assert got["origin"] is None and got["protocol"] is None and got["nul"] == 1

    # names in any case, blanks around values, the last header's value ending
    # at the CR before the blank line, an empty value (present: "")
    got, status, _, _ = filter_of(
        t,
        (
            "GET /x HTTP/1.1\r\nhost:   spaced.test  \r\nUPGRADE: websocket\r\n"
            "connection: keep-alive, Upgrade\r\nsec-websocket-version: 13\r\n"
            "Sec-WebSocket-Extensions:\r\norigin:\thttp://tab.test\t\r\n"
            f"sec-websocket-key: {key}\r\nSec-WebSocket-Protocol: svc-a\r\n\r\n"
        ).encode(),
    )
    assert status == 101 and (got["to"], got["wsi"]) == ("svc-a", "svc-a")
    assert got["host"] == "spaced.test" and got["origin"] == "http://tab.test"
    assert got["upgrade"] == "websocket" and got["connection"] == "keep-alive, Upgrade"
    assert got["protocol"] == "svc-a" and got["extensions"] == "" and got["nul"] == 1

    # version 8 (hybi-10) names its origin Sec-WebSocket-Origin
    got, status, _, _ = filter_of(
        t, ws_request("/v8", "Host: h", "Sec-WebSocket-Origin: http://old.test", version=8)
    )
    assert status == 101 and got["version"] == "8"
    assert got["sworigin"] == "http://old.test" and got["origin"] is None

    # one filter per upgrade, none for plain HTTP
    with socket.create_connection((LOCAL, t.port), timeout=10) as s:
        s.sendall(http_get("/small.txt"))
        assert read_response(s, bytearray())[0] == 200
    t.wait_line(r"completion \d+ /small\.txt")
    assert len(t.matching(r"filter .*")) == 4
    assert len(t.matching(r"established .*")) == 4


def test_c_filter_returning_nonzero_refuses_with_403(c_helper: Any, www: Path) -> None:
    t = c_helper("serve", str(www))
    got, status, headers, body = filter_of(
        t, ws_request("/refuse/this", "Host: h", "Sec-WebSocket-Protocol: svc-a")
    )
    assert status == 403, (status, headers, body)
    assert got["to"] == "svc-a" and got["uri"] == "/refuse/this"
    assert int(headers["content-length"]) == len(body)  # then EOF
    assert "sec-websocket-accept" not in headers

    # refused behind a file on a keep-alive connection (whose per-session
    # area protocols[0] had)
    with socket.create_connection((LOCAL, t.port), timeout=10) as s:
        s.sendall(http_get("/small.txt") + ws_request("/refuse", "Host: h"))
        buf = bytearray()
        assert read_response(s, buf)[0] == 200
        assert read_response(s, buf)[0] == 403
        assert bytes(buf) + read_to_eof(s) == b""
    t.wait_lines(r"filter http \d+ .* uri=\[/refuse\] .*", 1)

    # a refused connection was never established: no ESTABLISHED, no CLOSED
    ws, fd = t.connect("svc-a")  # and the server goes on
    ws.send_text("still here")
    assert ws.next_text() == "still here"
    ws.close()
    t.wait_line(rf"closed svc-a {fd}")
    assert [m.group(0) for m in t.matching(r"(established|closed) .*")] == [
        f"established svc-a {fd}",
        f"closed svc-a {fd}",
    ]
    assert len(t.matching(r"filter .*")) == 3


# ============================================ 12. remaining_packet_payload, from C


def rx_pieces(t: Target, fd: int, count: int) -> list[tuple[int, int, int]]:
    """The first ``count`` "rx FD LEN REMAINING FINAL" lines for fd."""
    return [
        (int(m.group(1)), int(m.group(2)), int(m.group(3)))
        for m in t.wait_lines(rf"rx {fd} (\d+) (\d+) (\d)", count)
    ]


def frames_of(pieces: list[tuple[int, int, int]]) -> list[list[tuple[int, int, int]]]:
    """Pieces grouped by frame: a frame ends at the piece with 0 remaining."""
    frames: list[list[tuple[int, int, int]]] = [[]]
    for p in pieces:
        frames[-1].append(p)
        if p[1] == 0:
            frames.append([])
    assert frames[-1] == [], f"pieces after the last frame's end: {frames[-1]}"
    return frames[:-1]


def check_countdown(frame_pieces: list[tuple[int, int, int]], frame_len: int) -> None:
    got = 0
    for length, remaining, _ in frame_pieces:
        assert length > 0, frame_pieces
        got += length
        assert got + remaining == frame_len, (got, remaining, frame_len)
    assert frame_pieces[-1][1] == 0


def send_slowly(ws: RawWs, data: bytes, chunk: int = 64 * 1024) -> None:
    """In chunks a little apart, so that a frame arrives in several reads."""
    for i in range(0, len(data), chunk):
        ws.sock.sendall(data[i : i + chunk])
        time.sleep(0.002)


def test_c_remaining_packet_payload_counts_down_over_the_pieces(c_helper: Any, www: Path) -> None:
    t = c_helper("serve", str(www))
    ws, fd = t.connect("svc-a")
    ws.send_text("rxlog")
    assert ws.next_text() == "rxlog"
    t.wait_line(rf"ok rxlog {fd}")
    seen = 0

    # one large binary frame
    big = 3 * MIB + 123
    send_slowly(ws, frame(0x2, os.urandom(big)))
    assert ws.next_text(30) == f"rx-done {big}"
    t.wait_line(rf"rx {fd} \d+ 0 1")
    pieces = rx_pieces(t, fd, len(t.matching(rf"rx {fd} .*")))
    [only] = frames_of(pieces)
    assert len(only) > 1, "a 3 MiB frame came in one RECEIVE"
    check_countdown(only, big)
    assert [p[2] for p in only] == [0] * (len(only) - 1) + [1]
    seen = len(pieces)

    # a message of two frames: the count is per frame, FINAL only at the end
    first, second = MIB + 7, 2 * MIB
    send_slowly(ws, frame(0x2, os.urandom(first), fin=False) + frame(0x0, os.urandom(second)))
    assert ws.next_text(30) == f"rx-done {first + second}"
    t.wait_lines(rf"rx {fd} \d+ 0 1", 2)
    pieces = rx_pieces(t, fd, len(t.matching(rf"rx {fd} .*")))[seen:]
    one, two = frames_of(pieces)
    check_countdown(one, first)
    check_countdown(two, second)
    assert all(p[2] == 0 for p in one)
    assert [p[2] for p in two] == [0] * (len(two) - 1) + [1]
    seen += len(pieces)

    # a small frame: one piece, nothing remaining
    ws.send(0x1, b"0123456789")
    assert ws.next_text() == "rx-done 10"
    t.wait_lines(rf"rx {fd} \d+ 0 1", 3)
    assert rx_pieces(t, fd, seen + 1)[seen:] == [(10, 0, 1)]
    ws.close()
    t.wait_line(rf"closed svc-a {fd}")

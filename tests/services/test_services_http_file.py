"""The server services: libwebsockets_serve_http_file (+ _fragment, HTTP_FILE_COMPLETION, keep-alive
and pipelining).

Run as ``[python]`` and ``[c]`` where both implement it; the harness and
what the two are: tests/support/services.py.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import socket
import struct
import time
from pathlib import Path
from typing import Any

import pytest
from support.net import wait_for
from support.raw import LOCAL, MIB, RawWs, read_to_eof, text
from support.services import (
    BIG_FILE_SIZE,
    content_type_of,
    http_get,
    is_open,
    open_fds,
    read_head,
    read_response,
    rss,
)

import pylws_ffi as lws

# ====================================================== 1. serve_http_file


@pytest.mark.parametrize("name", ["small.txt", "page.html", "empty.txt", "mid.bin"])
def test_serve_http_file_sends_status_type_length_and_body(
    services: Any, www: Path, name: str
) -> None:
    t = services()
    with socket.create_connection((LOCAL, t.port), timeout=10) as s:
        s.sendall(http_get("/" + name))
        status, headers, body = read_response(s, bytearray())
        m = t.wait_line(rf"completion (\d+) /{re.escape(name)}")
        assert is_open(s), "HTTP/1.1 without Connection: close must stay open"
    assert status == 200
    assert headers["content-type"] == content_type_of(name)
    assert headers["content-length"] == str((www / name).stat().st_size)
    assert body == (www / name).read_bytes()
    fd = m.group(1)
    assert t.matching(rf"serve {fd} /{re.escape(name)} 0")
    time.sleep(0.1)
    assert len(t.matching(r"completion .*")) == 1


def test_serve_http_file_accepts_str_bytes_and_path_and_checks_types(serve: Any, www: Path) -> None:
    results: list[Any] = []
    forms: list[Any] = [str(www / "small.txt"), os.fsencode(www / "small.txt"), www / "small.txt"]

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_HTTP:
            i = int(lws.payload(in_, len_)[1:])
            if i == 3:
                try:
                    lws.libwebsockets_serve_http_file(ctx, wsi, 42, "text/plain")
                except TypeError as e:
                    results.append(("TypeError", str(e)))
                return 1  # nothing written: 404
            kind = [b"text/plain", "text/plain", b"text/plain"][i]
            results.append(lws.libwebsockets_serve_http_file(ctx, wsi, forms[i], kind))
        return 0

    server = serve([("http", cb, 0)])
    for i in range(3):
        with socket.create_connection((LOCAL, server.port), timeout=10) as s:
            s.sendall(http_get(f"/{i}"))
            status, headers, body = read_response(s, bytearray())
            assert (status, headers["content-type"], body) == (200, "text/plain", b"hello, file\n")
    with socket.create_connection((LOCAL, server.port), timeout=10) as s:
        s.sendall(http_get("/3"))
        assert read_to_eof(s).startswith(b"HTTP/1.1 404 ")
    assert results[:3] == [0, 0, 0]
    assert results[3][0] == "TypeError"


def test_serve_http_file_content_type_none_is_octet_stream_as_null_in_c(
    serve: Any, www: Path
) -> None:
    """content_type None is C's NULL: application/octet-stream (the default
    of native/src/http_file.c); bad values raise before C is called."""
    results: list[Any] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_HTTP:
            path = lws.payload(in_, len_)
            if path == b"/bad":
                for args, exc in [
                    (("text/plain\r\nX-Injected: 1",), ValueError),
                    (("text\0plain",), ValueError),
                    ((42,), TypeError),
                ]:
                    with pytest.raises(exc) as info:
                        lws.libwebsockets_serve_http_file(ctx, wsi, www / "small.txt", *args)
                    results.append((exc.__name__, str(info.value)))
                with pytest.raises(ValueError, match="NUL"):
                    lws.libwebsockets_serve_http_file(ctx, wsi, b"small\0.txt", None)
                return 1  # nothing written: 404
            if path == b"/default":  # content_type left out
                results.append(lws.libwebsockets_serve_http_file(ctx, wsi, www / "small.txt"))
            else:
                results.append(lws.libwebsockets_serve_http_file(ctx, wsi, www / "small.txt", None))
        return 0

    server = serve([("http", cb, 0)])
    for path in ("/none", "/default"):
        with socket.create_connection((LOCAL, server.port), timeout=10) as s:
            s.sendall(http_get(path))
            status, headers, body = read_response(s, bytearray())
        assert (status, headers["content-type"], body) == (
            200,
            "application/octet-stream",
            b"hello, file\n",
        )
    with socket.create_connection((LOCAL, server.port), timeout=10) as s:
        s.sendall(http_get("/bad"))
        assert read_to_eof(s).startswith(b"HTTP/1.1 404 ")
    assert results[:2] == [0, 0]
    assert [kind for kind, _ in results[2:]] == ["ValueError", "ValueError", "TypeError"], results
    assert "CR or LF" in results[2][1] and "content_type" in results[4][1]


@pytest.mark.parametrize("name", ["missing.txt", "adir", "adir/"])
def test_serve_http_file_of_a_missing_file_or_a_directory_gives_404_and_nonzero(
    services: Any, name: str
) -> None:
    t = services()
    with socket.create_connection((LOCAL, t.port), timeout=10) as s:
        s.sendall(http_get("/" + name))
        data = read_to_eof(s)
    assert data.startswith(b"HTTP/1.1 404 "), data[:200]
    m = t.wait_line(rf"serve \d+ /{re.escape(name)} (-?\d+)")
    assert int(m.group(1)) != 0, "serve_http_file returned 0 for a file it could not serve"
    time.sleep(0.2)
    assert t.matching(r"completion .*") == [], "FILE_COMPLETION for a file never sent"


@pytest.mark.parametrize("pipelined", [False, True], ids=["one-by-one", "pipelined"])
def test_keep_alive_serves_files_in_order_with_one_completion_each(
    services: Any, www: Path, pipelined: bool
) -> None:
    t = services()
    names = ["mid.bin", "small.txt", "page.html", "empty.txt", "mid.bin"]
    with socket.create_connection((LOCAL, t.port), timeout=20) as s:
        buf = bytearray()
        got = []
        if pipelined:
            s.sendall(b"".join(http_get("/" + n) for n in names))
            got = [read_response(s, buf) for _ in names]
        else:
            for n in names:
                s.sendall(http_get("/" + n))
                got.append(read_response(s, buf))
                # the completion comes before the next request is read
                t.wait_lines(r"completion \d+ /.*", len(got))
        assert is_open(s)
        assert bytes(buf) == b""
    for n, (status, headers, body) in zip(names, got):
        assert status == 200
        assert headers["content-type"] == content_type_of(n)
        assert body == (www / n).read_bytes(), f"{n}: wrong body"
    completions = t.wait_lines(r"completion (\d+) (\S+)", len(names))
    time.sleep(0.2)
    completions = t.matching(r"completion (\d+) (\S+)")
    assert [m.group(2) for m in completions] == ["/" + n for n in names]
    assert len({m.group(1) for m in completions}) == 1, "not one connection"


def test_upgrade_pipelined_behind_a_file_request(services: Any, www: Path) -> None:
    """A file request, then a WebSocket upgrade and a frame, in one write:
    the file, then the 101, then the echo."""
    t = services()
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection((LOCAL, t.port), timeout=10) as s:
        s.sendall(
            http_get("/mid.bin")
            + (
                f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Protocol: svc-a\r\n\r\n"
            ).encode()
            + text("behind a file")
        )
        buf = bytearray()
        assert read_response(s, buf)[2] == (www / "mid.bin").read_bytes()
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            assert chunk, bytes(buf)
            buf += chunk
        head, _, rest = bytes(buf).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        ws = RawWs(s, rest)
        assert ws.next_text() == "behind a file"
    t.wait_line(r"completion \d+ /mid\.bin")
    t.wait_line(r"established svc-a \d+")


def test_callback_returning_1_after_serve_closes_only_after_the_whole_file(
    services: Any, www: Path
) -> None:
    t = services()
    with socket.create_connection((LOCAL, t.port), timeout=20) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        s.sendall(http_get("/close/mid.bin"))
        time.sleep(0.3)  # the server is choked: the rest waits in its file
        data = read_to_eof(s, 20)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert body == (www / "mid.bin").read_bytes(), f"{len(body)} bytes of {3 * MIB + 123}"
    t.wait_line(r"completion \d+ /close/mid\.bin")
    time.sleep(0.2)
    assert len(t.matching(r"completion .*")) == 1


def test_connection_close_or_http10_closes_after_the_file(services: Any, www: Path) -> None:
    t = services()
    for request in (
        http_get("/page.html", "Connection: close\r\n"),
        http_get("/page.html", version="1.0"),
    ):
        with socket.create_connection((LOCAL, t.port), timeout=10) as s:
            s.sendall(request)
            data = read_to_eof(s)
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and body == (www / "page.html").read_bytes()
    t.wait_lines(r"completion \d+ /page\.html", 2)


def test_file_completion_returning_nonzero_closes_the_connection(serve: Any, www: Path) -> None:
    calls: list[int] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_HTTP:
            assert lws.libwebsockets_serve_http_file(ctx, wsi, www / "page.html", "text/html") == 0
        elif reason == lws.LWS_CALLBACK_HTTP_FILE_COMPLETION:
            calls.append(lws.libwebsocket_get_socket_fd(wsi))
            return 1
        return 0

    server = serve([("http", cb, 0)])
    with socket.create_connection((LOCAL, server.port), timeout=10) as s:
        s.sendall(http_get("/x"))  # keep-alive, but the callback says close
        data = read_to_eof(s)
    assert data.partition(b"\r\n\r\n")[2] == (www / "page.html").read_bytes()
    assert len(calls) == 1


def test_serve_http_file_fragment_with_no_file_returns_minus_one(services: Any) -> None:
    t = services()
    # in the HTTP callback, before anything is served
    with socket.create_connection((LOCAL, t.port), timeout=10) as s:
        s.sendall(http_get("/fragment"))
        data = read_to_eof(s)
    assert data.endswith(b"\r\n\r\nfragment=-1"), data
    # on a WebSocket connection
    ws, fd = t.connect("svc-a")
    ws.send_text("fragment")
    assert ws.next_text() == "fragment -1"
    assert [m.group(1) for m in t.wait_lines(r"fragment \d+ (-?\d+)", 2)] == ["-1", "-1"]
    ws.close()


def test_serve_http_file_fragment_after_the_file_is_sent_returns_minus_one(
    serve: Any, www: Path
) -> None:
    got: list[int] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_HTTP:
            lws.libwebsockets_serve_http_file(ctx, wsi, www / "small.txt", "text/plain")
        elif reason == lws.LWS_CALLBACK_HTTP_FILE_COMPLETION:
            got.append(lws.libwebsockets_serve_http_file_fragment(ctx, wsi))
        return 0

    server = serve([("http", cb, 0)])
    with socket.create_connection((LOCAL, server.port), timeout=10) as s:
        s.sendall(http_get("/small.txt"))
        assert read_response(s, bytearray())[2] == b"hello, file\n"
        wait_for(lambda: got, what="FILE_COMPLETION")
    assert got == [-1]


def test_serve_http_file_on_a_websocket_fails_and_the_connection_goes_on(
    services: Any,
) -> None:
    t = services()
    ws, fd = t.connect("svc-a")
    ws.send_text("servefile")
    reply = ws.next_text()
    assert re.fullmatch(r"servefile -?\d+", reply) and reply != "servefile 0", reply
    ws.send_text("still a websocket?")
    assert ws.next_text() == "still a websocket?"
    ws.close()


@pytest.mark.parametrize("count", [40, 400])
def test_many_pipelined_file_requests_are_all_answered_in_order(
    services: Any, www: Path, count: int
) -> None:
    """400 requests of ~130 bytes: more than one request head's worth (16 KiB)
    arrives while the first file is going out."""
    t = services()
    names = ["small.txt", "page.html"]
    pad = "X-Padding: " + "p" * 80 + "\r\n"
    with socket.create_connection((LOCAL, t.port), timeout=20) as s:
        s.sendall(b"".join(http_get("/" + names[i % 2], pad) for i in range(count)))
        buf = bytearray()
        for i in range(count):
            try:
                status, _, body = read_response(s, buf)
            except (EOFError, ConnectionResetError, AssertionError) as e:
                raise AssertionError(f"request {i} of {count} unanswered: {e!r}") from None
            assert status == 200, (i, status, body[:100])
            assert body == (www / names[i % 2]).read_bytes(), i
    t.wait_lines(r"completion .*", count)


def test_concurrent_downloads_on_several_connections(services: Any, www: Path) -> None:
    t = services()
    socks = [socket.create_connection((LOCAL, t.port), timeout=20) for _ in range(4)]
    for i, s in enumerate(socks):
        s.sendall(http_get(["/mid.bin", "/page.html"][i % 2]) + http_get("/mid.bin"))
    for i, s in enumerate(socks):  # each read whole while the others wait
        buf = bytearray()
        first = read_response(s, buf)[2]
        assert first == (www / ["mid.bin", "page.html"][i % 2]).read_bytes(), i
        assert read_response(s, buf)[2] == (www / "mid.bin").read_bytes(), i
        s.close()
    assert len(t.wait_lines(r"completion \d+ /\S+", 8)) == 8


def test_client_leaving_in_the_middle_of_a_file_releases_it(
    services: Any, big_file: tuple[Path, str]
) -> None:
    t = services()
    with socket.create_connection((LOCAL, t.port), timeout=10) as s:  # warm up
        s.sendall(http_get("/small.txt", "Connection: close\r\n"))
        read_to_eof(s)
    time.sleep(0.2)
    before = open_fds(t.pid)
    for _ in range(5):
        s = socket.create_connection((LOCAL, t.port), timeout=10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        s.sendall(http_get("/big.bin"))
        assert len(s.recv(65536)) > 0
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # reset in the middle of the file
    wait_for(lambda: open_fds(t.pid) <= before, what="the file and socket fds to close")
    # the server goes on
    with socket.create_connection((LOCAL, t.port), timeout=10) as s:
        s.sendall(http_get("/small.txt"))
        assert read_response(s, bytearray())[2] == b"hello, file\n"
    t.wait_lines(r"completion \d+ /small\.txt", 2)
    assert t.matching(r"completion \d+ /big\.bin") == [], "completion for files never sent"


def test_50_mib_file_to_a_slow_reader_is_not_held_in_memory(
    services: Any, big_file: tuple[Path, str]
) -> None:
    path, sha = big_file
    t = services()
    # warm up (first request allocations, page cache)
    with socket.create_connection((LOCAL, t.port), timeout=10) as s:
        s.sendall(http_get("/small.txt", "Connection: close\r\n"))
        read_to_eof(s)
    baseline = rss(t.pid)
    peak = baseline
    digest = hashlib.sha256()
    got = 0
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.settimeout(20)
        s.connect((LOCAL, t.port))
        s.sendall(http_get("/big.bin", "Connection: close\r\n"))
        buf = bytearray()
        status, headers = read_head(s, buf)
        assert status == 200 and int(headers["content-length"]) == BIG_FILE_SIZE
        digest.update(buf)
        got = len(buf)
        # slow: 16 KiB every 10 ms for 2 s, watching the server's memory
        slow_until = time.monotonic() + 2.0
        while time.monotonic() < slow_until:
            chunk = s.recv(16384)
            assert chunk, "EOF in the slow phase"
            digest.update(chunk)
            got += len(chunk)
            peak = max(peak, rss(t.pid))
            time.sleep(0.01)
        assert got < BIG_FILE_SIZE // 2, "not a slow reader: the test is wrong"
        # then the rest as fast as it comes
        while True:
            chunk = s.recv(MIB)
            if not chunk:
                break
            digest.update(chunk)
            got += len(chunk)
            if got % (8 * MIB) < len(chunk):
                peak = max(peak, rss(t.pid))
    assert got == BIG_FILE_SIZE
    assert digest.hexdigest() == sha, "the body differs from the file"
    grew = peak - baseline
    assert grew < 8 * MIB, f"the server grew by {grew / MIB:.1f} MiB serving a 50 MiB file"
    t.wait_line(r"completion \d+ /big\.bin")


def test_c_serve_http_file_with_a_null_content_type(c_helper: Any, www: Path) -> None:
    t = c_helper("serve", str(www))
    with socket.create_connection((LOCAL, t.port), timeout=10) as s:
        s.sendall(http_get("/nullct/small.txt"))
        status, headers, body = read_response(s, bytearray())
    assert status == 200 and body == b"hello, file\n"
    assert headers.get("content-type"), "no Content-Type at all"
    t.wait_line(r"completion \d+ /nullct/small\.txt")

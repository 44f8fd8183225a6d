"""The binding itself: cdef vs header, constants, argument checks, dispatch of
Python callbacks, exceptions, the GIL, logging and the utilities.

Connections, where a test needs one, are plain sockets of this process on
127.0.0.1, served by libwebsocket_service in the same thread.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import importlib.util
import os
import re
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from support.net import free_port

import pylws_ffi as lws
from pylws_ffi import ffi

ROOT = Path(__file__).resolve().parent.parent
HEADER = ROOT / "native" / "include" / "libwebsockets.h"


# ---------------------------------------------------------------- helpers


def load_cdef() -> str:
    spec = importlib.util.spec_from_file_location("pylws_build", ROOT / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CDEF


def header_text() -> str:
    text = HEADER.read_text()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def header_functions() -> list[str]:
    declarations = re.sub(r"^\s*#.*$", "", header_text(), flags=re.M)  # no preprocessor lines
    return re.findall(r"LWS_EXTERN\s[^;(]*?\b(\w+)\s*\(", declarations)


def header_enums() -> dict[str, list[str]]:
    enums = {}
    for name, body in re.findall(r"enum\s+(\w+)\s*\{(.*?)\}\s*;", header_text(), flags=re.S):
        members = [item.split("=")[0].strip() for item in body.split(",")]
        enums[name] = [m for m in members if m]
    return enums


def header_int_defines() -> list[str]:
    return re.findall(r"^#define\s+(\w+)\s+[(\d]", header_text(), flags=re.M)


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Route the library's log (ERR and WARN) into a list for one test."""
    lines: list[str] = []
    lws.lws_set_log_level(lws.LLL_ERR | lws.LLL_WARN, lines.append)
    yield lines
    # NULL would keep the list as emitter: the default (logging) again
    lws.lws_set_log_level(lws.LLL_ERR | lws.LLL_WARN, lws.lwsl_emit_logging)


Callback = Callable[[Any, Any, int, Any, Any, int], Any]


@pytest.fixture
def make_context() -> Iterator[Callable[..., tuple[Any, int]]]:
    """make_context(protocols, **kw) -> (context, port); destroyed at teardown."""
    made: list[Any] = []

    def make(protocols: Any, **kw: Any) -> tuple[Any, int]:
        for _ in range(5):
            port = free_port()
            try:
                ctx = lws.libwebsocket_create_context(port, None, protocols, **kw)
            except OSError as e:  # raced for the port
                if e.errno != errno.EADDRINUSE:
                    raise
                continue
            made.append(ctx)
            return ctx, port
        raise AssertionError("no free port")

    yield make
    for ctx in made:
        if ctx is not None:
            lws.libwebsocket_context_destroy(ctx)


def serve_until(ctx: Any, done: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out serving"
        assert lws.libwebsocket_service(ctx, 10) >= 0


def read_all(ctx: Any, sock: socket.socket, until: Callable[[bytes], bool]) -> bytes:
    """Serve ctx and read from sock until until(data) or EOF."""
    sock.setblocking(False)
    data = b""
    eof = False

    def done() -> bool:
        nonlocal data, eof
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            return False
        except ConnectionResetError:
            eof = True
            return True
        if not chunk:
            eof = True
            return True
        data += chunk
        return until(data)

    serve_until(ctx, done)
    return data


def ws_connect(ctx: Any, port: int, subprotocol: str | None = None) -> socket.socket:
    """A raw WebSocket client connection, handshake done."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    extra = f"Sec-WebSocket-Protocol: {subprotocol}\r\n" if subprotocol else ""
    sock.sendall(
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{extra}\r\n"
        ).encode()
    )
    head = read_all(ctx, sock, lambda d: b"\r\n\r\n" in d)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def ws_send(sock: socket.socket, payload: bytes, opcode: int = 1, fin: bool = True) -> None:
    mask = os.urandom(4)
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        head = struct.pack("!BB", first, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(head + mask + masked)


def parse_frames(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """Unmasked server frames in data: ([(first byte, payload)], bytes used)."""
    frames, pos = [], 0
    while pos + 2 <= len(data):
        first, n = data[pos], data[pos + 1] & 0x7F
        hdr = 2
        if n == 126:
            if pos + 4 > len(data):
                break
            n, hdr = struct.unpack_from("!H", data, pos + 2)[0], 4
        elif n == 127:
            if pos + 10 > len(data):
                break
            n, hdr = struct.unpack_from("!Q", data, pos + 2)[0], 10
        if pos + hdr + n > len(data):
            break
        frames.append((first, data[pos + hdr : pos + hdr + n]))
        pos += hdr + n
    return frames, pos


def ws_recv_frames(ctx: Any, sock: socket.socket, count: int) -> list[tuple[int, bytes]]:
    data = read_all(ctx, sock, lambda d: len(parse_frames(d)[0]) >= count)
    return parse_frames(data)[0]


def http_get(ctx: Any, port: int, path: str = "/") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return read_all(ctx, sock, lambda d: False)


def page(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (
        len(body),
        body,
    )


# ---------------------------------------------------------------- cdef vs header


def test_cdef_declares_every_header_function() -> None:
    cdef = load_cdef()
    functions = header_functions()
    assert "libwebsocket_create_context" in functions and len(functions) > 20
    missing = [f for f in functions if not re.search(rf"\b{f}\s*\(", cdef)]
    assert not missing, f"build.py's cdef lacks functions of the header: {missing}"


def test_cdef_declares_every_enum_member_and_constant() -> None:
    cdef = load_cdef()
    enums = header_enums()
    assert "libwebsocket_callback_reasons" in enums
    missing = [
        f"{enum}.{m}"
        for enum, members in enums.items()
        for m in members
        if not re.search(rf"\b{m}\b", cdef)
    ]
    missing += [d for d in header_int_defines() if not re.search(rf"#define\s+{d}\b", cdef)]
    assert not missing, f"build.py's cdef lacks these header names: {missing}"


def test_every_constant_is_a_module_attribute() -> None:
    names = [m for members in header_enums().values() for m in members]
    names += header_int_defines()
    missing = [n for n in names if not isinstance(getattr(lws, n, None), int)]
    assert not missing
    assert set(names) <= set(lws.__all__)


def test_documented_names_are_exported() -> None:
    for name in [
        "libwebsocket_create_context", "libwebsocket_context_destroy",
        "libwebsocket_context_user", "libwebsocket_service", "libwebsocket_write",
        "libwebsocket_callback_on_writable", "lws_send_pipe_choked",
        "libwebsocket_close_and_free_session", "libwebsocket_set_timeout",
        "libwebsocket_get_socket_fd", "libwebsockets_get_protocol",
        "libwebsocket_ensure_user_space", "libwebsocket_is_final_fragment",
        "libwebsocket_get_reserved_bits", "lws_frame_is_binary",
        "libwebsockets_remaining_packet_payload", "lws_set_log_level",
        "libwebsockets_get_random", "libwebsockets_SHA1", "lws_b64_encode_string",
        "lws_b64_decode_string", "lws_set_max_message_size", "lws_set_handshake_timeout",
        "payload", "LwsError", "ffi", "lib",
    ]:  # fmt: skip
        assert callable(getattr(lws, name)) or name in ("ffi", "lib"), name
        assert name in lws.__all__, name


def test_constant_values() -> None:
    assert lws.LWS_SEND_BUFFER_PRE_PADDING == 18
    assert lws.LWS_SEND_BUFFER_POST_PADDING == 4
    assert lws.CONTEXT_PORT_NO_LISTEN == 0
    assert (lws.LWS_WRITE_TEXT, lws.LWS_WRITE_PONG, lws.LWS_WRITE_NO_FIN) == (0, 6, 0x40)
    assert lws.LWS_CALLBACK_ESTABLISHED == 0 and lws.LWS_CALLBACK_CLEAR_MODE_POLL_FD == 23
    assert lws.LWS_EXT_CALLBACK_PAYLOAD_RX == 22
    assert (lws.LLL_ERR, lws.LLL_CLIENT, lws.LLL_COUNT) == (1, 128, 8)
    assert lws.WSI_TOKEN_COUNT == 18
    assert lws.LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE == 1009
    assert lws.PENDING_TIMEOUT_SSL_ACCEPT == 9
    assert ffi.sizeof("struct libwebsocket_protocols") >= 5 * ffi.sizeof("void *")


# ---------------------------------------------------------------- argument checks


def noop(*args: Any) -> None:
    return None


def test_create_context_port_in_use_raises_oserror() -> None:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(OSError) as info:
            lws.libwebsocket_create_context(port, None, [("p", noop, 0)])
    assert info.value.errno == errno.EADDRINUSE
    assert str(port) in str(info.value)


def test_create_context_unknown_interface_raises_oserror() -> None:
    with pytest.raises(OSError):
        lws.libwebsocket_create_context(free_port(), "no-such-if0", [("p", noop, 0)])


@pytest.mark.parametrize(
    "args, exc",
    [
        (("80", None, [("p", noop, 0)]), TypeError),
        ((70000, None, [("p", noop, 0)]), ValueError),
        ((-2, None, [("p", noop, 0)]), ValueError),  # -1: LWS_CONTEXT_PORT_ANY
        ((0, 5, [("p", noop, 0)]), TypeError),
        ((0, None, []), ValueError),
        ((0, None, "echo"), TypeError),
        ((0, None, [("p", 5, 0)]), TypeError),
        ((0, None, [("p", noop, -1)]), ValueError),
        ((0, None, [(None, noop, 0)]), TypeError),
        ((0, None, ["p"]), TypeError),
        ((0, None, [("p", noop, 0)], "ext"), TypeError),
        ((0, None, [("p\0q", noop, 0)]), ValueError),
    ],
)
def test_create_context_bad_arguments(args: tuple[Any, ...], exc: type[Exception]) -> None:
    before = dict(lws.registry.by_entry)
    with pytest.raises(exc):
        lws.libwebsocket_create_context(*args)
    assert lws.registry.by_entry == before


def test_destroy_twice_raises_instead_of_crashing() -> None:
    ctx = lws.libwebsocket_create_context(lws.CONTEXT_PORT_NO_LISTEN, None, [("p", noop)])
    lws.libwebsocket_context_destroy(ctx)
    with pytest.raises(ValueError):
        lws.libwebsocket_context_destroy(ctx)
    with pytest.raises(ValueError):
        lws.libwebsocket_context_destroy(ffi.NULL)
    with pytest.raises(TypeError):
        lws.libwebsocket_context_destroy(None)


def test_destroy_releases_callables() -> None:
    before = len(lws.registry.by_entry)
    ctx = lws.libwebsocket_create_context(0, None, [("a", noop), ("b", noop, 8)])
    assert len(lws.registry.by_entry) == before + 2
    lws.libwebsocket_context_destroy(ctx)
    assert len(lws.registry.by_entry) == before


@pytest.mark.parametrize("user", [None, {"any": "object"}, 42, "text"])
def test_context_user_round_trip(user: Any) -> None:
    ctx = lws.libwebsocket_create_context(0, None, [("p", noop)], user=user)
    try:
        assert lws.libwebsocket_context_user(ctx) is user
    finally:
        lws.libwebsocket_context_destroy(ctx)


def test_context_user_cdata_pointer() -> None:
    data = ffi.new("int *", 7)
    ctx = lws.libwebsocket_create_context(0, None, [("p", noop)], user=data)
    try:
        got = lws.libwebsocket_context_user(ctx)
        assert ffi.cast("int *", got)[0] == 7
        assert got == data
    finally:
        lws.libwebsocket_context_destroy(ctx)


def test_write_checks_length_and_type_before_calling_c() -> None:
    wsi = ffi.NULL  # never reached: the checks come first
    with pytest.raises(ValueError):
        lws.libwebsocket_write(wsi, b"abc", 4, lws.LWS_WRITE_TEXT)
    with pytest.raises(ValueError):
        lws.libwebsocket_write(wsi, bytearray(3), -1, lws.LWS_WRITE_BINARY)
    with pytest.raises(ValueError):
        lws.libwebsocket_write(wsi, "héllo", 6, lws.LWS_WRITE_TEXT)
    with pytest.raises(ValueError):
        lws.libwebsocket_write(wsi, memoryview(b"abcdef")[4:], 3, lws.LWS_WRITE_TEXT)
    with pytest.raises(TypeError):
        lws.libwebsocket_write(wsi, 12345, 1, lws.LWS_WRITE_TEXT)
    with pytest.raises(TypeError):
        lws.libwebsocket_write(wsi, memoryview(b"abcdef")[::2], 3, lws.LWS_WRITE_TEXT)
    # good arguments, NULL wsi: a ValueError, not a crash
    with pytest.raises(ValueError, match="wsi is NULL"):
        lws.libwebsocket_write(wsi, b"abc", 3, lws.LWS_WRITE_TEXT)


# ---------------------------------------------------------------- NULL and dead pointers

#: every wrapper taking a wsi, with arguments that pass its other checks
#: (the context given is live)
WSI_CALLS: list[tuple[str, Callable[[Any, Any], tuple[Any, ...]]]] = [
    ("libwebsocket_write", lambda ctx, wsi: (wsi, b"x" * 64, 64, lws.LWS_WRITE_TEXT)),
    ("libwebsocket_write", lambda ctx, wsi: (wsi, bytearray(3), 3, lws.LWS_WRITE_BINARY)),
    ("libwebsocket_write", lambda ctx, wsi: (wsi, "text", 4, lws.LWS_WRITE_TEXT)),
    ("libwebsocket_write", lambda ctx, wsi: (wsi, memoryview(b"abc"), 3, lws.LWS_WRITE_TEXT)),
    ("libwebsocket_write", lambda ctx, wsi: (wsi, ffi.new("unsigned char[]", 8), 0, 0)),
    ("libwebsocket_callback_on_writable", lambda ctx, wsi: (ctx, wsi)),
    ("libwebsocket_close_and_free_session", lambda ctx, wsi: (ctx, wsi, 1000)),
    ("lws_send_pipe_choked", lambda ctx, wsi: (wsi,)),
    ("libwebsocket_set_timeout", lambda ctx, wsi: (wsi, lws.PENDING_TIMEOUT_AWAITING_PING, 1)),
    ("libwebsocket_get_socket_fd", lambda ctx, wsi: (wsi,)),
    ("libwebsockets_get_protocol", lambda ctx, wsi: (wsi,)),
    ("libwebsocket_ensure_user_space", lambda ctx, wsi: (wsi,)),
    ("libwebsocket_is_final_fragment", lambda ctx, wsi: (wsi,)),
    ("libwebsocket_get_reserved_bits", lambda ctx, wsi: (wsi,)),
    ("lws_frame_is_binary", lambda ctx, wsi: (wsi,)),
    ("lws_close_status_sent", lambda ctx, wsi: (wsi,)),
    ("lws_set_whole_messages", lambda ctx, wsi: (wsi, 1)),
    ("libwebsockets_remaining_packet_payload", lambda ctx, wsi: (wsi,)),
    ("libwebsocket_rx_flow_control", lambda ctx, wsi: (wsi, 1)),
    ("lws_request_head", lambda ctx, wsi: (wsi,)),
    ("lws_client_response_head", lambda ctx, wsi: (wsi,)),
    ("lws_add_response_header", lambda ctx, wsi: (wsi, "Server", "x")),
    ("lws_set_wsi_max_message_size", lambda ctx, wsi: (wsi, 1024)),
    ("libwebsockets_serve_http_file", lambda ctx, wsi: (ctx, wsi, __file__, "text/plain")),
    ("libwebsockets_serve_http_file", lambda ctx, wsi: (ctx, wsi, __file__, None)),
    ("libwebsockets_serve_http_file_fragment", lambda ctx, wsi: (ctx, wsi)),
]


@pytest.mark.parametrize("name, make_args", WSI_CALLS, ids=[n for n, _ in WSI_CALLS])
def test_null_wsi_raises_value_error_instead_of_crashing(
    name: str, make_args: Callable[[Any, Any], tuple[Any, ...]]
) -> None:
    ctx = lws.libwebsocket_create_context(lws.CONTEXT_PORT_NO_LISTEN, None, [("p", noop)])
    try:
        for null in (ffi.NULL, ffi.cast("struct libwebsocket *", 0)):
            with pytest.raises(ValueError, match=rf"^{name}: wsi is NULL"):
                getattr(lws, name)(*make_args(ctx, null))
        # not a pointer at all: cffi's TypeError, as before
        with pytest.raises(TypeError):
            getattr(lws, name)(*make_args(ctx, None))
    finally:
        lws.libwebsocket_context_destroy(ctx)


def test_wsi_functions_still_work_on_a_live_connection(make_context: Any) -> None:
    seen: dict[str, Any] = {}

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_RECEIVE:
            seen["fd"] = lws.libwebsocket_get_socket_fd(wsi)
            seen["name"] = ffi.string(lws.libwebsockets_get_protocol(wsi).name)
            seen["final"] = lws.libwebsocket_is_final_fragment(wsi)
            seen["binary"] = lws.lws_frame_is_binary(wsi)
            seen["rsv"] = lws.libwebsocket_get_reserved_bits(wsi)
            seen["left"] = lws.libwebsockets_remaining_packet_payload(wsi)
            seen["user"] = lws.libwebsocket_ensure_user_space(wsi) != ffi.NULL
            seen["choked"] = lws.lws_send_pipe_choked(wsi)
            seen["flow"] = lws.libwebsocket_rx_flow_control(wsi, 1)
            lws.libwebsocket_set_timeout(wsi, lws.NO_PENDING_TIMEOUT, 0)
            seen["writable"] = lws.libwebsocket_callback_on_writable(ctx, wsi)
            lws.libwebsocket_write(wsi, lws.payload(in_, len_), len_, lws.LWS_WRITE_BINARY)
        return 0

    ctx, port = make_context([("p", cb, 16)])
    sock = ws_connect(ctx, port)
    ws_send(sock, b"ping!", opcode=2)
    assert ws_recv_frames(ctx, sock, 1) == [(0x82, b"ping!")]
    sock.close()
    assert seen["fd"] > 2 and seen["name"] == b"p" and seen["final"] and seen["binary"]
    assert (seen["rsv"], seen["left"], seen["user"], seen["choked"]) == (0, 0, True, 0)
    assert seen["writable"] == 1 and seen["flow"] == 0


#: every wrapper taking a context (the wsi, where one is taken, is not reached)
CONTEXT_CALLS: list[tuple[str, Callable[[Any], tuple[Any, ...]]]] = [
    ("libwebsocket_service", lambda ctx: (ctx, 0)),
    ("libwebsocket_service_fd", lambda ctx: (ctx, None)),
    ("libwebsocket_context_user", lambda ctx: (ctx,)),
    ("libwebsocket_context_destroy", lambda ctx: (ctx,)),
    ("lws_set_max_message_size", lambda ctx: (ctx, 1000)),
    ("lws_set_handshake_timeout", lambda ctx: (ctx, 5)),
    ("lws_context_set_limit", lambda ctx: (ctx, lws.LWS_LIMIT_OUTPUT_TOTAL, 1)),
    ("lws_context_get_limit", lambda ctx: (ctx, lws.LWS_LIMIT_OUTPUT_TOTAL)),
    ("lws_context_listen_port", lambda ctx: (ctx,)),
    ("libwebsockets_get_random", lambda ctx: (ctx, bytearray(8), 8)),
    ("libwebsocket_callback_on_writable", lambda ctx: (ctx, ffi.cast("void *", 8))),
    ("libwebsocket_close_and_free_session", lambda ctx: (ctx, ffi.cast("void *", 8), 1000)),
    ("libwebsockets_serve_http_file", lambda ctx: (ctx, ffi.cast("void *", 8), __file__, None)),
    ("libwebsockets_serve_http_file_fragment", lambda ctx: (ctx, ffi.cast("void *", 8))),
    ("libwebsocket_client_connect", lambda ctx: (ctx, "127.0.0.1", 1)),
    ("libwebsocket_client_connect_extended", lambda ctx: (ctx, "127.0.0.1", 1)),
    ("lws_get_protocols", lambda ctx: (ctx,)),
    ("libwebsockets_fork_service_loop", lambda ctx: (ctx,)),
    ("libwebsocket_canonical_hostname", lambda ctx: (ctx,)),
    ("libwebsockets_hangup_on_client", lambda ctx: (ctx, 0)),
    ("lws_context_attach_redis", lambda ctx: (ctx, "redis://127.0.0.1:1", "k")),
    ("lws_context_redis_option", lambda ctx: (ctx, "max_message", 10)),
    ("lws_context_redis_state", lambda ctx: (ctx,)),
]


def test_context_calls_cover_every_context_taking_wrapper() -> None:
    import inspect

    taking = {
        name
        for name in lws.__all__
        if inspect.isfunction(getattr(lws, name, None))
        and "context" in inspect.signature(getattr(lws, name)).parameters
    }
    assert taking == {name for name, _ in CONTEXT_CALLS}


@pytest.mark.parametrize("name, make_args", CONTEXT_CALLS, ids=[n for n, _ in CONTEXT_CALLS])
def test_destroyed_or_null_context_raises_instead_of_reading_freed_memory(
    name: str, make_args: Callable[[Any], tuple[Any, ...]]
) -> None:
    ctx = lws.libwebsocket_create_context(lws.CONTEXT_PORT_NO_LISTEN, None, [("p", noop)])
    lws.libwebsocket_context_destroy(ctx)
    func = getattr(lws, name)
    for dead in (ctx, ffi.cast("void *", ctx), ffi.NULL):
        with pytest.raises(ValueError, match=rf"^{name}: not a live context"):
            func(*make_args(dead))
    for not_a_context in (None, 42, [ctx]):
        with pytest.raises(TypeError, match=rf"^{name}: context must be a context cdata"):
            func(*make_args(not_a_context))


def test_context_functions_in_callbacks_during_create_and_destroy() -> None:
    """While create_context runs, callbacks get a context it has not returned
    yet; while destroy runs, one about to go: both are live for the wrappers."""
    seen: list[Any] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> None:
        if reason in (lws.LWS_CALLBACK_ADD_POLL_FD, lws.LWS_CALLBACK_DEL_POLL_FD):
            seen.append((reason, lws.libwebsocket_context_user(ctx)))
            lws.lws_set_max_message_size(ctx, 1 << 20)

    ctx = lws.libwebsocket_create_context(free_port(), None, [("p", cb)], user="me")
    assert (lws.LWS_CALLBACK_ADD_POLL_FD, "me") in seen
    lws.libwebsocket_context_destroy(ctx)
    assert seen[-1] == (lws.LWS_CALLBACK_DEL_POLL_FD, "me")
    # the allowance ends with the call
    with pytest.raises(ValueError):
        lws.libwebsocket_context_user(ctx)
    assert not lws.registry.creating


def test_limits_validate() -> None:
    ctx = lws.libwebsocket_create_context(0, None, [("p", noop)])
    try:
        lws.lws_set_max_message_size(ctx, 1 << 20)
        lws.lws_set_max_message_size(ctx, 0)
        lws.lws_set_handshake_timeout(ctx, 3)
        with pytest.raises(ValueError):
            lws.lws_set_max_message_size(ctx, -1)
        with pytest.raises(ValueError):
            lws.lws_set_handshake_timeout(ctx, 0)
        with pytest.raises(TypeError):
            lws.lws_set_handshake_timeout(ctx, 1.5)
    finally:
        lws.libwebsocket_context_destroy(ctx)


# ---------------------------------------------------------------- utilities


def test_sha1_matches_hashlib() -> None:
    for data in (b"", b"abc", os.urandom(1000)):
        assert lws.libwebsockets_SHA1(data, len(data)) == hashlib.sha1(data).digest()
    md = bytearray(20)
    assert lws.libwebsockets_SHA1(b"abc", 3, md) is md
    assert bytes(md) == hashlib.sha1(b"abc").digest()
    with pytest.raises(ValueError):
        lws.libwebsockets_SHA1(b"abc", 3, bytearray(19))
    with pytest.raises(ValueError):
        lws.libwebsockets_SHA1(b"abc", 4)


def test_base64_round_trip() -> None:
    for data in (b"", b"a", b"ab", b"abc", os.urandom(257)):
        enc = lws.lws_b64_encode_string(data, len(data))
        assert enc == base64.b64encode(data)
        assert lws.lws_b64_decode_string(enc) == data
    out = bytearray(16)
    n = lws.lws_b64_encode_string(b"hello", 5, out, len(out))
    assert bytes(out[:n]) == b"aGVsbG8="
    assert lws.lws_b64_encode_string(b"hello", 5, bytearray(4), 4) == -1
    out = bytearray(8)
    n = lws.lws_b64_decode_string("aGVsbG8=", out, len(out))
    assert bytes(out[:n]) == b"hello"
    with pytest.raises(TypeError):
        lws.lws_b64_encode_string(b"hello", 5, b"readonly buffer", 15)


def test_get_random() -> None:
    ctx = lws.libwebsocket_create_context(0, None, [("p", noop)])
    try:
        buf = bytearray(64)
        assert lws.libwebsockets_get_random(ctx, buf, 64) == 64
        assert buf != bytearray(64)
        with pytest.raises(TypeError):
            lws.libwebsockets_get_random(ctx, bytes(8), 8)
        with pytest.raises(ValueError):
            lws.libwebsockets_get_random(ctx, bytearray(8), 9)
    finally:
        lws.libwebsocket_context_destroy(ctx)


def test_payload() -> None:
    buf = ffi.new("char[]", b"hello")
    assert lws.payload(ffi.cast("void *", buf), 5) == b"hello"
    assert lws.payload(buf, 2) == b"he"
    assert lws.payload(ffi.NULL, 0) == b""
    with pytest.raises(ValueError):
        lws.payload(ffi.NULL, 3)


def test_log_to_python_callable(log_lines: list[str]) -> None:
    lws.lwsl_log(lws.LLL_ERR, "first line\nsecond line")
    lws.lwsl_log(lws.LLL_INFO, "filtered out")
    assert [line.split(": ", 1)[-1] for line in log_lines] == ["first line", "second line"]
    assert "ERR" in log_lines[0]
    with pytest.raises(TypeError):
        lws.lws_set_log_level(lws.LLL_ERR, "not callable")


def test_protocol_of_a_destroyed_context_raises() -> None:
    ctx = lws.libwebsocket_create_context(lws.CONTEXT_PORT_NO_LISTEN, None, [("p", noop)])
    protocols = lws.lws_get_protocols(ctx)  # the array outlives the context
    assert lws.libwebsocket_callback_on_writable_all_protocol(protocols[0]) == 0
    assert lws.libwebsockets_broadcast(protocols[0], b"x", 1) == 0
    lws.libwebsocket_context_destroy(ctx)
    for entry in (protocols[0], protocols + 0):
        with pytest.raises(ValueError, match="the protocol's context is destroyed"):
            lws.libwebsocket_callback_on_writable_all_protocol(entry)
        with pytest.raises(ValueError, match="the protocol's context is destroyed"):
            lws.libwebsockets_broadcast(entry, b"x", 1)
    # an array never given to create_context: C's -1, as before
    fresh = ffi.new("struct libwebsocket_protocols[2]")
    assert lws.libwebsocket_callback_on_writable_all_protocol(fresh[0]) == -1
    with pytest.raises(ValueError, match="len must be >= 0"):
        lws.libwebsockets_broadcast(fresh[0], b"x", -1)
    with pytest.raises(ValueError, match="protocol is NULL"):
        lws.libwebsockets_broadcast(ffi.cast("struct libwebsocket_protocols *", 0), b"x", 1)


def test_other_bad_arguments_raise() -> None:
    with pytest.raises(TypeError, match="name must be None or a cdata"):
        lws.libwebsockets_get_peer_addresses(0, bytearray(8))
    with pytest.raises(ValueError, match="name_len 10 exceeds the 4 bytes"):
        lws.libwebsockets_get_peer_addresses(0, ffi.new("char[4]"), 10)
    with pytest.raises(ValueError, match="rip_len 65 exceeds the 64 bytes"):
        lws.libwebsockets_get_peer_addresses(0, None, 256, ffi.new("char[64]"), 65)
    with pytest.raises(TypeError):
        lws.libwebsockets_get_peer_addresses("3")
    with pytest.raises(TypeError, match="in_ must be str, bytes-like or cdata"):
        lws.lws_b64_decode_string(5)  # bytes(5) would have been five NULs: b""
    with pytest.raises(ValueError, match="NUL"):
        lws.lws_b64_decode_string("aGVs\0bG8=")  # C would stop at the NUL: b"hel"
    with pytest.raises(TypeError, match="message must be a str"):
        lws.lwsl_log(lws.LLL_ERR, 5)


def test_lwsl_log_shows_a_nul(log_lines: list[str]) -> None:
    lws.lwsl_log(lws.LLL_ERR, "before\0after")
    assert log_lines[-1].endswith("ERR: before\\0after")


def test_public_functions_say_what_they_raise() -> None:
    import inspect

    silent = [
        name
        for name in lws.__all__
        if inspect.isfunction(getattr(lws, name, None))
        and "raise" not in (getattr(lws, name).__doc__ or "").lower()
    ]
    assert silent == []


# ---------------------------------------------------------------- why create_context failed


def _fail_create(port: int) -> OSError:
    """create_context on a port in use: the OSError it raises."""
    with pytest.raises(OSError) as info:
        lws.libwebsocket_create_context(port, None, [("p", noop, 0)])
    return info.value


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        yield s.getsockname()[1]


def test_create_context_failure_carries_the_logged_reason(
    busy_port: int, log_lines: list[str]
) -> None:
    e = _fail_create(busy_port)
    assert e.errno == errno.EADDRINUSE
    assert str(e).endswith(f"cannot listen on port {busy_port}: {os.strerror(errno.EADDRINUSE)}")
    # the user's emitter still got the line
    assert any(f"ERR: cannot listen on port {busy_port}" in line for line in log_lines)


def test_create_context_failure_reason_without_err_in_the_log_level(busy_port: int) -> None:
    lines: list[str] = []
    lws.lws_set_log_level(lws.LLL_WARN, lines.append)
    try:
        e = _fail_create(busy_port)
        assert f"cannot listen on port {busy_port}" in str(e)
        assert lines == []  # kept for the exception, not emitted: ERR is not asked for
        lws.lwsl_log(lws.LLL_ERR, "still filtered")
        lws.lwsl_log(lws.LLL_WARN, "a warning")
        assert [line.split(": ", 1)[1] for line in lines] == ["a warning"]
    finally:
        lws.lws_set_log_level(lws.LLL_ERR | lws.LLL_WARN, lws.lwsl_emit_logging)


def test_create_context_failure_keeps_a_c_emitter(busy_port: int) -> None:
    lines: list[bytes] = []

    @ffi.callback("void(*)(const char *)")
    def c_emit(line: Any) -> None:
        lines.append(ffi.string(line))

    lws.lws_set_log_level(lws.LLL_ERR | lws.LLL_WARN, c_emit)
    try:
        e = _fail_create(busy_port)
        assert f"cannot listen on port {busy_port}" in str(e)
        assert [b"cannot listen" in line for line in lines] == [True]
        # afterwards the C emitter is the core's emitter again, not the binding's
        lws.log._c_emitter = None  # (the binding's would now drop the line)
        lws.lwsl_log(lws.LLL_ERR, "direct")
        assert lines[-1].endswith(b"ERR: direct")
    finally:
        lws.lws_set_log_level(lws.LLL_ERR | lws.LLL_WARN, lws.lwsl_emit_logging)


def test_create_context_failure_without_emitter_logs_to_logging(
    busy_port: int, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the state of a program that never set an emitter: the logging module
    monkeypatch.setattr(lws.log, "_emitter", None)
    monkeypatch.setattr(lws.log, "_c_emitter", None)
    e = _fail_create(busy_port)
    assert "cannot listen on port" in str(e)
    lws.lwsl_log(lws.LLL_WARN, "after")
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "pylws_ffi.core",
            "ERROR",
            f"cannot listen on port {busy_port}: {os.strerror(errno.EADDRINUSE)}",
        ),
        ("pylws_ffi.core", "WARNING", "after"),
    ]


def test_capturing_errors_keeps_only_this_threads_err_lines(log_lines: list[str]) -> None:
    from pylws_ffi.log import capturing_errors

    def other() -> None:
        lws.lwsl_log(lws.LLL_ERR, "from another thread")

    with capturing_errors() as kept:
        lws.lwsl_log(lws.LLL_ERR, "mine")
        lws.lwsl_log(lws.LLL_WARN, "a warning")
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    lws.lwsl_log(lws.LLL_ERR, "after")
    assert kept == ["mine"]
    assert [line.split(": ", 1)[1] for line in log_lines] == [
        "mine",
        "a warning",
        "from another thread",
        "after",
    ]
    assert not lws.log._captures


# ---------------------------------------------------------------- the GIL


def test_service_releases_the_gil() -> None:
    ctx = lws.libwebsocket_create_context(free_port(), None, [("p", noop)])
    counter = 0
    running = threading.Event()
    stop = threading.Event()

    def spin() -> None:
        nonlocal counter
        running.set()
        while not stop.is_set():
            counter += 1

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        running.wait(5)
        before = counter
        t0 = time.monotonic()
        assert lws.libwebsocket_service(ctx, 500) == 0
        elapsed = time.monotonic() - t0
        during = counter - before
    finally:
        stop.set()
        thread.join(5)
        lws.libwebsocket_context_destroy(ctx)
    assert elapsed >= 0.4, "service returned early: nothing to wait for?"
    # Holding the GIL, the thread could not have counted at all.
    assert during > 10_000


# ---------------------------------------------------------------- callbacks


def test_http_callback_gets_path_and_writes_reply(make_context: Any) -> None:
    seen: list[tuple[Any, ...]] = []

    def http(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_HTTP:
            seen.append((ctx, ffi.string(ffi.cast("char *", in_)), lws.payload(in_, len_)))
            seen.append(lws.libwebsocket_context_user(ctx))
            body = "héllo from python"
            lws.libwebsocket_write(
                wsi, page(body.encode()), len(page(body.encode())), lws.LWS_WRITE_HTTP
            )
            return 1
        return 0

    ctx, port = make_context([("http-only", http, 0)], user="the user")
    reply = http_get(ctx, port, "/some/path?q=1")
    assert reply.startswith(b"HTTP/1.1 200 OK")
    assert reply.endswith("héllo from python".encode())
    (got_ctx, path, data), user = seen
    assert got_ctx == ctx and path == b"/some/path?q=1" and data == path
    assert user == "the user"


def test_dispatch_by_protocol_and_context(make_context: Any) -> None:
    calls: list[tuple[str, int]] = []

    def recorder(tag: str) -> Callback:
        def callback(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> None:
            calls.append((tag, reason))
            if reason == lws.LWS_CALLBACK_RECEIVE:
                reply = f"{tag}:{lws.payload(in_, len_).decode()}".encode()
                lws.libwebsocket_write(wsi, reply, len(reply), lws.LWS_WRITE_TEXT)

        return callback

    ctx1, port1 = make_context([("first", recorder("1a")), ("second", recorder("1b"))])
    ctx2, port2 = make_context([("first", recorder("2a")), ("second", recorder("2b"))])
    socks = [
        (ctx1, ws_connect(ctx1, port1, "second")),
        (ctx2, ws_connect(ctx2, port2, "first")),
        (ctx1, ws_connect(ctx1, port1, "first")),
    ]
    for _ctx, sock in socks:
        ws_send(sock, b"hi")
    replies = [ws_recv_frames(ctx, sock, 1)[0][1] for ctx, sock in socks]
    assert replies == [b"1b:hi", b"2a:hi", b"1a:hi"]
    established = [tag for tag, reason in calls if reason == lws.LWS_CALLBACK_ESTABLISHED]
    assert established == ["1b", "2a", "1a"]
    for _, sock in socks:
        sock.close()


def test_receive_helpers_and_every_write_form(make_context: Any) -> None:
    got: list[Any] = []

    def echo(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_ESTABLISHED:
            assert user != ffi.NULL  # per_session_data_size 16
            assert user == lws.libwebsocket_ensure_user_space(wsi)
            assert ffi.string(lws.libwebsockets_get_protocol(wsi).name) == b"echo"
            assert lws.libwebsocket_get_socket_fd(wsi) >= 0
            ffi.cast("int *", user)[0] = 1234
        if reason != lws.LWS_CALLBACK_RECEIVE:
            return 0
        assert ffi.cast("int *", user)[0] == 1234
        got.append(
            (
                lws.payload(in_, len_),
                lws.libwebsocket_is_final_fragment(wsi),
                lws.lws_frame_is_binary(wsi),
                lws.libwebsocket_get_reserved_bits(wsi),
                lws.libwebsockets_remaining_packet_payload(wsi),
                lws.lws_send_pipe_choked(wsi),
            )
        )
        text = "é€😀"
        lws.libwebsocket_write(wsi, text, 2, lws.LWS_WRITE_TEXT)  # 2 characters
        lws.libwebsocket_write(wsi, bytearray(b"bytearray"), 4, lws.LWS_WRITE_BINARY)
        lws.libwebsocket_write(wsi, memoryview(b"..view..")[2:6], 4, lws.LWS_WRITE_BINARY)
        lws.libwebsocket_write(wsi, ffi.buffer(in_, len_), len_, lws.LWS_WRITE_BINARY)
        pre, post = lws.LWS_SEND_BUFFER_PRE_PADDING, lws.LWS_SEND_BUFFER_POST_PADDING
        raw = ffi.new("unsigned char[]", pre + 3 + post)
        ffi.memmove(raw + pre, b"raw", 3)
        lws.libwebsocket_write(wsi, raw + pre, 3, lws.LWS_WRITE_BINARY)
        # two fragments of one message
        lws.libwebsocket_write(wsi, b"frag", 4, lws.LWS_WRITE_TEXT | lws.LWS_WRITE_NO_FIN)
        lws.libwebsocket_write(wsi, b"ment", 4, lws.LWS_WRITE_CONTINUATION)
        return 0

    ctx, port = make_context([("echo", echo, 16)])
    sock = ws_connect(ctx, port)
    ws_send(sock, b"\x00\x01binary", opcode=2)
    frames = ws_recv_frames(ctx, sock, 7)
    assert got == [(b"\x00\x01binary", 1, 1, 0, 0, 0)]
    assert frames == [
        (0x81, "é€".encode()),
        (0x82, b"byte"),
        (0x82, b"view"),
        (0x82, b"\x00\x01binary"),
        (0x82, b"raw"),
        (0x01, b"frag"),
        (0x80, b"ment"),
    ]
    sock.close()


def test_return_nonzero_closes_the_connection(make_context: Any) -> None:
    closed: list[int] = []

    def callback(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_CLOSED:
            closed.append(1)
        return 1 if reason == lws.LWS_CALLBACK_RECEIVE else 0

    ctx, port = make_context([("p", callback)])
    sock = ws_connect(ctx, port)
    ws_send(sock, b"bye")
    read_all(ctx, sock, lambda d: False)  # until EOF
    assert closed == [1]
    sock.close()


def test_exception_in_callback_is_logged_and_closes(
    make_context: Any, log_lines: list[str]
) -> None:
    closed: list[int] = []

    def callback(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> None:
        if reason == lws.LWS_CALLBACK_CLOSED:
            closed.append(1)
        if reason == lws.LWS_CALLBACK_RECEIVE:
            raise RuntimeError("boom in the callback")

    ctx, port = make_context([("p", callback)])
    sock = ws_connect(ctx, port)
    ws_send(sock, b"x")
    read_all(ctx, sock, lambda d: False)  # the connection closes
    text = "\n".join(log_lines)
    assert "Traceback" in text and "RuntimeError: boom in the callback" in text
    assert "in callback" in text  # the failing frame is named
    assert closed == [1]
    sock.close()
    # the context goes on serving
    sock = ws_connect(ctx, port)
    sock.close()


def test_bad_return_value_is_an_error(make_context: Any, log_lines: list[str]) -> None:
    def callback(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> Any:
        return "not an int" if reason == lws.LWS_CALLBACK_RECEIVE else None

    ctx, port = make_context([("p", callback)])
    sock = ws_connect(ctx, port)
    ws_send(sock, b"x")
    read_all(ctx, sock, lambda d: False)
    # named: the callback, the reason, the type (tests/test_logging.py: closed with 1011)
    assert any(
        "callback" in line and "LWS_CALLBACK_RECEIVE" in line and "returned str" in line
        for line in log_lines
    ), log_lines
    sock.close()


def test_keyboard_interrupt_in_callback_reaches_service(make_context: Any) -> None:
    def callback(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> None:
        if reason == lws.LWS_CALLBACK_RECEIVE:
            raise KeyboardInterrupt

    ctx, port = make_context([("p", callback)])
    sock = ws_connect(ctx, port)
    ws_send(sock, b"x")
    with pytest.raises(KeyboardInterrupt):  # noqa: PT012
        for _ in range(200):
            lws.libwebsocket_service(ctx, 10)
    sock.close()


def test_callbacks_during_create_and_destroy_are_dispatched() -> None:
    reasons: list[int] = []

    def callback(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> None:
        reasons.append(reason)

    port = free_port()
    ctx = lws.libwebsocket_create_context(port, None, [("p", callback)])
    # the listen socket is announced to protocols[0] while create_context runs
    assert lws.LWS_CALLBACK_ADD_POLL_FD in reasons
    sock = ws_connect(ctx, port)
    lws.libwebsocket_context_destroy(ctx)  # closes the connection: CLOSED
    poll_reasons = {
        lws.LWS_CALLBACK_ADD_POLL_FD,
        lws.LWS_CALLBACK_DEL_POLL_FD,
        lws.LWS_CALLBACK_SET_MODE_POLL_FD,
        lws.LWS_CALLBACK_CLEAR_MODE_POLL_FD,
    }
    events = [r for r in reasons if r not in poll_reasons]
    assert lws.LWS_CALLBACK_ESTABLISHED in events
    assert events[-1] == lws.LWS_CALLBACK_CLOSED
    # and the sockets are withdrawn from external poll loops while it runs
    assert reasons[-1] == lws.LWS_CALLBACK_DEL_POLL_FD
    sock.close()

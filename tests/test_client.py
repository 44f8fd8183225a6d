"""The client side: libwebsocket_client_connect(_extended) and the CLIENT_*
callbacks, against real peers, and the client examples.

The peers: the ``websockets`` library as the server (asyncio, in a thread of
its own loop), raw-socket fake servers for the handshakes a library would not
send, and the project's own echo servers (the C one under ASan/UBSan).  Our
client runs in the test thread: one context, served by ``Client.run`` until a
condition holds or a deadline passes.  Everything listens on the loopback.

Every callback goes through ``Client.callback``, which checks the life cycle
as it happens: CLIENT_ESTABLISHED at most once, CLOSED once and only after it,
CLIENT_CONNECTION_ERROR once and instead of both, no data events outside an
established connection.  A violation fails the test at teardown.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from servers import SANITIZER_MARKERS, Server, asan_build, start_echo
from support import peer
from support.net import free_port
from support.peer import WSServer, echo_handler
from support.served import Echo
from websockets.asyncio.server import broadcast
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as sync_connect

import pylws_ffi as lws
from pylws_ffi import ffi, lib

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
LOCAL = "127.0.0.1"
MIB = 1 << 20
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

ERROR = lws.LWS_CALLBACK_CLIENT_CONNECTION_ERROR
ESTABLISHED = lws.LWS_CALLBACK_CLIENT_ESTABLISHED
CLOSED = lws.LWS_CALLBACK_CLOSED
RECEIVE = lws.LWS_CALLBACK_CLIENT_RECEIVE
PONG = lws.LWS_CALLBACK_CLIENT_RECEIVE_PONG
WRITEABLE = lws.LWS_CALLBACK_CLIENT_WRITEABLE
APPEND = lws.LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER
POLL_REASONS = {
    lws.LWS_CALLBACK_ADD_POLL_FD,
    lws.LWS_CALLBACK_DEL_POLL_FD,
    lws.LWS_CALLBACK_SET_MODE_POLL_FD,
    lws.LWS_CALLBACK_CLEAR_MODE_POLL_FD,
}


# ====================================================================== peers


@contextlib.contextmanager
def ws_server(handler: Callable[..., Any], **kw: Any) -> Iterator[WSServer]:
    """support.peer's server, without compression unless asked."""
    kw.setdefault("compression", None)
    with peer.ws_server(handler, **kw) as server:
        yield server


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


class FakeServer:
    """A raw-socket server: takes one connection, reads the request head,
    answers with ``respond(key) -> bytes | None`` (None: nothing), runs
    ``after(conn, bytes that followed the head)`` if given (its result lands
    in ``self.result``), then keeps the socket open ``linger`` seconds and
    closes it."""

    def __init__(
        self,
        respond: Callable[[str], bytes | None],
        linger: float = 0.0,
        after: Callable[[socket.socket, bytes], Any] | None = None,
    ) -> None:
        self.sock = socket.socket()
        self.sock.bind((LOCAL, 0))
        self.sock.listen(8)
        self.sock.settimeout(20)
        self.port = self.sock.getsockname()[1]
        self.respond = respond
        self.linger = linger
        self.after = after
        self.result: Any = None
        self.error: BaseException | None = None
        self.request: bytes | None = None
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
            except OSError:
                return
            self.request = data.split(b"\r\n\r\n")[0]
            m = re.search(rb"(?im)^sec-websocket-key:\s*(\S+)", self.request)
            reply = self.respond(m.group(1).decode() if m else "")
            with contextlib.suppress(OSError):
                if reply:
                    conn.sendall(reply)
                if self.after is not None:
                    try:
                        self.result = self.after(conn, data.split(b"\r\n\r\n", 1)[1])
                    except Exception as e:  # reported by the test
                        self.error = e
                if self.linger:
                    self.closing.wait(self.linger)

    def headers(self) -> dict[str, str]:
        assert self.request is not None, "the fake server got no request"
        lines = self.request.decode().split("\r\n")[1:]
        return {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}

    def close(self) -> None:
        self.closing.set()
        self.sock.close()
        self.thread.join(10)


def handshake_reply(key: str, *extra: str, accept: str | None = None) -> bytes:
    lines = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept if accept is not None else accept_key(key)}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def server_frame(opcode: int, payload: bytes, fin: bool = True, mask: bytes | None = None) -> bytes:
    """One frame as a server sends it (unmasked unless ``mask``)."""
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", first, bit | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, bit | 126, n)
    else:
        head = struct.pack("!BBQ", first, bit | 127, n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def parse_client_frame(data: bytes) -> tuple[tuple[int, bool, bytes | None, bytes], int] | None:
    """The first whole frame in data and its length, or None."""
    if len(data) < 2:
        return None
    n, pos = data[1] & 0x7F, 2
    if n == 126:
        if len(data) < 4:
            return None
        n, pos = struct.unpack_from("!H", data, 2)[0], 4
    elif n == 127:
        if len(data) < 10:
            return None
        n, pos = struct.unpack_from("!Q", data, 2)[0], 10
    masked = bool(data[1] & 0x80)
    need = pos + (4 if masked else 0) + n
    if len(data) < need:
        return None
    mask = data[pos : pos + 4] if masked else None
    body = data[need - n : need]
    if mask:
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(body))
    return (data[0], masked, mask, body), need


def read_client_frames(
    conn: socket.socket, count: int, data: bytes = b""
) -> list[tuple[int, bool, bytes | None, bytes]]:
    """``count`` frames from the client: (first byte, masked, mask, payload)."""
    frames: list[tuple[int, bool, bytes | None, bytes]] = []
    while len(frames) < count:
        parsed = parse_client_frame(data)
        if parsed is None:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
            continue
        frames.append(parsed[0])
        data = data[parsed[1] :]
    return frames


# ====================================================================== our client


class Client:
    """One client context whose every callback is recorded and checked."""

    def __init__(
        self,
        names: tuple[str, ...] = ("test",),
        user_size: int = 0,
        port: int = lws.CONTEXT_PORT_NO_LISTEN,
    ) -> None:
        self.problems: list[str] = []
        self.calls: list[tuple[Any, int, str]] = []  # (wsi, reason, protocol name)
        self.established: set[Any] = set()
        self.closed: Counter[Any] = Counter()
        self.closed_ever: set[Any] = set()
        self.errors: dict[Any, list[str]] = defaultdict(list)
        self.messages: dict[Any, list[tuple[bool, bytes]]] = defaultdict(list)
        self.pieces: dict[Any, list[bytes]] = defaultdict(list)
        self.piece_counts: dict[Any, list[int]] = defaultdict(list)  # per message
        self.pongs: dict[Any, list[bytes]] = defaultdict(list)
        self.users: dict[Any, list[Any]] = defaultdict(list)  # (reason, user) seen
        self.outbox: dict[Any, deque[tuple[Any, int]]] = defaultdict(deque)
        self.hooks: dict[int, Callable[..., Any]] = {}
        self.on_message: Callable[[Any, bool, bytes], Any] | None = None
        # with a port, the context also listens (on the loopback): ServingClient
        self.ctx = lws.libwebsocket_create_context(
            port,
            None if port == lws.CONTEXT_PORT_NO_LISTEN else "lo",
            [(n, self.callback, user_size) for n in names],
        )

    # -- the callback
    def callback(self, context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> Any:
        entry = lib.lws_calling_protocol(context)
        name = ffi.string(entry.name).decode() if entry != ffi.NULL else "?"
        self.calls.append((wsi, reason, name))
        if reason in (ESTABLISHED, CLOSED, ERROR, RECEIVE, PONG, WRITEABLE):
            self.users[wsi].append((reason, user))
        if reason == RECEIVE:
            if wsi not in self.established:
                self.problems.append("CLIENT_RECEIVE outside an established connection")
            self.pieces[wsi].append(ffi.buffer(in_, len_)[:] if len_ else b"")
            if lib.libwebsocket_is_final_fragment(wsi):
                data = b"".join(self.pieces[wsi])
                self.piece_counts[wsi].append(len(self.pieces[wsi]))
                self.pieces[wsi] = []
                binary = bool(lib.lws_frame_is_binary(wsi))
                self.messages[wsi].append((binary, data))
                if self.on_message is not None:
                    return self.on_message(wsi, binary, data)
            return 0
        if reason in self.hooks:
            return self.hooks[reason](context, wsi, user, in_, len_)
        if reason == WRITEABLE:
            return self._writeable(wsi)
        if reason == PONG:
            if wsi not in self.established:
                self.problems.append("CLIENT_RECEIVE_PONG outside an established connection")
            self.pongs[wsi].append(ffi.buffer(in_, len_)[:] if len_ else b"")
        elif reason == ESTABLISHED:
            if wsi in self.established or self.errors.get(wsi):
                self.problems.append("CLIENT_ESTABLISHED twice, or after an error")
            self.established.add(wsi)
        elif reason == CLOSED:
            if wsi not in self.established:
                self.problems.append("CLOSED without CLIENT_ESTABLISHED")
            self.closed[wsi] += 1
            if self.closed[wsi] > 1:
                self.problems.append("CLOSED twice")
            self.established.discard(wsi)
            self.closed_ever.add(wsi)
        elif reason == ERROR:
            if wsi in self.established or wsi in self.closed_ever:
                self.problems.append("CLIENT_CONNECTION_ERROR after CLIENT_ESTABLISHED")
            text = ffi.string(ffi.cast("char *", in_)) if in_ != ffi.NULL else b""
            if in_ != ffi.NULL and ffi.buffer(in_, len_)[:] != text:
                self.problems.append(f"CONNECTION_ERROR len {len_} is not strlen(in)")
            self.errors[wsi].append(text.decode(errors="replace"))
            if len(self.errors[wsi]) > 1:
                self.problems.append("CLIENT_CONNECTION_ERROR twice")
        return 0

    def _writeable(self, wsi: Any) -> int:
        box = self.outbox[wsi]
        while box and not lib.lws_send_pipe_choked(wsi):
            data, proto = box.popleft()
            if lws.libwebsocket_write(wsi, data, len(data), proto) < 0:
                self.problems.append(f"libwebsocket_write failed (protocol {proto})")
                return -1
        if box:
            lib.libwebsocket_callback_on_writable(self.ctx, wsi)
        return 0

    # -- driving it
    def connect(
        self,
        port: int,
        address: str = LOCAL,
        path: str | None = "/",
        host: str | None = None,
        origin: str | None = None,
        protocol: str | None = None,
        version: int = -1,
        userdata: Any = None,
        extended: bool = False,
    ) -> Any:
        if extended or userdata is not None:
            wsi = lws.libwebsocket_client_connect_extended(
                self.ctx, address, port, 0, path, host, origin, protocol, version, userdata
            )
        else:
            wsi = lws.libwebsocket_client_connect(
                self.ctx, address, port, 0, path, host, origin, protocol, version
            )
        self.forget(wsi)  # a new connection may reuse a freed one's address
        return wsi

    def forget(self, wsi: Any) -> None:
        for table in (self.errors, self.messages, self.pieces, self.piece_counts, self.pongs,
                      self.users, self.outbox):  # fmt: skip
            table.pop(wsi, None)
        self.closed.pop(wsi, None)
        self.closed_ever.discard(wsi)
        self.established.discard(wsi)

    def send(self, wsi: Any, data: Any, proto: int | None = None) -> None:
        if proto is None:
            proto = lws.LWS_WRITE_TEXT if isinstance(data, str) else lws.LWS_WRITE_BINARY
        self.outbox[wsi].append((data, proto))
        lib.libwebsocket_callback_on_writable(self.ctx, wsi)

    def run(self, until: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, f"timed out waiting for {what or until}"
            assert lws.libwebsocket_service(self.ctx, 10) >= 0
        assert not self.problems, self.problems

    def linger(self, secs: float) -> None:
        deadline = time.monotonic() + secs
        while time.monotonic() < deadline:
            lws.libwebsocket_service(self.ctx, 10)

    def done(self, wsi: Any) -> bool:
        """The connection ended: CLOSED or CONNECTION_ERROR."""
        return bool(self.closed[wsi] or self.errors.get(wsi))

    def destroy(self) -> None:
        if self.ctx is not None:
            lws.libwebsocket_context_destroy(self.ctx)
            self.ctx = None


@pytest.fixture
def client() -> Iterator[Client]:
    c = Client()
    yield c
    c.destroy()
    assert not c.problems, c.problems


@pytest.fixture(scope="module")
def echo_ws() -> Iterator[WSServer]:
    with ws_server(echo_handler) as server:
        yield server


def open_connection(client: Client, port: int, **kw: Any) -> Any:
    wsi = client.connect(port, **kw)
    client.run(lambda: wsi in client.established or client.done(wsi), what="the handshake")
    assert not client.errors.get(wsi), client.errors[wsi]
    return wsi


def close_connection(client: Client, wsi: Any) -> None:
    lws.libwebsocket_close_and_free_session(client.ctx, wsi, lws.LWS_CLOSE_STATUS_NORMAL)
    assert client.closed[wsi] == 1


def text_of(size: int) -> str:
    """Text of exactly ``size`` UTF-8 bytes, with multi-byte characters."""
    unit = "aé€😀"  # 1 + 2 + 3 + 4 bytes
    return unit * (size // 10) + "a" * (size % 10)


def expect_failure(client: Client, wsi: Any, timeout: float = 10.0) -> str:
    client.run(lambda: client.done(wsi), timeout=timeout, what="CONNECTION_ERROR")
    assert client.errors.get(wsi), "the connection did not fail"
    assert wsi not in client.established and not client.closed[wsi]
    # nothing more comes for it
    client.linger(0.1)
    assert len(client.errors[wsi]) == 1
    reason = client.errors[wsi][0]
    assert reason.strip(), "CONNECTION_ERROR without a reason"
    return reason


# ====================================================================== the binding


def test_connect_argument_errors(client: Client) -> None:
    ctx = client.ctx
    connect = lws.libwebsocket_client_connect
    with pytest.raises(TypeError):
        connect(ctx, None, 80)
    with pytest.raises(TypeError):
        connect(ctx, 1234, 80)
    with pytest.raises(TypeError):
        connect(ctx, LOCAL, "80")
    with pytest.raises(TypeError):
        connect(ctx, LOCAL, 80.0)
    with pytest.raises(TypeError):
        connect(ctx, LOCAL, True)
    with pytest.raises(TypeError):
        connect(ctx, LOCAL, 80, 0, 5)
    with pytest.raises(TypeError):
        connect(ctx, LOCAL, 80, 0, "/", None, None, ["a"])
    with pytest.raises(TypeError):
        connect(ctx, LOCAL, 80, None)
    with pytest.raises(TypeError):
        connect("not a context", LOCAL, 80)
    with pytest.raises(ValueError, match="empty"):
        connect(ctx, "", 80)
    for port in (0, -1, 65536):
        with pytest.raises(ValueError, match="port"):
            connect(ctx, LOCAL, port)
    for ssl in (-1, 3):
        with pytest.raises(ValueError, match="ssl_connection"):
            connect(ctx, LOCAL, 80, ssl)
    for version in (0, 6, 12, 14, -2):
        with pytest.raises(ValueError, match="ietf_version"):
            connect(ctx, LOCAL, 80, 0, "/", None, None, None, version)
    with pytest.raises(ValueError, match="NUL"):
        connect(ctx, LOCAL, 80, 0, "/a\0b")
    ext = lws.libwebsocket_client_connect_extended
    with pytest.raises(TypeError, match="userdata"):
        ext(ctx, LOCAL, 80, 0, "/", None, None, None, -1, object())
    with pytest.raises(TypeError, match="userdata"):
        ext(ctx, LOCAL, 80, 0, "/", None, None, None, -1, 5)
    with pytest.raises(ValueError, match="port"):
        ext(ctx, LOCAL, 0, 0, "/", None, None, None, -1, ffi.new("int *"))
    assert not [c for c in client.calls if c[1] not in POLL_REASONS]  # nothing reached C
    assert lws.registry.held_userdata(ctx) == {}


def test_connect_tls_gives_a_connection(client: Client) -> None:
    # wss:// (1, and 2: self-signed allowed) is a connection like ws://, whose
    # failure (here: nothing listens) comes as CONNECTION_ERROR; TLS itself is
    # tested in tests/test_tls.py
    port = free_port()
    for ssl in (1, 2):
        wsi = lws.libwebsocket_client_connect(client.ctx, LOCAL, port, ssl)
        client.forget(wsi)
        assert expect_failure(client, wsi)
    mine = ffi.new("int *")
    wsi = lws.libwebsocket_client_connect_extended(
        client.ctx, LOCAL, port, 1, "/", None, None, None, -1, mine
    )
    client.forget(wsi)
    assert lws.registry.held_userdata(client.ctx) == {wsi: mine}
    assert expect_failure(client, wsi)
    assert lws.registry.held_userdata(client.ctx) == {}


def test_connect_on_destroyed_context_raises() -> None:
    c = Client()
    ctx = c.ctx
    c.destroy()
    with pytest.raises(ValueError):
        lws.libwebsocket_client_connect(ctx, LOCAL, 80)


def test_cdef_declares_the_client_functions() -> None:
    assert hasattr(lib, "libwebsocket_client_connect")
    assert hasattr(lib, "libwebsocket_client_connect_extended")
    assert "libwebsocket_client_connect" in lws.__all__
    assert "libwebsocket_client_connect_extended" in lws.__all__


# ====================================================================== echo


SIZES = [0, 125, 126, 65535, 65536, MIB, 16 * MIB]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", ["binary", "text"])
def test_echo_through_websockets_server(client: Client, echo_ws: WSServer, kind: str, size: int):
    wsi = open_connection(client, echo_ws.port)
    if kind == "binary":
        data = os.urandom(size)
        client.send(wsi, data, lws.LWS_WRITE_BINARY)
    else:
        text = text_of(size)
        data = text.encode()
        client.send(wsi, text, lws.LWS_WRITE_TEXT)
    client.run(lambda: client.messages[wsi], timeout=60, what="the echo")
    binary, got = client.messages[wsi][0]
    assert binary == (kind == "binary")
    assert len(got) == len(data)
    assert got == data
    close_connection(client, wsi)


def test_server_sends_fragmented_messages(client: Client) -> None:
    async def handler(ws: Any) -> None:
        await ws.send(["ab", "c€", "", "d"])
        chunks = [os.urandom(n) for n in (1, 0, 300, 70000, 5)]
        await ws.send(chunks)
        await ws.send(b"".join(chunks))  # the reference, in one frame
        await ws.wait_closed()

    with ws_server(handler) as server:
        wsi = open_connection(client, server.port)
        client.run(lambda: len(client.messages[wsi]) >= 3, what="three messages")
        (b1, m1), (b2, m2), (b3, m3) = client.messages[wsi]
        assert (b1, m1) == (False, "abc€d".encode())
        assert b2 and b3 and m2 == m3
        # the fragments arrived as pieces, the last one final
        assert client.piece_counts[wsi][0] >= 2 and client.piece_counts[wsi][1] >= 2
        close_connection(client, wsi)


def test_client_sends_fragmented_messages(client: Client, echo_ws: WSServer) -> None:
    wsi = open_connection(client, echo_ws.port)
    NO_FIN, CONT = lws.LWS_WRITE_NO_FIN, lws.LWS_WRITE_CONTINUATION
    parts = ["ab", "c€", "", "d"]
    client.send(wsi, parts[0], lws.LWS_WRITE_TEXT | NO_FIN)
    for p in parts[1:-1]:
        client.send(wsi, p, CONT | NO_FIN)
    client.send(wsi, parts[-1], CONT)
    chunks = [os.urandom(n) for n in (1, 0, 300, 70000, 5)]
    client.send(wsi, chunks[0], lws.LWS_WRITE_BINARY | NO_FIN)
    for c in chunks[1:-1]:
        client.send(wsi, c, CONT | NO_FIN)
    client.send(wsi, chunks[-1], CONT)
    client.run(lambda: len(client.messages[wsi]) >= 2, what="two echoes")
    assert client.messages[wsi] == [(False, "abc€d".encode()), (True, b"".join(chunks))]
    close_connection(client, wsi)


def test_unmasked_write_flag_is_accepted(client: Client) -> None:
    """LWS_WRITE_CLIENT_IGNORE_XOR_MASK sends a frame the server must refuse."""
    seen: list[Any] = []

    async def handler(ws: Any) -> None:
        try:
            await ws.recv()
        except ConnectionClosed as e:
            seen.append(e.rcvd or e.sent)

    with ws_server(handler) as server:
        wsi = open_connection(client, server.port)
        proto = lws.LWS_WRITE_BINARY | lws.LWS_WRITE_CLIENT_IGNORE_XOR_MASK
        client.send(wsi, b"unmasked", proto)
        client.run(lambda: client.closed[wsi] == 1 and bool(seen), what="the server's refusal")
        assert seen and seen[0] is not None and seen[0].code == 1002


# ====================================================================== closing, pings


def test_server_initiated_close_with_code_and_reason(client: Client) -> None:
    seen: list[Any] = []

    async def handler(ws: Any) -> None:
        await ws.send("bye soon")
        await ws.close(4001, "going away now")
        seen.append(ws.protocol.close_rcvd)

    with ws_server(handler) as server:
        wsi = open_connection(client, server.port)
        client.run(lambda: client.closed[wsi], what="CLOSED")
        assert client.messages[wsi] == [(False, b"bye soon")]
        client.run(lambda: bool(seen), what="the server's close handshake")
        client.linger(0.1)
        assert client.closed[wsi] == 1
        # our side answered the close with the same code
        assert seen[0] is not None and seen[0].code == 4001


def test_client_close_sends_1000(client: Client) -> None:
    seen: list[Any] = []

    async def handler(ws: Any) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for _ in ws:
                pass
        seen.append(ws.protocol.close_rcvd)

    with ws_server(handler) as server:
        wsi = open_connection(client, server.port)
        close_connection(client, wsi)
        client.run(lambda: bool(seen), what="the server seeing the close")
        assert seen[0] is not None and seen[0].code == 1000


def test_server_pings_get_pongs(client: Client) -> None:
    results: list[Any] = []

    async def handler(ws: Any) -> None:
        for payload in (b"", b"ping-1", os.urandom(125)):
            waiter = await ws.ping(payload)
            latency = await asyncio.wait_for(waiter, 5)
            results.append(latency)
        await ws.send("pinged")
        await ws.wait_closed()

    with ws_server(handler) as server:
        wsi = open_connection(client, server.port)
        client.run(lambda: client.messages[wsi], what="the message after the pings")
        assert client.messages[wsi] == [(False, b"pinged")]
        assert len(results) == 3
        assert not client.pongs[wsi]  # the server sent no pongs
        close_connection(client, wsi)


def test_receive_pong_after_our_ping(client: Client, echo_ws: WSServer) -> None:
    wsi = open_connection(client, echo_ws.port)
    payloads = [b"abc", b"", os.urandom(125)]
    for p in payloads:
        client.send(wsi, p, lws.LWS_WRITE_PING)
    client.run(lambda: len(client.pongs[wsi]) >= 3, what="three pongs")
    assert client.pongs[wsi] == payloads
    assert not client.messages[wsi]
    close_connection(client, wsi)


# ====================================================================== handshake failures


def test_server_refusing_the_subprotocol_fails(client: Client) -> None:
    with ws_server(echo_handler, subprotocols=["other"]) as server:
        wsi = client.connect(server.port, protocol="test")
        reason = expect_failure(client, wsi)
    assert reason


def test_server_choosing_a_protocol_we_did_not_ask_for_fails(client: Client) -> None:
    with ws_server(echo_handler, select_subprotocol=lambda conn, offered: "other") as server:
        wsi = client.connect(server.port, protocol="test")
        expect_failure(client, wsi)


@pytest.mark.parametrize(
    "name,respond",
    [
        ("wrong accept", lambda key: handshake_reply(key, accept=accept_key(key + "x"))),
        ("no accept", lambda key: handshake_reply(key).replace(b"Sec-WebSocket-Accept", b"X-A")),
        ("404", lambda key: b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
        ("200", lambda key: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"),
        ("not http", lambda key: b"SSH-2.0-OpenSSH_9.2\r\n\r\n"),
        (
            "extension not offered",
            lambda key: handshake_reply(key, "Sec-WebSocket-Extensions: permessage-deflate"),
        ),
        ("protocol not asked", lambda key: handshake_reply(key, "Sec-WebSocket-Protocol: other")),
        ("close mid-handshake", lambda key: b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: webs"),
        ("close at once", lambda key: None),
    ],
)
def test_bad_handshake_answers_fail(client: Client, name: str, respond: Any) -> None:
    fake = FakeServer(respond, linger=0.2)
    try:
        wsi = client.connect(fake.port)
        reason = expect_failure(client, wsi)
    finally:
        fake.close()
    assert reason, name


def test_handshake_timeout_fails(client: Client) -> None:
    fake = FakeServer(lambda key: None, linger=8)
    lws.lws_set_handshake_timeout(client.ctx, 1)
    try:
        wsi = client.connect(fake.port)
        start = time.monotonic()
        expect_failure(client, wsi, timeout=6)
        assert time.monotonic() - start < 5
    finally:
        fake.close()


def test_good_fake_handshake_establishes(client: Client) -> None:
    """The fake server's correct answer works, so the failures above are the
    answers' faults."""
    fake = FakeServer(lambda key: handshake_reply(key), linger=0.5)
    try:
        wsi = open_connection(client, fake.port)
        assert wsi in client.established
    finally:
        fake.close()
    client.run(lambda: client.closed[wsi], what="CLOSED when the server goes")


def test_refused_port_fails_with_a_reason(client: Client) -> None:
    port = free_port()  # nothing listens there
    wsi = client.connect(port)
    reason = expect_failure(client, wsi)
    assert "refused" in reason.lower() or "connect" in reason.lower(), reason


def test_dns_failure_fails_with_a_reason(client: Client) -> None:
    wsi = client.connect(80, address="no-such-host.invalid")
    reason = expect_failure(client, wsi, timeout=30)
    assert reason


def test_many_failures_at_once(client: Client) -> None:
    port = free_port()
    wsis = [client.connect(port) for _ in range(50)]
    client.run(lambda: all(client.done(w) for w in wsis), what="50 failures")
    assert all(len(client.errors[w]) == 1 for w in wsis)


# ====================================================================== the request we send


def fake_request(client: Client, **kw: Any) -> dict[str, str]:
    fake = FakeServer(lambda key: handshake_reply(key), linger=0.3)
    try:
        wsi = open_connection(client, fake.port, **kw)
        close_connection(client, wsi)
    finally:
        fake.close()
    headers = fake.headers()
    headers[":request"] = fake.request.decode().split("\r\n")[0]  # type: ignore[union-attr]
    headers[":port"] = str(fake.port)
    return headers


def test_request_headers_defaults(client: Client) -> None:
    h = fake_request(client, path=None)
    assert h[":request"] == "GET / HTTP/1.1"
    assert h["host"] in (LOCAL, f"{LOCAL}:{h[':port']}")
    assert h["upgrade"].lower() == "websocket"
    assert "upgrade" in h["connection"].lower()
    assert len(base64.b64decode(h["sec-websocket-key"])) == 16
    assert h["sec-websocket-version"] == "13"
    assert "origin" not in h and "sec-websocket-origin" not in h
    assert "sec-websocket-protocol" not in h


def test_request_headers_given(client: Client) -> None:
    h = fake_request(
        client, path="/a/b?c=d", host="example.test", origin="http://example.test",
        protocol="test, other",
    )  # fmt: skip
    assert h[":request"] == "GET /a/b?c=d HTTP/1.1"
    assert h["host"].split(":")[0] == "example.test"
    assert h.get("origin", h.get("sec-websocket-origin")) == "http://example.test"
    assert [p.strip() for p in h["sec-websocket-protocol"].split(",")] == ["test", "other"]


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("example.test", "example.test:{port}"),
        ("example.test:8080", "example.test:8080"),  # a port given is kept
        ("::1", "[::1]:{port}"),  # a bare IPv6 address gets brackets
        ("[::1]:9", "[::1]:9"),
    ],
)
def test_host_header_exact(client: Client, host: str, expected: str) -> None:
    h = fake_request(client, host=host)
    assert h["host"] == expected.format(port=h[":port"])


def test_empty_protocol_sends_none(client: Client) -> None:
    assert "sec-websocket-protocol" not in fake_request(client, protocol="")


@pytest.mark.parametrize("version", [7, 8, 13, -1])
def test_version_header(client: Client, version: int) -> None:
    h = fake_request(client, version=version)
    assert h["sec-websocket-version"] == str(13 if version == -1 else version)


def test_keys_differ(client: Client) -> None:
    keys = {fake_request(client)["sec-websocket-key"] for _ in range(3)}
    assert len(keys) == 3


# ====================================================================== protocols, userdata


def test_events_go_to_the_protocol_asked_for() -> None:
    c = Client(names=("first", "second", "third"))
    try:

        def select(conn: Any, offered: Any) -> Any:
            return next((p for p in ("second", "third") if p in offered), None)

        with ws_server(echo_handler, select_subprotocol=select) as server:
            a = open_connection(c, server.port, protocol="third")
            b = open_connection(c, server.port, protocol="unknown, second")
            d = open_connection(c, server.port)  # no protocol: protocols[0]
            for w in (a, b, d):
                c.send(w, "x")
            c.run(lambda: all(c.messages[w] for w in (a, b, d)), what="echoes")
            assert lws.ffi.string(lws.libwebsockets_get_protocol(a).name) == b"third"
            for w in (a, b, d):
                close_connection(c, w)

            def names(w: Any) -> set[str]:
                return {
                    n for (x, r, n) in c.calls if x == w and r != APPEND and r not in POLL_REASONS
                }

            assert names(a) == {"third"}
            # asked "unknown" first: protocols[0] until the server chose "second"
            assert "second" in names(b) and names(b) <= {"first", "second"}
            assert [n for (x, r, n) in c.calls if x == b and r == CLOSED] == ["second"]
            assert names(d) == {"first"}
            # closed: the wsi may not be used any more
            with pytest.raises(lws.WsiClosedError):
                lws.libwebsockets_get_protocol(a)
    finally:
        c.destroy()
    assert not c.problems, c.problems


def test_append_handshake_header_adds_a_cookie() -> None:
    seen: list[Any] = []
    c = Client(names=("zero", "one"))
    appends: list[tuple[Any, str, int]] = []

    def append(context: Any, wsi: Any, user: Any, in_: Any, len_: int) -> int:
        name = ffi.string(lib.lws_calling_protocol(context).name).decode()
        appends.append((user, name, len_))
        if len_ < 100:
            return 1
        # C style: *p += sprintf(*p, "Cookie: a=b\r\n")
        p = ffi.cast("char **", in_)
        line = b"Cookie: a=b\r\n"
        ffi.memmove(p[0], line, len(line))
        p[0] += len(line)
        # the binding's helper does the same
        lws.lws_append_handshake_header(in_, len_ - len(line), "X-Extra: 42\r\n")
        return 0

    c.hooks[APPEND] = append

    async def process_request(connection: Any, request: Any) -> None:
        seen.append(request.headers)

    try:
        with ws_server(echo_handler, process_request=process_request) as server:
            wsi = open_connection(c, server.port, protocol="one")
            c.send(wsi, "hello")
            c.run(lambda: c.messages[wsi], what="the echo")
            close_connection(c, wsi)
    finally:
        c.destroy()
    assert not c.problems, c.problems
    assert seen and seen[0]["Cookie"] == "a=b" and seen[0]["X-Extra"] == "42"
    assert len(appends) == 1
    user, name, room = appends[0]
    assert user == ffi.NULL and name == "zero" and room >= 100


def test_append_handshake_header_return_value_is_ignored() -> None:
    """The specification's example returns 1 when it has no room and adds
    nothing: the handshake goes ahead without the header, as in the classic
    library."""
    c = Client()
    c.hooks[APPEND] = lambda context, wsi, user, in_, len_: 1
    try:
        with ws_server(echo_handler) as server:
            wsi = open_connection(c, server.port)
            c.send(wsi, "still here")
            c.run(lambda: c.messages[wsi], what="the echo")
            close_connection(c, wsi)
    finally:
        c.destroy()
    assert not c.problems, c.problems


def test_append_handshake_header_helper_checks() -> None:
    buf = ffi.new("char[]", 64)
    pos = ffi.new("char **", buf)
    assert lws.lws_append_handshake_header(pos, 64, b"A: b\r\n") == 6
    assert pos[0] - buf == 6 and ffi.string(buf) == b"A: b\r\n"
    with pytest.raises(ValueError, match="CRLF"):
        lws.lws_append_handshake_header(pos, 58, "A: b")
    with pytest.raises(ValueError, match="fit"):
        lws.lws_append_handshake_header(pos, 3, "A: b\r\n")
    with pytest.raises(TypeError):
        lws.lws_append_handshake_header(pos, 58, 5)


def test_extended_userdata_arrives_as_user() -> None:
    c = Client(user_size=16)
    try:
        with ws_server(echo_handler) as server:
            mine = ffi.new("int[4]", [42, 43, 44, 45])
            wsi = open_connection(c, server.port, userdata=mine)
            plain = open_connection(c, server.port)  # library-allocated user area
            assert lws.registry.held_userdata(c.ctx) == {wsi: mine}
            c.send(wsi, "x")
            c.run(lambda: c.messages[wsi], what="the echo")
            close_connection(c, wsi)
            users = c.users[wsi]
            assert {r for r, _ in users} >= {ESTABLISHED, RECEIVE, WRITEABLE, CLOSED}
            for _, user in users:
                assert int(ffi.cast("uintptr_t", user)) == int(ffi.cast("uintptr_t", mine))
                assert ffi.cast("int *", user)[0] == 42
            other = {int(ffi.cast("uintptr_t", u)) for _, u in c.users[plain]}
            assert len(other) == 1 and other != {0}
            assert other != {int(ffi.cast("uintptr_t", mine))}
            # CLOSED came: the binding let go of it
            assert lws.registry.held_userdata(c.ctx) == {}
            close_connection(c, plain)
    finally:
        c.destroy()
    assert not c.problems, c.problems


def test_extended_userdata_released_on_connection_error(client: Client) -> None:
    mine = ffi.new("int *", 7)
    wsi = client.connect(free_port(), userdata=mine)
    assert lws.registry.held_userdata(client.ctx) == {wsi: mine}
    expect_failure(client, wsi)
    assert lws.registry.held_userdata(client.ctx) == {}
    # no callable is wrapped: the hot path is the plain one
    from pylws_ffi import registry

    assert all(not hasattr(cb, "__wrapped__") for cb in registry.by_entry.values())


def test_extended_userdata_released_with_a_c_function_callback() -> None:
    """A protocol whose callback is a C function pointer: the binding sees
    none of its callbacks, yet lets go of the userdata as soon as the core
    drops the connection (lws_set_conn_gone_notify), not only at destroy."""
    calls: list[int] = []

    @ffi.callback("callback_function *")
    def c_callback(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        calls.append(reason)
        return 0

    ctx = lws.libwebsocket_create_context(lws.CONTEXT_PORT_NO_LISTEN, None, [("c", c_callback)])
    try:
        mine = ffi.new("int *", 3)
        wsi = lws.libwebsocket_client_connect_extended(
            ctx, LOCAL, free_port(), 0, "/", None, None, None, -1, mine
        )
        assert lws.registry.held_userdata(ctx) == {wsi: mine}
        deadline = time.monotonic() + 10
        while lws.lib.lws_conn_is_live(ctx, wsi) and time.monotonic() < deadline:
            lws.libwebsocket_service(ctx, 20)
        assert ERROR in calls
        assert lws.registry.held_userdata(ctx) == {}
    finally:
        lws.libwebsocket_context_destroy(ctx)


def test_extended_with_none_is_plain_connect(client: Client, echo_ws: WSServer) -> None:
    wsi = open_connection(client, echo_ws.port, extended=True)
    client.send(wsi, b"\x00\x01")
    client.run(lambda: client.messages[wsi], what="the echo")
    close_connection(client, wsi)


# ====================================================================== frames on the wire


def test_client_frames_are_masked_with_fresh_masks(client: Client) -> None:
    fake = FakeServer(
        lambda key: handshake_reply(key),
        linger=0.5,
        after=lambda conn, extra: read_client_frames(conn, 5, extra),
    )
    try:
        wsi = open_connection(client, fake.port)
        client.send(wsi, "a", lws.LWS_WRITE_TEXT)
        client.send(wsi, b"bb" * 100, lws.LWS_WRITE_BINARY)
        client.send(wsi, b"x" * 70000, lws.LWS_WRITE_BINARY)
        client.send(wsi, b"p", lws.LWS_WRITE_PING)
        client.send(wsi, b"plain", lws.LWS_WRITE_BINARY | lws.LWS_WRITE_CLIENT_IGNORE_XOR_MASK)
        client.run(lambda: fake.result is not None or fake.error, what="the frames")
    finally:
        fake.close()
    assert fake.error is None, fake.error
    frames = fake.result
    assert [(f[0], f[3]) for f in frames] == [
        (0x81, b"a"),
        (0x82, b"bb" * 100),
        (0x82, b"x" * 70000),
        (0x89, b"p"),
        (0x82, b"plain"),
    ]
    assert [f[1] for f in frames] == [True, True, True, True, False]
    masks = [f[2] for f in frames[:4]]
    assert len(set(masks)) == 4, masks


def test_frames_arriving_with_the_101_and_byte_by_byte(client: Client) -> None:
    message = server_frame(1, b"hel", fin=False) + server_frame(0, "lo €".encode())

    def dribble(conn: socket.socket, extra: bytes) -> None:
        for b in server_frame(2, bytes(range(200))) + server_frame(9, b"ping?"):
            conn.sendall(bytes([b]))
            time.sleep(0.001)
        return read_client_frames(conn, 1, extra)

    fake = FakeServer(lambda key: handshake_reply(key) + message, linger=0.5, after=dribble)
    try:
        wsi = client.connect(fake.port)
        client.run(lambda: fake.result is not None or fake.error, what="the pong")
    finally:
        fake.close()
    assert client.messages[wsi] == [(False, "hello €".encode()), (True, bytes(range(200)))]
    assert fake.error is None, fake.error
    (first, masked, _, body) = fake.result[0]
    assert first == 0x8A and masked and body == b"ping?"  # the automatic pong


def test_masked_server_frame_is_refused_with_1002(client: Client) -> None:
    def masked_frame(conn: socket.socket, extra: bytes) -> Any:
        conn.sendall(server_frame(1, b"masked!", mask=b"abcd"))
        return read_client_frames(conn, 1, extra)

    fake = FakeServer(lambda key: handshake_reply(key), linger=0.5, after=masked_frame)
    try:
        wsi = open_connection(client, fake.port)
        client.run(lambda: client.closed[wsi], what="CLOSED")
        client.run(lambda: fake.result is not None or fake.error, what="the close frame")
    finally:
        fake.close()
    assert not client.messages[wsi]
    (first, masked, _, body) = fake.result[0]
    assert first == 0x88 and masked and struct.unpack("!H", body[:2])[0] == 1002


def _close_code(body: bytes) -> int | None:
    return struct.unpack("!H", body[:2])[0] if len(body) >= 2 else None


@pytest.mark.parametrize(
    "name,frames,code",
    [
        ("close with a 1-byte payload", server_frame(8, b"\x03"), 1002),
        ("close code 1005", server_frame(8, struct.pack("!H", 1005)), 1002),
        ("close code 999", server_frame(8, struct.pack("!H", 999)), 1002),
        ("close reason not UTF-8", server_frame(8, struct.pack("!H", 1000) + b"\xff"), 1007),
        ("text not UTF-8", server_frame(1, b"\xff\xfe"), 1007),
        ("RSV1 without an extension", bytes([0xC1, 2]) + b"hi", 1002),
        ("reserved opcode", server_frame(3, b"x"), 1002),
        ("ping of 126 bytes", server_frame(9, b"x" * 126), 1002),
        ("fragmented ping", server_frame(9, b"x", fin=False), 1002),
        ("continuation without a message", server_frame(0, b"x"), 1002),
        ("new message inside another", server_frame(1, b"a", False) + server_frame(1, b"b"), 1002),
        ("close 1001 right after the 101", server_frame(8, struct.pack("!H", 1001) + b"bye"), 1001),
    ],
)  # fmt: skip
def test_server_protocol_errors_get_the_rfc_close_code(
    client: Client, name: str, frames: bytes, code: int
) -> None:
    def send(conn: socket.socket, extra: bytes) -> Any:
        conn.sendall(frames)
        return read_client_frames(conn, 1, extra)

    fake = FakeServer(lambda key: handshake_reply(key), linger=1, after=send)
    try:
        wsi = client.connect(fake.port)
        client.run(lambda: client.closed[wsi] == 1, what="CLOSED")
        client.run(lambda: fake.result is not None or fake.error, what="our close frame")
    finally:
        fake.close()
    assert not client.errors.get(wsi) and not client.messages[wsi]
    (first, masked, _, body) = fake.result[0]
    assert first == 0x88 and masked and _close_code(body) == code, name


def test_write_close_waits_for_the_servers_answer(client: Client) -> None:
    """A close frame written with LWS_WRITE_CLOSE: CLOSED comes with the answer."""
    seen: list[Any] = []

    async def handler(ws: Any) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for _ in ws:
                pass
        seen.append(ws.protocol.close_rcvd)

    with ws_server(handler) as server:
        wsi = open_connection(client, server.port)
        client.send(wsi, struct.pack("!H", 4000) + b"done", lws.LWS_WRITE_CLOSE)
        client.run(lambda: client.closed[wsi] == 1 and bool(seen), what="CLOSED")
    assert seen[0] is not None and (seen[0].code, seen[0].reason) == (4000, "done")


def test_callback_returning_nonzero_closes(client: Client, echo_ws: WSServer) -> None:
    wsi = open_connection(client, echo_ws.port)
    client.on_message = lambda wsi, binary, data: 1
    client.send(wsi, "x")
    client.run(lambda: client.closed[wsi] == 1, what="CLOSED")
    client.linger(0.05)
    assert client.closed[wsi] == 1 and client.messages[wsi] == [(False, b"x")]


def test_close_before_established_reports_an_error(client: Client) -> None:
    fake = FakeServer(lambda key: None, linger=5)
    try:
        wsi = client.connect(fake.port)
        client.run(lambda: fake.request is not None, what="the request")
        lws.libwebsocket_close_and_free_session(client.ctx, wsi, lws.LWS_CLOSE_STATUS_NORMAL)
        expect_failure(client, wsi)
    finally:
        fake.close()


def test_destroying_the_context_ends_pending_connections() -> None:
    c = Client()
    fake = FakeServer(lambda key: None, linger=5)
    try:
        mine = ffi.new("int *", 1)
        a = c.connect(fake.port, userdata=mine)
        b = c.connect(80, address="localhost")
        d = c.connect(free_port())
        c.run(lambda: fake.request is not None, what="the request")
    finally:
        c.destroy()
        fake.close()
    assert not c.problems, c.problems
    for w in (a, b, d):  # each ended once, with an error, never established
        assert len(c.errors[w]) <= 1 and not c.closed[w]
    assert len(c.errors[a]) == 1


# ====================================================================== addresses


def test_localhost_by_name(client: Client, echo_ws: WSServer) -> None:
    wsi = open_connection(client, echo_ws.port, address="localhost")
    client.send(wsi, "by name")
    client.run(lambda: client.messages[wsi], what="the echo")
    assert client.messages[wsi] == [(False, b"by name")]
    close_connection(client, wsi)


def _ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_available(), reason="no IPv6 loopback")
def test_ipv6_loopback(client: Client) -> None:
    with ws_server(echo_handler, host="::1") as server:
        wsi = open_connection(client, server.port, address="::1")
        client.send(wsi, "over v6")
        client.run(lambda: client.messages[wsi], what="the echo")
        assert client.messages[wsi] == [(False, b"over v6")]
        close_connection(client, wsi)


# ====================================================================== our client, our server


@pytest.mark.timeout(180)
@pytest.mark.parametrize("kind", ["c", "python"])
def test_200_clients_against_our_echo_server(kind: str) -> None:
    server = start_echo(kind)
    c = Client()
    try:
        n_clients, n_messages = 200, 10
        sent: Counter[Any] = Counter()

        def message(wsi: Any, n: int) -> bytes:
            return b"%d:%d:" % (int(ffi.cast("uintptr_t", wsi)) & 0xFFFFFF, n) * (n + 1)

        def on_message(wsi: Any, binary: bool, data: bytes) -> int:
            n = len(c.messages[wsi])
            if data != message(wsi, n - 1):
                c.problems.append("wrong echo")
            if n < n_messages:
                c.send(wsi, message(wsi, n))
                sent[wsi] += 1
            else:
                lws.libwebsocket_close_and_free_session(c.ctx, wsi, lws.LWS_CLOSE_STATUS_NORMAL)
            return 0

        def on_established(context: Any, wsi: Any, user: Any, in_: Any, len_: int) -> int:
            c.established.add(wsi)
            c.send(wsi, message(wsi, 0))
            return 0

        c.on_message = on_message
        c.hooks[ESTABLISHED] = on_established
        wsis = [c.connect(server.port) for _ in range(n_clients)]
        c.run(lambda: all(c.done(w) for w in wsis), timeout=120, what="200 x 10 echoes")
        assert not any(c.errors.get(w) for w in wsis)
        assert all(len(c.messages[w]) == n_messages for w in wsis)
        assert all(c.closed[w] == 1 for w in wsis)
        assert server.alive()
    finally:
        c.destroy()
        server.stop()
    assert not c.problems, c.problems[:5]


# ====================================================================== a server is a client too


class ServingClient(Client):
    """A Client whose context also listens on ``port`` (the loopback): the
    connections it accepts echo what they receive (tests/support/served.py's Echo),
    beside the client connections it makes, all served by the one loop of
    ``run``.  Client's checks hold for the client connections."""

    def __init__(self, port: int) -> None:
        self.accepted: set[Any] = set()  # server-side connections, open
        self.accepted_count = self.accepted_closed = 0
        self.received: list[tuple[bool, bytes]] = []  # by the server side, whole
        self.echo = Echo()
        super().__init__(port=port)

    def callback(self, context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> Any:
        if reason == lws.LWS_CALLBACK_ESTABLISHED:  # never for a client connection
            self.accepted.add(wsi)
            self.accepted_count += 1
        if wsi not in self.accepted:
            return super().callback(context, wsi, reason, user, in_, len_)
        if reason == lws.LWS_CALLBACK_RECEIVE:
            if not lib.libwebsocket_is_final_fragment(wsi):
                self.problems.append("a small message in pieces")
            self.received.append((bool(lib.lws_frame_is_binary(wsi)), lws.payload(in_, len_)))
        elif reason == CLOSED:
            self.accepted.discard(wsi)
            self.accepted_closed += 1
        elif reason in (ESTABLISHED, RECEIVE, PONG, WRITEABLE, ERROR):
            self.problems.append(f"client reason {reason} for an accepted connection")
        return self.echo(context, wsi, reason, user, in_, len_)


@pytest.mark.timeout(60)
def test_a_listening_context_makes_client_connections_too(echo_ws: WSServer) -> None:
    """One context listens on a port and, served by the same loop, connects
    as a client to itself and to a `websockets` server, while a `websockets`
    client connects to it: messages go both ways on each connection."""
    port = free_port()
    c = ServingClient(port)
    outside: dict[str, Any] = {}

    def outside_client() -> None:
        try:
            url = f"ws://{LOCAL}:{port}"
            with sync_connect(url, subprotocols=["test"], open_timeout=10) as ws:
                replies = []
                for message in ("from outside", b"\x00outside\xff"):
                    ws.send(message)
                    replies.append(ws.recv(timeout=10))
                outside["replies"] = replies
        except BaseException as e:  # reported by the test
            outside["error"] = e

    thread = threading.Thread(target=outside_client, daemon=True)
    try:
        thread.start()
        to_self = c.connect(port, protocol="test")
        to_ws = c.connect(echo_ws.port)
        both = (to_self, to_ws)
        c.run(lambda: all(w in c.established or c.done(w) for w in both), what="handshakes")
        assert not any(c.errors.get(w) for w in both), dict(c.errors)
        c.send(to_self, "to myself")
        c.send(to_self, b"\x01to myself\x02")
        c.send(to_ws, "to websockets")
        c.send(to_ws, b"\x01to websockets\x02")
        c.run(
            lambda: all(len(c.messages[w]) == 2 for w in both) and bool(outside),
            timeout=20,
            what="the echoes",
        )
        assert "error" not in outside, outside
        assert outside["replies"] == ["from outside", b"\x00outside\xff"]
        assert c.messages[to_self] == [(False, b"to myself"), (True, b"\x01to myself\x02")]
        assert c.messages[to_ws] == [(False, b"to websockets"), (True, b"\x01to websockets\x02")]
        # the server side accepted ours and the outside one, not the one to websockets
        assert c.accepted_count == 2
        assert sorted(c.received) == sorted(
            [(False, b"to myself"), (True, b"\x01to myself\x02"),
             (False, b"from outside"), (True, b"\x00outside\xff")]
        )  # fmt: skip

        # closing ours closes its other half, in the same context; the outside
        # client's closing handshake needs the loop served too
        for w in both:
            close_connection(c, w)
        c.run(
            lambda: c.accepted_closed == 2 and not thread.is_alive(),
            what="the server halves' CLOSED",
        )
        assert not c.accepted
    finally:
        c.destroy()
        thread.join(10)
    assert not thread.is_alive()
    assert not c.problems, c.problems


# ====================================================================== the examples


def c_example(name: str) -> Path:
    return asan_build() / name


def sanitizer_env() -> dict[str, str]:
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=99"
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:exitcode=98"
    return env


def example_argv(kind: str, name: str, *args: str) -> list[str]:
    if kind == "c":
        return [str(c_example(name)), *args]
    return [sys.executable, str(EXAMPLES / f"{name}.py"), *args]


def run_example(
    kind: str, name: str, *args: str, input: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        example_argv(kind, name, *args),
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        env=sanitizer_env(),
        cwd=ROOT,
    )
    bad = [m for m in SANITIZER_MARKERS if m in result.stderr]
    assert not bad, f"{name} ({kind}): sanitizer report:\n{result.stderr[-6000:]}"
    return result


def start_example_server(kind: str, name: str, *args: str) -> Server:
    port = free_port()
    argv = example_argv(kind, name, "--port", str(port), *args)
    return Server(f"{name}-{kind}", argv, port, sanitizer_env())


KINDS = ["c", "python"]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("server_kind", KINDS)
@pytest.mark.parametrize("client_kind", KINDS)
def test_fraggle_client_against_fraggle_server(client_kind: str, server_kind: str) -> None:
    server = start_example_server(server_kind, "test-fraggle", "--messages", "20", "--seed", "7")
    try:
        result = run_example(client_kind, "test-fraggle", "-c", LOCAL, "--port", str(server.port))
        out = result.stdout
        assert result.returncode == 0, result.stdout + result.stderr
        verified = re.findall(r"^verified message (\d+): (\d+) bytes, checksum (\d+)$", out, re.M)
        assert [int(k) for k, _, _ in verified] == list(range(1, 21))
        assert "20 messages verified, 0 bad" in out
        assert "BAD" not in out
        # the server's own account of what it sent agrees
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and server.output().count("sent message") < 20:
            time.sleep(0.05)
        sent = re.findall(r"sent message (\d+): (\d+) bytes, checksum (\d+)", server.output())
        assert sent == verified
    finally:
        server.stop()


@pytest.mark.timeout(300)
def test_fraggle_large_fragments_c() -> None:
    """Both sides in C under ASan: fragments up to 2 MiB, messages up to 8 MiB."""
    args = ("--messages", "4", "--max-fragments", "4", "--max-fragment-size", str(2 * MIB))
    server = start_example_server("c", "test-fraggle", *args, "--seed", "3")
    try:
        result = run_example("c", "test-fraggle", "-c", LOCAL, "--port", str(server.port))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "4 messages verified, 0 bad" in result.stdout
    finally:
        server.stop()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", KINDS)
def test_fraggle_client_detects_a_bad_checksum(kind: str) -> None:
    async def liar(ws: Any) -> None:
        await ws.send([b"ab", b"cd"])
        await ws.send(str(sum(b"abcd")))
        await ws.send(b"xyz")
        await ws.send("12345")  # wrong
        await ws.close()

    with ws_server(liar) as server:
        result = run_example(kind, "test-fraggle", "-c", LOCAL, "--port", str(server.port))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "verified message 1: 4 bytes" in result.stdout
    assert "BAD message 2" in result.stdout
    assert "1 messages verified, 1 bad" in result.stdout


@pytest.mark.timeout(180)
@pytest.mark.parametrize("kind", KINDS)
def test_ping_against_echo_server(kind: str) -> None:
    server = start_echo("c")
    try:
        r = run_example(
            kind, "test-ping", LOCAL, "--port", str(server.port), "--count", "4",
            "--interval", "0.05", "--size", "100",
        )  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        lines = re.findall(
            r"^100 bytes from 127\.0\.0\.1: req=(\d+) time=([\d.]+) ms$", r.stdout, re.M
        )
        assert [int(k) for k, _ in lines] == [1, 2, 3, 4]
        assert "4 pings transmitted, 4 received, 0% loss" in r.stdout
        assert re.search(r"rtt min/avg/max/mdev = [\d.]+/[\d.]+/[\d.]+/[\d.]+ ms", r.stdout)

        # flood, several connections
        r = run_example(
            kind, "test-ping", LOCAL, "--port", str(server.port), "--flood", "--count", "200",
            "--connections", "3",
        )  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        assert "600 pings transmitted, 600 received, 0% loss" in r.stdout
        assert r.stdout.count(".") >= 600

        r = run_example(
            kind, "test-ping", LOCAL, "--port", str(server.port), "--count", "2",
            "--interval", "0.02", "--connections", "2", "--size", "16",
        )  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        assert len(re.findall(r"^16 bytes from .*: req=\d conn=[01] time=", r.stdout, re.M)) == 4
        assert server.alive()
    finally:
        server.stop()


@pytest.mark.timeout(180)
def test_c_client_with_200_connections_under_asan() -> None:
    """The C client side under ASan with many connections in one context:
    test-ping, 200 connections x 10 pings, against the C echo server."""
    server = start_echo("c")
    try:
        r = run_example(
            "c", "test-ping", LOCAL, "--port", str(server.port), "--flood", "--count", "10",
            "--connections", "200",
        )  # fmt: skip
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
        assert "2000 pings transmitted, 2000 received, 0% loss" in r.stdout
    finally:
        server.stop()


def read_until(proc: subprocess.Popen, pattern: str, timeout: float) -> str:
    """Read proc's stdout until pattern appears (or fail at the deadline)."""
    import selectors

    out = ""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
    deadline = time.monotonic() + timeout
    while not re.search(pattern, out):
        left = deadline - time.monotonic()
        assert left > 0, f"no {pattern!r} in {out!r}"
        if sel.select(left):
            chunk = os.read(proc.stdout.fileno(), 65536).decode()  # type: ignore[union-attr]
            if not chunk:
                break
            out += chunk
    sel.close()
    return out


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", KINDS)
def test_ping_statistics_on_ctrl_c(kind: str) -> None:
    server = start_echo("c")
    try:
        proc = subprocess.Popen(
            example_argv(kind, "test-ping", LOCAL, "--port", str(server.port), "-i", "0.05"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=sanitizer_env(),
        )
        try:
            out = read_until(proc, r"req=3 ", 30)
            proc.send_signal(signal.SIGINT)
            rest, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        out += rest.decode()
        assert proc.returncode == 0, out + err.decode()
        m = re.search(r"(\d+) pings transmitted, (\d+) received, (\d+)% loss", out)
        assert m and int(m.group(1)) >= 3 and int(m.group(2)) >= 3, out
        assert "rtt min/avg/max/mdev" in out
        assert not [mk for mk in SANITIZER_MARKERS if mk in err.decode()]
    finally:
        server.stop()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("server_kind", KINDS)
@pytest.mark.parametrize("kind", KINDS)
def test_echo_client_against_our_echo_server(kind: str, server_kind: str) -> None:
    server = start_echo(server_kind)
    try:
        lines = ["hello", "", "wörld €", "x" * 70000, "last line without newline"]
        r = run_example(kind, "echo_client", "--port", str(server.port), input="\n".join(lines))
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr
        assert r.stdout.split("\n")[:-1] == lines

        r = run_example(
            kind, "echo_client", "--port", str(server.port), "--message", "again", "--count", "3"
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout == "again\nagain\nagain\n"

        r = run_example(kind, "echo_client", "--port", str(free_port()), "--message", "x")
        assert r.returncode == 1
        assert "connection failed" in r.stderr
        assert server.alive()
    finally:
        server.stop()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", KINDS)
def test_echo_client_short_options(kind: str) -> None:
    """-H -p -P -r -m -n -d, as echo_client.c's getopt has them; bad values
    exit with 2."""
    server = start_echo("python")
    try:
        r = run_example(
            kind, "echo_client", "-H", LOCAL, "-p", str(server.port), "-P", "/x", "-r", "echo",
            "-m", "short", "-n", "0x2", "-d", "3",
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert r.stdout == "short\nshort\n"
        for bad in (["-p", "0"], ["-p", "65536"], ["-n", "-1"], ["-d", "0x10000"], ["-p", "x"]):
            r = run_example(kind, "echo_client", *bad, "-m", "x")
            assert r.returncode == 2, (bad, r.stderr)
        assert server.alive()
    finally:
        server.stop()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", KINDS)
def test_echo_client_closes_with_1000(kind: str) -> None:
    seen: list[Any] = []

    async def handler(ws: Any) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for m in ws:
                await ws.send(m)
        seen.append(ws.protocol.close_rcvd)

    with ws_server(handler) as server:
        r = run_example(kind, "echo_client", "--port", str(server.port), input="a\nb\n")
        assert r.returncode == 0, r.stderr
        assert r.stdout == "a\nb\n"
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.02)
    assert seen and seen[0] is not None and seen[0].code == 1000


def demo_stand_in() -> tuple[Callable[..., Any], dict[str, Any]]:
    """The demo server's two protocols, written with ``websockets``."""
    state: dict[str, Any] = {"mirror": set(), "protocols": [], "circles": []}

    async def handler(ws: Any) -> None:
        state["protocols"].append(ws.subprotocol)
        if ws.subprotocol == "dumb-increment-protocol":
            n = 0
            with contextlib.suppress(ConnectionClosed):
                while True:
                    await ws.send(str(n))
                    n += 1
                    await asyncio.sleep(0.01)
        elif ws.subprotocol == "lws-mirror-protocol":
            state["mirror"].add(ws)
            try:
                async for message in ws:
                    state["circles"].append(message)
                    broadcast(state["mirror"], message)
            except ConnectionClosed:
                pass
            finally:
                state["mirror"].discard(ws)

    return handler, state


CIRCLE = r"c #[0-9a-f]{6} \d+ \d+ \d+;"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", KINDS)
def test_test_client_against_a_demo_stand_in(kind: str) -> None:
    handler, state = demo_stand_in()
    subprotocols = ["dumb-increment-protocol", "lws-mirror-protocol"]
    with ws_server(handler, subprotocols=subprotocols) as server:
        r = run_example(
            kind, "test-client", LOCAL, "--port", str(server.port), "--count", "5",
            "--interval", "0.01",
        )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    numbers = [int(n) for n in re.findall(r"^dumb-increment: (\d+)$", r.stdout, re.M)]
    assert len(numbers) >= 5 and numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    circles = re.findall(rf"^mirror: ({CIRCLE})$", r.stdout, re.M)
    assert len(circles) >= 5
    assert sorted(state["protocols"]) == sorted(subprotocols)
    assert all(re.fullmatch(CIRCLE, c) for c in state["circles"])
    assert circles == state["circles"][: len(circles)]

"""Property-based fuzzing (hypothesis) of the binding's argument handling.

Each public wrapper is called with arbitrary Python values in place of its
arguments: None, ints far outside C's ranges, huge and negative lengths, str
with NUL characters, bytes, lists and tuples of the wrong shapes, dicts,
floats, and cdata of the wrong C types.  Every call must either work or raise
one of the documented exceptions (TypeError, ValueError, OverflowError for an
int that does not fit a C int, OSError, LwsError); anything else fails the
test, and a crash of the C code kills the pytest process, which fails the run.

Values that no binding can check are left out on purpose: a cdata pointer of
the right type to memory that is not a connection (the classic C API trusts
its caller there too).  One context (no listener) and one established
server connection, made on loopback, are shared by the cases.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pylws_ffi as lws
from pylws_ffi import ffi

# hypothesis warns when it prints a large example; not a failure here
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")

ALLOWED = (TypeError, ValueError, OverflowError, OSError, lws.LwsError)

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same cases every run: CI failures reproduce
)

ints = st.one_of(
    st.integers(min_value=-3, max_value=70000),
    st.sampled_from([-(2**31) - 1, 2**31, 2**32, 2**63, -(2**63) - 1, 2**64, 10**30]),
)
texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from('a\0\r\n/. ;="é'), max_size=20),
)
scalars = st.one_of(
    st.none(),
    ints,
    st.booleans(),
    st.floats(allow_nan=True),
    texts,
    st.binary(max_size=64),
    st.builds(bytearray, st.binary(max_size=64)),
)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.tuples(inner, inner, inner),
        st.dictionaries(st.text(max_size=4), inner, max_size=3),
    ),
    max_leaves=8,
)

# cdata of the wrong types, NULLs, and arrays (whose size the binding checks);
# never a bare pointer to fewer bytes than a length says (C trusts that too)
WRONG_CDATA: list[Callable[[], Any]] = [
    lambda: ffi.new("int[2]"),
    lambda: ffi.new("char[]", b"abc"),
    lambda: ffi.new("unsigned char[16]"),
    lambda: ffi.new("struct lws_tokens[1]"),
    lambda: ffi.NULL,
    lambda: ffi.cast("char *", 0),
    lambda: ffi.cast("struct libwebsocket *", 0),
    lambda: ffi.cast("struct libwebsocket_context *", 0),
]
cdata = st.sampled_from(range(len(WRONG_CDATA))).map(lambda i: WRONG_CDATA[i]())
values = st.one_of(junk, cdata)


def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call and accept a documented exception; anything else propagates."""
    try:
        return fn(*args, **kwargs)
    except ALLOWED:
        return None


def _noop(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
    return 0


class Peer:
    """One loopback connection served by a context: the wsi for the wrappers."""

    def __init__(self) -> None:
        self.wsi: Any = None

        def cb(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
            if reason == lws.LWS_CALLBACK_ESTABLISHED:
                self.wsi = wsi
            return 0

        self.cb = cb  # kept alive
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        port = lsock.getsockname()[1]
        lsock.close()
        self.context = lws.libwebsocket_create_context(
            port,
            "127.0.0.1",
            [("http", cb, 0), ("fuzz", cb, 16)],
            lws.libwebsocket_internal_extensions,
        )
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Protocol: fuzz\r\n\r\n"
        )
        for _ in range(200):
            lws.libwebsocket_service(self.context, 10)
            if self.wsi is not None:
                break
        assert self.wsi is not None, "the loopback connection did not establish"
        self.sock.setblocking(False)

    def service(self) -> None:
        lws.libwebsocket_service(self.context, 0)
        try:
            while self.sock.recv(65536):
                pass
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        self.sock.close()
        for _ in range(20):
            lws.libwebsocket_service(self.context, 0)
        lws.libwebsocket_context_destroy(self.context)


@pytest.fixture(scope="module")
def peer() -> Iterator[Peer]:
    p = Peer()
    yield p
    p.close()


@pytest.fixture(scope="module")
def context() -> Iterator[Any]:
    ctx = lws.libwebsocket_create_context(lws.CONTEXT_PORT_NO_LISTEN, None, [("p", _noop, 0)])
    yield ctx
    lws.libwebsocket_context_destroy(ctx)


@SETTINGS
@given(buf=values, length=st.one_of(ints, values), kind=st.one_of(ints, values))
def test_write(peer: Peer, buf: Any, length: Any, kind: Any) -> None:
    if isinstance(buf, ffi.CData) and buf != ffi.NULL:
        # raw cdata must carry the C padding: the caller's duty, as in C
        buf = bytes(8)
    call(lws.libwebsocket_write, peer.wsi, buf, length, kind)
    call(lws.libwebsocket_write, values_null(), buf, length, kind)
    peer.service()


def values_null() -> Any:
    return ffi.cast("struct libwebsocket *", 0)


@SETTINGS
@given(wsi=values, a=values, b=values)
def test_connection_wrappers_with_wrong_wsi(wsi: Any, a: Any, b: Any) -> None:
    for fn, args in [
        (lws.libwebsocket_write, (wsi, a, b, 0)),
        (lws.libwebsocket_set_timeout, (wsi, a, b)),
        (lws.libwebsocket_get_socket_fd, (wsi,)),
        (lws.libwebsockets_get_protocol, (wsi,)),
        (lws.libwebsocket_is_final_fragment, (wsi,)),
        (lws.libwebsocket_rx_flow_control, (wsi, a)),
        (lws.libwebsockets_remaining_packet_payload, (wsi,)),
        (lws.lws_frame_is_binary, (wsi,)),
    ]:
        call(fn, *args)


@SETTINGS
@given(
    protocols=values,
    extensions=values,
    port=st.one_of(ints, values),
    interf=values,
    options=st.one_of(ints, values),
    gid=values,
    user=values,
)
def test_create_context(
    protocols: Any, extensions: Any, port: Any, interf: Any, options: Any, gid: Any, user: Any
) -> None:
    # a listener only on a port no test uses: the kernel picks one (0 = no listener)
    if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536:
        port = lws.CONTEXT_PORT_NO_LISTEN
    for protos in (
        protocols,
        [("p", _noop, 0)],
        [("p", _noop, protocols)],
        [(protocols, _noop, 0)],
        [("p", protocols, 0)],
    ):
        ctx = call(
            lws.libwebsocket_create_context,
            port,
            None,
            protos,
            extensions,
            options=options if isinstance(options, int) else 0,
            user=user,
        )
        if ctx is not None:
            lws.libwebsocket_context_destroy(ctx)
    ctx = call(
        lws.libwebsocket_create_context,
        lws.CONTEXT_PORT_NO_LISTEN,
        interf,
        [("p", _noop, 0)],
        [("x", protocols, gid)],
        gid=gid if gid is None else -1,
    )
    if ctx is not None:
        lws.libwebsocket_context_destroy(ctx)


@SETTINGS
@given(data=values, n=st.one_of(ints, values), out=values, size=st.one_of(ints, values))
def test_b64(data: Any, n: Any, out: Any, size: Any) -> None:
    call(lws.lws_b64_encode_string, data, n)
    call(lws.lws_b64_encode_string, data, n, out, size)
    call(lws.lws_b64_decode_string, data)
    call(lws.lws_b64_decode_string, data, out, size)
    if isinstance(data, (bytes, str)):
        enc = lws.lws_b64_encode_string(data, len(data)) if isinstance(data, bytes) else None
        if enc is not None:
            assert lws.lws_b64_decode_string(enc) == data


@SETTINGS
@given(level=st.one_of(ints, values), emit=values, message=values)
def test_log(level: Any, emit: Any, message: Any) -> None:
    try:
        call(lws.lws_set_log_level, level, emit)
        call(lws.lwsl_log, lws.LLL_ERR if isinstance(level, int) else level, message)
    finally:
        lws.lws_set_log_level(lws.LLL_ERR | lws.LLL_WARN)


@SETTINGS
@given(file=values, content_type=values)
def test_serve_http_file(peer: Peer, context: Any, file: Any, content_type: Any) -> None:
    # the peer's connection is established, not waiting for an HTTP answer
    call(lws.libwebsockets_serve_http_file, peer.context, peer.wsi, file, content_type)
    call(lws.libwebsockets_serve_http_file, context, values_null(), file, content_type)
    call(lws.libwebsockets_serve_http_file, file, peer.wsi, "x", content_type)
    peer.service()


@SETTINGS
@given(
    address=values,
    port=st.one_of(ints, values),
    ssl=st.one_of(ints, values),
    path=values,
    host=values,
    origin=values,
    protocol=values,
    version=st.one_of(ints, values),
)
def test_client_connect(
    context: Any,
    address: Any,
    port: Any,
    ssl: Any,
    path: Any,
    host: Any,
    origin: Any,
    protocol: Any,
    version: Any,
) -> None:
    # nothing listens on port 9 of 127.0.0.1 and no name lookup leaves the host:
    # a numeric address only, whatever else is fuzzed
    if isinstance(address, (str, bytes)):
        address = "127.0.0.1"
    if isinstance(ssl, int) and ssl:
        ssl = 0  # no TLS context for wss:// here
    for args in (
        (context, address, port, ssl, path, host, origin, protocol, version),
        (context, "127.0.0.1", 9, 0, path, host, origin, protocol, version),
        (values_null(), "127.0.0.1", 9),
        (address, "127.0.0.1", 9),
    ):
        call(lws.libwebsocket_client_connect, *args)
    for _ in range(3):
        lws.libwebsocket_service(context, 0)


@SETTINGS
@given(context_arg=values, timeout=st.one_of(ints, values), size=st.one_of(ints, values))
def test_context_wrappers(context: Any, context_arg: Any, timeout: Any, size: Any) -> None:
    call(lws.libwebsocket_service, context_arg, 0)
    if isinstance(timeout, int) and not 0 <= timeout <= 5:
        call(lws.libwebsocket_service, context, timeout if timeout < 0 else 0)
    call(lws.lws_set_max_message_size, context_arg, size)
    call(lws.lws_set_handshake_timeout, context_arg, size)
    call(lws.libwebsocket_canonical_hostname, context_arg)
    call(lws.libwebsockets_get_random, context, context_arg, size)
    call(lws.libwebsockets_SHA1, context_arg, size)
    lws.lws_set_max_message_size(context, 64 * 1024 * 1024)
    lws.lws_set_handshake_timeout(context, 10)

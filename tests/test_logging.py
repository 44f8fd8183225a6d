"""The core's log in Python ``logging`` (logger ``pylws_ffi.core``): one
record per line at the level its LLL_* level maps to, the level set with
lws_set_log_level filtering in C, a user's emitter replacing it; an exception
in a C-style callback as one record with its traceback; a callback returning
a wrong type named in a clear message (and closed with 1011)."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from support.served import thread_server
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

import pylws_ffi as lws

CORE = "pylws_ffi.core"
ALL = (
    lws.LLL_ERR | lws.LLL_WARN | lws.LLL_INFO | lws.LLL_DEBUG | lws.LLL_PARSER | lws.LLL_HEADER
) | (lws.LLL_EXT | lws.LLL_CLIENT)


@pytest.fixture
def default_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The default emitter (other tests may have set their own), caplog
    taking every level of pylws_ffi.core; the default again afterwards."""
    lws.lws_set_log_level(lws.LLL_ERR | lws.LLL_WARN, lws.lwsl_emit_logging)
    caplog.set_level(logging.DEBUG, logger=CORE)
    try:
        yield caplog
    finally:
        lws.lws_set_log_level(lws.LLL_ERR | lws.LLL_WARN, lws.lwsl_emit_logging)


def core(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == CORE]


def noop(*args: Any) -> int:
    return 0


def test_core_lines_reach_logging_at_their_level(default_log: pytest.LogCaptureFixture) -> None:
    lws.lws_set_log_level(ALL)  # the emitter stays the default
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OSError):  # ERR: cannot listen
            lws.libwebsocket_create_context(port, None, [("p", noop)])
    ctx = lws.libwebsocket_create_context(lws.CONTEXT_PORT_NO_LISTEN, None, [("p", noop)])
    try:  # INFO: context created
        lws.libwebsockets_hangup_on_client(ctx, 9999)  # WARN (where lwsl_notice logs too)
    finally:
        lws.libwebsocket_context_destroy(ctx)
    lws.lwsl_log(lws.LLL_PARSER, "a parser line")  # the other levels: DEBUG
    lws.lwsl_log(lws.LLL_CLIENT, "a client line")
    got = core(default_log)
    assert (logging.ERROR, f"cannot listen on port {port}: Address already in use") in got
    assert (logging.INFO, "context created, port 0") in got
    assert (logging.WARNING, "hangup_on_client: no connection has fd 9999") in got
    assert got[-2:] == [(logging.DEBUG, "a parser line"), (logging.DEBUG, "a client line")]


def test_the_level_filter_applies_before_python(
    default_log: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bytes] = []
    real = lws.log._to_logging
    monkeypatch.setattr(lws.log, "_to_logging", lambda raw: (calls.append(raw), real(raw)))
    lws.lws_set_log_level(lws.LLL_ERR)
    ctx = lws.libwebsocket_create_context(lws.CONTEXT_PORT_NO_LISTEN, None, [("p", noop)])
    try:  # INFO and WARN lines, both filtered out
        lws.libwebsockets_hangup_on_client(ctx, 9999)
    finally:
        lws.libwebsocket_context_destroy(ctx)
    lws.lwsl_log(lws.LLL_DEBUG, "filtered")
    assert calls == [] and core(default_log) == []  # no Python call for them
    lws.lwsl_log(lws.LLL_ERR, "kept")
    assert len(calls) == 1 and core(default_log) == [(logging.ERROR, "kept")]


def test_a_user_emitter_replaces_logging(default_log: pytest.LogCaptureFixture) -> None:
    lines: list[str] = []
    lws.lws_set_log_level(lws.LLL_ERR | lws.LLL_WARN, lines.append)
    lws.lwsl_log(lws.LLL_WARN, "to the user")
    assert core(default_log) == [] and lines[-1].endswith("WARN: to the user")
    lws.lws_set_log_level(lws.LLL_ERR | lws.LLL_WARN, lws.lwsl_emit_logging)
    lws.lwsl_log(lws.LLL_WARN, "to logging")
    assert lines[-1].endswith("WARN: to the user")
    assert core(default_log) == [(logging.WARNING, "to logging")]


def test_lines_from_another_thread(default_log: pytest.LogCaptureFixture) -> None:
    threads = [
        threading.Thread(target=lws.lwsl_log, args=(lws.LLL_WARN, f"thread {n}")) for n in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(core(default_log)) == [(logging.WARNING, f"thread {n}") for n in range(4)]


def test_a_bad_handshake_is_logged_from_the_service_thread(
    default_log: pytest.LogCaptureFixture,
) -> None:
    lws.lws_set_log_level(lws.LLL_ERR | lws.LLL_WARN | lws.LLL_INFO)
    with (
        thread_server([("p", noop)], None) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as s,
    ):
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 4")
        while s.recv(4096):  # until the server closes
            pass
    infos = [m for level, m in core(default_log) if level == logging.INFO and ": HTTP 4" in m]
    assert len(infos) == 1, core(default_log)


def raising_callback(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
    if reason == lws.LWS_CALLBACK_RECEIVE:
        raise RuntimeError("a bug in the callback (expected by the test)")
    return 0


def wrong_type_callback(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> Any:
    if reason == lws.LWS_CALLBACK_RECEIVE:
        if lws.payload(in_, len_) == b"echo":  # None, True: fine
            lws.libwebsocket_write(wsi, b"echo", 4, lws.LWS_WRITE_TEXT)
            return None
        return "oops"
    return reason == lws.LWS_CALLBACK_ESTABLISHED and False  # a bool


def closed_with(port: int, first: str | None = None) -> int:
    with connect(f"ws://127.0.0.1:{port}", open_timeout=10) as ws:
        if first is not None:
            ws.send(first)
            assert ws.recv(timeout=10) == first
        ws.send("x")
        with pytest.raises(ConnectionClosed) as e:
            ws.recv(timeout=10)
    assert e.value.rcvd is not None
    return e.value.rcvd.code


def test_an_exception_is_one_record_with_its_traceback(
    default_log: pytest.LogCaptureFixture,
) -> None:
    with thread_server([("p", raising_callback)], None) as server:
        assert closed_with(server.port) == 1011
    records = [r for r in default_log.records if r.name == CORE]
    assert len(records) == 1, [r.getMessage() for r in records]
    (r,) = records
    assert r.levelno == logging.ERROR
    assert "raising_callback" in r.getMessage()
    assert "LWS_CALLBACK_RECEIVE" in r.getMessage()
    assert "'p'" in r.getMessage()
    assert r.exc_info is not None and isinstance(r.exc_info[1], RuntimeError)
    assert "Traceback" in default_log.text and "a bug in the callback" in default_log.text


def test_an_exception_with_a_user_emitter_is_lines(default_log: pytest.LogCaptureFixture) -> None:
    lines: list[str] = []
    lws.lws_set_log_level(lws.LLL_ERR | lws.LLL_WARN, lines.append)
    with thread_server([("p", raising_callback)], None) as server:
        assert closed_with(server.port) == 1011
    assert core(default_log) == []
    assert any("raising_callback" in line and "LWS_CALLBACK_RECEIVE" in line for line in lines)
    assert any("RuntimeError: a bug in the callback" in line for line in lines)


def test_a_wrong_return_type_is_named(default_log: pytest.LogCaptureFixture) -> None:
    with thread_server([("p", wrong_type_callback)], None) as server:
        assert closed_with(server.port, first="echo") == 1011
    got = core(default_log)
    assert len(got) == 1, got
    level, message = got[0]
    assert level == logging.ERROR
    assert "wrong_type_callback" in message
    assert "LWS_CALLBACK_RECEIVE" in message
    assert "returned str" in message


def huge_int_callback(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
    return 2**40 if reason == lws.LWS_CALLBACK_RECEIVE else 0


def test_an_int_beyond_a_c_int_is_said(default_log: pytest.LogCaptureFixture) -> None:
    with thread_server([("p", huge_int_callback)], None) as server:
        # closed, without a code (the trampoline's locals are gone: no wsi to close with 1011)
        assert closed_with(server.port) == 1005
    got = core(default_log)
    assert len(got) == 1 and "beyond a C int" in got[0][1], got

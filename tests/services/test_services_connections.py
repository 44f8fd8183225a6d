"""The server services: libwebsockets_get_peer_addresses, libwebsockets_hangup_on_client,
libwebsocket_canonical_hostname, libwebsocket_set_timeout and dual-stack
listening.

Run as ``[python]`` and ``[c]`` where both implement it; the harness and
what the two are: tests/support/services.py.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from servers import SANITIZER_MARKERS
from support.net import wait_for
from support.raw import LOCAL, RawWs, close_code, ipv6_loopback, read_to_eof
from support.services import BIG_FILE_SIZE, http_get, read_response, reverse_names

import pylws_ffi as lws
from pylws_ffi import ffi

# ========================================================== 5. get_peer_addresses


def test_peer_addresses_of_an_ipv4_client_on_a_dual_stack_server(services: Any) -> None:
    t = services(None)
    ws, fd = t.connect("svc-a")
    ws.send_text("peer")
    name, rip = ws.next_text().split(" ")
    assert rip == "127.0.0.1"
    assert name and name in reverse_names("127.0.0.1"), name
    # the same through the main loop, and for fds that are no peer
    t.command(f"peer {fd}")
    t.wait_line(rf"peer {fd} name=\[{re.escape(name)}\] rip=\[127\.0\.0\.1\]")
    for bad in (-1, 0, 9999):  # no fd; not a socket (stdin); no such fd
        t.command(f"peer {bad}")
        t.wait_line(rf"peer {bad} name=\[\] rip=\[\]")
    ws.close()


def test_peer_addresses_of_an_ipv4_client_on_an_ipv4_server(services: Any) -> None:
    t = services("127.0.0.1")
    ws, fd = t.connect("svc-a")
    ws.send_text("peer")
    name, rip = ws.next_text().split(" ")
    assert (rip, name in reverse_names("127.0.0.1")) == ("127.0.0.1", True)
    ws.close()


def test_peer_addresses_of_an_ipv6_client(services: Any) -> None:
    if not ipv6_loopback():
        pytest.skip("no IPv6 loopback on this host")
    t = services(None)
    ws, fd = t.connect("svc-a", host="::1")
    ws.send_text("peer")
    name, rip = ws.next_text().split(" ")
    assert rip == "::1"
    assert name and name in reverse_names("::1"), name
    ws.close()


def test_c_peer_addresses_truncate_into_small_buffers_and_stay_terminated(
    c_helper: Any, www: Path
) -> None:
    t = c_helper("serve", str(www))
    ws, fd = t.connect("svc-a")
    ws.send_text("peer")
    name, rip = ws.next_text().split(" ")
    for n_len, r_len in ((4, 4), (1, 1), (0, 0), (len(name), len(rip)), (len(name) + 1, 10)):
        t.command(f"small {fd} {n_len} {r_len}")
        m = t.wait_line(
            rf"small {fd} {n_len} {r_len} name=\[(.*)\] rip=\[(.*)\] nul=(\d) guard=(\d)"
        )
        assert m.group(1) == name[: max(n_len - 1, 0)], (n_len, m.group(0))
        assert m.group(2) == rip[: max(r_len - 1, 0)], (r_len, m.group(0))
        assert m.group(3) == "1", f"not NUL-terminated within its length: {m.group(0)}"
        assert m.group(4) == "1", f"wrote past the given length: {m.group(0)}"
    ws.close()


def test_python_peer_addresses_fill_c_buffers_as_c_does(serve: Any) -> None:
    fds: list[int] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_ESTABLISHED:
            fds.append(lws.libwebsocket_get_socket_fd(wsi))
        return 0

    server = serve([("p", cb, 0)], interf=LOCAL)
    ws = RawWs.connect(server.port)
    wait_for(lambda: fds)
    fd = fds[0]

    def at_loop() -> dict[str, Any]:
        out: dict[str, Any] = {"full": lws.libwebsockets_get_peer_addresses(fd)}
        out["small"] = lws.libwebsockets_get_peer_addresses(fd, None, 4, None, 4)
        out["tiny"] = lws.libwebsockets_get_peer_addresses(fd, None, 1, None, 1)
        name = ffi.new("char[]", b"X" * 15)
        rip = ffi.new("char[]", b"X" * 15)
        lws.libwebsockets_get_peer_addresses(fd, name, 6, rip, 6)
        out["c"] = (ffi.buffer(name)[:], ffi.buffer(rip)[:])
        with socket.socket() as listening:
            listening.bind((LOCAL, 0))
            listening.listen()
            out["listening"] = lws.libwebsockets_get_peer_addresses(listening.fileno())
        with open(os.devnull) as f:
            out["file"] = lws.libwebsockets_get_peer_addresses(f.fileno())
        out["negative"] = lws.libwebsockets_get_peer_addresses(-1)
        return out

    out = server.call(at_loop)
    name, rip = out["full"]
    assert rip == "127.0.0.1" and name in reverse_names(rip)
    assert out["small"] == (name[:3], "127")
    assert out["tiny"] == ("", "")
    c_name, c_rip = out["c"]
    # 5 characters and a NUL, nothing written beyond the 6 bytes given
    assert c_rip == b"127.0\x00" + b"X" * 9 + b"\x00", c_rip
    assert c_name == name[:5].encode() + b"\x00" + b"X" * 9 + b"\x00", c_name
    assert out["listening"] == ("", "")
    assert out["file"] == ("", "")
    assert out["negative"] == ("", "")
    ws.close()


def test_peer_addresses_in_filter_network_connection(serve: Any) -> None:
    seen: list[tuple[str, str]] = []

    def cb(ctx: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
            seen.append(lws.libwebsockets_get_peer_addresses(int(ffi.cast("intptr_t", user))))
        return 0

    server = serve([("p", cb, 0)])
    hosts = [LOCAL] + (["::1"] if ipv6_loopback() else [])
    for host in hosts:
        RawWs.connect(server.port, host=host).close()
    assert [rip for _, rip in seen] == hosts
    assert all(name in reverse_names(rip) for name, rip in seen), seen


# ======================================================== 6. hangup_on_client


def test_hangup_on_client_closes_the_connection_and_closed_comes_once(services: Any) -> None:
    t = services()
    main_ws, main_fd = t.connect("svc-a")
    self_ws, self_fd = t.connect("svc-a")
    victim_ws, victim_fd = t.connect("svc-b")
    killer_ws, killer_fd = t.connect("svc-b")
    bystander, by_fd = t.connect("svc-a")

    t.command(f"hangup {main_fd}")  # from the main loop
    assert main_ws.frames_until_eof() == [], "hangup is not a close handshake"
    self_ws.send_text("hangup")  # from its own RECEIVE
    assert self_ws.frames_until_eof() == []
    killer_ws.send_text(f"hangup:{victim_fd}")  # from another connection's callback
    assert killer_ws.next_text() == f"hung up {victim_fd}"
    assert victim_ws.frames_until_eof() == []
    t.command("hangup 9999")  # no such connection: nothing happens
    t.wait_line(r"ok hangup 9999")

    for name, fd in (("svc-a", main_fd), ("svc-a", self_fd), ("svc-b", victim_fd)):
        t.wait_line(rf"closed {name} {fd}")
    time.sleep(0.3)
    closed = t.matching(r"closed (\S+) (\d+)")
    assert sorted((m.group(1), int(m.group(2))) for m in closed) == sorted(
        [("svc-a", main_fd), ("svc-a", self_fd), ("svc-b", victim_fd)]
    ), "CLOSED not exactly once per hung-up WebSocket"
    for ws in (killer_ws, bystander):
        ws.send_text("still here")
        assert ws.next_text() == "still here"
    for ws in (main_ws, self_ws, victim_ws, killer_ws, bystander):
        ws.close()


def test_hangup_on_an_http_connection_closes_it_without_closed(
    services: Any, big_file: tuple[Path, str]
) -> None:
    t = services()
    s = socket.create_connection((LOCAL, t.port), timeout=10)
    s.sendall(http_get("/small.txt"))
    read_response(s, bytearray())
    fd = int(t.wait_line(r"http (\d+) /small\.txt").group(1))
    t.command(f"hangup {fd}")
    assert read_to_eof(s) == b""
    s.close()
    time.sleep(0.2)
    assert t.matching(r"closed .*") == []
    # and in the middle of a file (50 MiB: more than the socket buffers take),
    # with the client not reading: the server neither sends on nor spins
    s = socket.create_connection((LOCAL, t.port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    s.sendall(http_get("/big.bin"))
    assert s.recv(4096)
    fd = int(t.wait_line(r"http (\d+) /big\.bin").group(1))
    time.sleep(0.2)
    t.command(f"hangup {fd}")
    t.wait_line(rf"ok hangup {fd}")
    cpu = t.cpu_seconds()
    time.sleep(1.0)
    cpu = t.cpu_seconds() - cpu
    assert cpu < 0.3, f"the service loop used {cpu:.2f} s of CPU in 1 s after the hangup"
    data = read_to_eof(s, 20)
    assert len(data) < BIG_FILE_SIZE // 2, "the file went on after the hangup"
    s.close()
    time.sleep(0.2)
    assert t.matching(r"completion \d+ /big\.bin") == [], "FILE_COMPLETION after a hangup"


def test_hangup_on_client_with_a_destroyed_context_raises(serve: Any) -> None:
    server = serve([("p", lambda *a: 0, 0)])
    ctx = server.ctx
    server.destroy()
    with pytest.raises(ValueError):
        lws.libwebsockets_hangup_on_client(ctx, 5)
    with pytest.raises(ValueError):
        lws.libwebsocket_canonical_hostname(ctx)


# ===================================================== 7. canonical_hostname


def _expected_canonical() -> str:
    host = socket.gethostname()
    try:
        infos = socket.getaddrinfo(host, None, 0, 0, 0, socket.AI_CANONNAME)
    except OSError:
        return host
    return infos[0][3] or host if infos else host


def test_canonical_hostname_from_python() -> None:
    names = {}
    for options in (0, lws.LWS_SERVER_OPTION_SKIP_SERVER_CANONICAL_NAME):
        ctx = lws.libwebsocket_create_context(
            lws.CONTEXT_PORT_NO_LISTEN, None, [("p", lambda *a: 0, 0)], options=options
        )
        try:
            names[options] = lws.libwebsocket_canonical_hostname(ctx)
        finally:
            lws.libwebsocket_context_destroy(ctx)
    assert names[0] and isinstance(names[0], str)
    assert names[0] == _expected_canonical()
    assert names[lws.LWS_SERVER_OPTION_SKIP_SERVER_CANONICAL_NAME] == socket.gethostname()


def test_canonical_hostname_from_c(helper_exe: Path) -> None:
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:exitcode=99")
    out = subprocess.run(
        [str(helper_exe), "hostname", "0"], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert not [m for m in SANITIZER_MARKERS if m in out.stderr], out.stderr
    names = dict(re.findall(r"hostname (\d+) \[(.*)\]", out.stdout))
    assert names["0"] and names["0"] == _expected_canonical()
    assert names[str(lws.LWS_SERVER_OPTION_SKIP_SERVER_CANONICAL_NAME)] == socket.gethostname()


# =========================================================== 8. set_timeout


def test_set_timeout_closes_with_1001_and_zero_seconds_cancels(services: Any) -> None:
    t = services()
    timed, timed_fd = t.connect("svc-a")
    kept, kept_fd = t.connect("svc-a")
    kept.send_text("timeout:1")
    assert kept.next_text() == "timeout 1"
    kept.send_text("timeout:0")  # the same reason, 0 seconds: cancelled
    assert kept.next_text() == "timeout 0"
    timed.send_text("timeout:1")
    assert timed.next_text() == "timeout 1"
    t0 = time.monotonic()
    frames = timed.frames_until_eof(10)
    elapsed = time.monotonic() - t0
    assert [f[0] for f in frames] == [0x88] and close_code(frames[0][1]) == 1001, frames
    assert 0.9 <= elapsed <= 3.0, f"a 1 s timeout fired after {elapsed:.2f} s"
    t.wait_line(rf"closed svc-a {timed_fd}")
    time.sleep(2.5 - elapsed if elapsed < 2.5 else 0)
    kept.send_text("alive")
    assert kept.next_text() == "alive"
    # set from the main loop too
    t.command(f"timeout {kept_fd} 1")
    t.wait_line(rf"ok timeout {kept_fd} 1")
    frames = kept.frames_until_eof(10)
    assert [f[0] for f in frames] == [0x88] and close_code(frames[0][1]) == 1001
    t.wait_lines(r"closed .*", 2)
    time.sleep(0.1)
    assert len(t.matching(r"closed .*")) == 2
    timed.close()
    kept.close()


# ================================================================ 10. dual stack


def _echo(port: int, host: str) -> None:
    ws = RawWs.connect(port, host=host, protocol="svc-a")
    ws.send_text("over " + host)
    assert ws.next_text() == "over " + host
    ws.close()


def test_c_dual_stack_listening(c_helper: Any, www: Path) -> None:
    """(The same from Python is test_server_api.py's.)"""
    both = c_helper("serve", str(www), "any")
    _echo(both.port, LOCAL)
    v4 = c_helper("serve", str(www), LOCAL)
    _echo(v4.port, LOCAL)
    if not ipv6_loopback():
        pytest.skip("no IPv6 loopback on this host (IPv4 was checked)")
    _echo(both.port, "::1")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("::1", v4.port), timeout=5).close()
    v6 = c_helper("serve", str(www), "::1")
    _echo(v6.port, "::1")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((LOCAL, v6.port), timeout=5).close()
    # the peer address of an IPv4 client on the dual-stack socket is plain IPv4
    ws, fd = both.connect("svc-a")
    ws.send_text("peer")
    assert ws.next_text().split(" ")[1] == "127.0.0.1"
    ws.close()

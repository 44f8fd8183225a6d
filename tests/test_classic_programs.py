"""Programs written for the classic (2011-2013) API, compiled against the
INSTALLED header and library (meson install into a temporary prefix, then
``pkg-config pylws``), under ASan/UBSan: the header brings what the classic one
did (struct pollfd, POLLIN), every received piece is a C string (in[len] == 0),
and the older arities of libwebsocket_create_context (9, 10 arguments) and
libwebsockets_serve_http_file (3) compile next to the current ones, in C99,
C11 and C++ with -Wall -Wextra -pedantic -Werror.  The C program is
tests/c/classic_compat.c."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from servers import INSTALL_PREFIX, ROOT, SANITIZER_MARKERS, install_c_library
from support.net import free_port
from support.raw import LOCAL, RawWs, frame, text

import pylws_ffi as lws
from pylws_ffi import ffi

PREFIX = INSTALL_PREFIX
SOURCE = ROOT / "tests" / "c" / "classic_compat.c"
SANITIZE = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]
# (compiler, language flags): every form must build warning-free in each
VARIANTS = {
    "c99": ["gcc", "-x", "c", "-std=c99"],
    "c11": ["gcc", "-x", "c", "-std=c11"],
    "cxx11": ["g++", "-x", "c++", "-std=c++11"],
    "cxx17": ["g++", "-x", "c++", "-std=c++17"],
}
STRICT = ["-Wall", "-Wextra", "-pedantic", "-Werror"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PKG_CONFIG_PATH"] = ":".join(str(p) for p in PREFIX.glob("**/pkgconfig"))
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=99"
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:exitcode=98"
    return env


@pytest.fixture(scope="module")
def installed() -> dict[str, str]:
    """Build the library under the sanitizers and install it into PREFIX."""
    if not shutil.which("pkg-config") or not shutil.which("g++"):
        pytest.skip("pkg-config or g++ is missing")
    install_c_library()
    return _env()


def pkg_config(env: dict[str, str], *what: str) -> list[str]:
    out = subprocess.run(
        ["pkg-config", *what, "pylws"], env=env, check=True, capture_output=True, text=True
    ).stdout
    return out.split()


def compile_program(env: dict[str, str], variant: str, source: Path, out: Path) -> Path:
    cflags = pkg_config(env, "--cflags")
    libs = pkg_config(env, "--libs")
    libdir = [a[2:] for a in libs if a.startswith("-L")]
    argv = [
        *VARIANTS[variant],
        *STRICT,
        *SANITIZE,
        *cflags,
        str(source),
        "-x",
        "none",
        "-o",
        str(out),
        *libs,
        *(f"-Wl,-rpath,{d}" for d in libdir),
    ]
    r = subprocess.run(argv, env=env, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(argv)}\n{r.stderr}"
    return out


@pytest.fixture(scope="module")
def programs(
    installed: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("classic")
    return {v: compile_program(installed, v, SOURCE, d / f"classic_{v}") for v in VARIANTS}


def check_clean(stderr: str) -> None:
    bad = [m for m in SANITIZER_MARKERS if m in stderr]
    assert not bad, f"sanitizer report:\n{stderr[-6000:]}"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_all_create_context_arities(
    programs: dict[str, Path], installed: dict[str, str], variant: str
) -> None:
    r = subprocess.run(
        [str(programs[variant]), "arities"],
        env=installed,
        capture_output=True,
        text=True,
        timeout=60,
    )
    check_clean(r.stderr)
    assert r.returncode == 0 and "arities ok" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize(
    "compiler",
    [
        ["clang-14", "-x", "c", "-std=c99"],
        ["clang-14", "-x", "c", "-std=c11"],
        ["clang++-14", "-x", "c++", "-std=c++11"],
        ["clang++-14", "-x", "c++", "-std=c++20"],
        ["g++", "-x", "c++", "-std=c++20"],
    ],
    ids=lambda c: "-".join(c[::3]),
)
def test_other_compilers_pedantic(installed: dict[str, str], compiler: list[str]) -> None:
    """The same program through clang and later C++ standards: syntax and
    warnings only (the sanitizer runtime of the installed library is gcc's)."""
    if not shutil.which(compiler[0]):
        pytest.skip(f"{compiler[0]} is missing")
    argv = [*compiler, *STRICT, "-fsyntax-only", *pkg_config(installed, "--cflags"), str(SOURCE)]
    r = subprocess.run(argv, env=installed, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(argv)}\n{r.stderr}"


def test_wrong_arity_does_not_compile(installed: dict[str, str], tmp_path: Path) -> None:
    src = tmp_path / "bad.c"
    for call in (
        "libwebsocket_create_context(0, NULL, NULL, NULL, NULL, NULL, -1, -1)",
        "libwebsocket_create_context(0, NULL, NULL, NULL, NULL, NULL, NULL, -1, -1, 0, NULL, 0)",
        "libwebsockets_serve_http_file(NULL, NULL)",
        "libwebsockets_get_peer_addresses(0, NULL, 0, NULL, 0, 0)",
    ):
        src.write_text(f"#include <libwebsockets.h>\nvoid f(void) {{ (void){call}; }}\n")
        r = subprocess.run(
            [
                "gcc",
                "-std=c11",
                "-c",
                *pkg_config(installed, "--cflags"),
                str(src),
                "-o",
                os.devnull,
            ],
            env=installed,
            capture_output=True,
            text=True,
        )
        assert r.returncode != 0, call


class Proc:
    """A classic_compat server, ended by its "quit" message (so the leak
    check at exit runs), killed by PID if it does not stop."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def finish(self, timeout: float = 20) -> tuple[str, str]:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate(timeout=5)
            raise AssertionError(f"did not stop:\n{out}\n{err}") from None
        check_clean(err)
        assert self.proc.returncode == 0, f"exit {self.proc.returncode}\n{out}\n{err[-4000:]}"
        return out, err


def wait_port(port: int, proc: subprocess.Popen[str], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited early"
        try:
            with socket.create_connection((LOCAL, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(port)


def start_server(
    programs: dict[str, Path], env: dict[str, str], variant: str, tmp_path: Path, *tls: str
) -> tuple[Proc, int, bytes]:
    body = b"classic file body\n" * 50
    f = tmp_path / "file.txt"
    f.write_bytes(body)
    port = free_port()
    p = Proc([str(programs[variant]), "server", str(port), str(f), *tls], env)
    wait_port(port, p.proc)
    return p, port, body


def connect(port: int, with_request: bytes = b"", tls: ssl.SSLContext | None = None) -> RawWs:
    """A WebSocket connection for protocol "classic"; with_request goes out
    in the same send() as the request (frames that arrive with the handshake)."""
    sock = socket.create_connection((LOCAL, port), timeout=10)
    if tls is not None:
        sock = tls.wrap_socket(sock, server_hostname="localhost")
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET / HTTP/1.1\r\nHost: {LOCAL}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: classic\r\n"
        f"X-Padding: {'p' * 600}\r\n\r\n"
    ).encode()
    sock.sendall(request + with_request)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, f"closed during the handshake: {head!r}"
        head += chunk
    head, _, rest = head.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return RawWs(sock, rest)


def echoed_pieces(ws: RawWs, total: int) -> str:
    """The server answers each piece of a message (a large one may come in
    several, e.g. one per TLS record) with "<in as %s>|<strlen(in)>": check
    each answer and return the pieces joined."""
    got = ""
    while True:
        piece, _, n = ws.next_text().rpartition("|")
        assert int(n) == len(piece), (n, len(piece), piece[:80])
        got += piece
        if len(got) >= total:
            return got


def quit_server(port: int, tls: ssl.SSLContext | None = None) -> None:
    ws = connect(port, tls=tls)
    ws.sock.sendall(text(b"quit"))
    ws.close()


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("variant", "use_tls"), [("c11", False), ("cxx11", False), ("c11", True)])
def test_server_receive_is_a_c_string(
    programs: dict[str, Path],
    installed: dict[str, str],
    variant: str,
    use_tls: bool,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    tls, cert_key = None, []
    if use_tls:
        certs = request.getfixturevalue("tls_certs")
        tls, cert_key = certs.client_context(), [certs.server.cert, certs.server.key]
    p, port, _ = start_server(programs, installed, variant, tmp_path, *cert_key)
    try:
        ws = connect(port, tls=tls)
        long = "L" * 5000
        # 600 KB: reads that fill the receive buffer end a piece at its last byte
        for msg in [long, "short", "reset\n", "x" * 300, "", "y", "a" * 70000, "b" * 600000, "z"]:
            ws.sock.sendall(text(msg.encode()))
            if msg == "reset\n":
                assert ws.next_text() == "reset ok"
            else:
                assert echoed_pieces(ws, len(msg)) == msg
        # a longer message, then short ones, in one TCP segment
        ws.sock.sendall(text(b"Q" * 1000) + text(b"ab") + text(b"reset\n"))
        assert ws.texts(3) == ["Q" * 1000 + "|1000", "ab|2", "reset ok"]
        ws.sock.sendall(frame(0x8, b"\x03\xe8" + b"classic reason"))
        assert ws.next_frame()[0] == 0x88
        ws.close()

        # frames in the same segment as the handshake (after a long request)
        ws2 = connect(port, text(b"first") + text(b"2nd") + text(b"reset\n"), tls=tls)
        assert ws2.texts(3) == ["first|5", "2nd|3", "reset ok"]
        ws2.close()
    finally:
        quit_server(port, tls)
        out, _ = p.finish()
    assert "closed 1000 'classic reason'" in out, out
    assert "peer 127.0.0.1 same" in out, out


@pytest.mark.timeout(300)
def test_serve_http_file_both_arities(
    programs: dict[str, Path], installed: dict[str, str], tmp_path: Path
) -> None:
    p, port, body = start_server(programs, installed, "c99", tmp_path)
    try:
        for path in ("/three", "/four"):
            with socket.create_connection((LOCAL, port), timeout=10) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            head, _, got = data.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            assert got == body, path
    finally:
        quit_server(port)
        out, _ = p.finish()
    assert "http /three" in out and "http /four" in out


def serve_one_client(listener: socket.socket, payloads: list[bytes]) -> None:
    """Answer the client's handshake and send the frames in the same segment."""
    import base64
    import hashlib

    conn, _ = listener.accept()
    with conn:
        conn.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            assert chunk
            head += chunk
        key = next(
            line.split(b":", 1)[1].strip()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(
            hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
        )
        answer = (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\nSec-WebSocket-Protocol: classic\r\n\r\n"
        )
        # an unsolicited pong after the long first message
        frames = [frame(0x1, p, mask=False) for p in payloads]
        frames.insert(1, frame(0xA, b"pong!", mask=False))
        conn.sendall(answer + b"".join(frames))
        # then wait for the client to go
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass


@pytest.mark.timeout(120)
@pytest.mark.parametrize("variant", ["c11", "cxx17"])
def test_client_receive_is_a_c_string(
    programs: dict[str, Path], installed: dict[str, str], variant: str
) -> None:
    import threading

    payloads = [b"a fairly long first message " * 40, b"hi", b"", b"medium sized one", b"bye"]
    with socket.socket() as listener:
        listener.bind((LOCAL, 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        t = threading.Thread(target=serve_one_client, args=(listener, payloads), daemon=True)
        t.start()
        r = subprocess.run(
            [str(programs[variant]), "client", str(port)],
            env=installed,
            capture_output=True,
            text=True,
            timeout=60,
        )
        t.join(10)
    check_clean(r.stderr)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("got ")]
    want = [f"got {p.decode()} strlen {len(p)} len {len(p)} final 1" for p in payloads]
    assert lines == want, r.stdout
    assert "pong pong! strlen 5 len 5" in r.stdout.splitlines(), r.stdout


# ---- the fraggle example over each extension ----

EXTENSIONS = ["none", "permessage-deflate", "deflate-frame", "deflate-stream"]


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    ("server_kind", "client_kind"), [("c", "c"), ("python", "c"), ("c", "python")]
)
@pytest.mark.parametrize("extension", EXTENSIONS)
def test_fraggle_over_extensions(extension: str, server_kind: str, client_kind: str) -> None:
    """Hundreds of messages of random fragment counts and sizes (empty
    fragments included), each length and checksum verified by the client;
    the C client reads a checksum that arrives in one piece from `in` as a
    C string."""
    from test_client import run_example, start_example_server

    messages = "300" if "c" == client_kind == server_kind else "120"
    server = start_example_server(
        server_kind, "test-fraggle", "--messages", messages, "--seed", "11",
        "--max-fragments", "24", "--max-fragment-size", "3000", "--extension", extension,
    )  # fmt: skip
    try:
        result = run_example(
            client_kind, "test-fraggle", "-c", LOCAL, "--port", str(server.port),
            "--extension", extension, timeout=240,
        )  # fmt: skip
    finally:
        server_out = server.stop()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"{messages} messages verified, 0 bad" in result.stdout, result.stdout[-3000:]
    sent = [ln for ln in server_out.splitlines() if ln.startswith("sent message")]
    got = [ln for ln in result.stdout.splitlines() if ln.startswith("verified message")]
    # every length and checksum the server sent is the one the client verified
    assert [ln.removeprefix("sent ") for ln in sent] == [ln.removeprefix("verified ") for ln in got]
    # the extension was negotiated: confirmed once for the offer, once for the answer
    confirmed = result.stderr.count(f"extension {extension} confirmed")
    assert confirmed == (0 if extension == "none" else 2), result.stderr[-2000:]


# ---- in[len] == 0 through user extensions (in-process, Python callbacks) ----


class ExtensionThatPasses:
    """PACKET_RX_PREPARSE leaves the token alone (or replaces it with a copy,
    which the binding allocates with padding after it)."""

    def __init__(self, name: str, replace: bool) -> None:
        self.name, self.replace = name, replace
        self.keep: dict[Any, list[Any]] = {}

    def callback(
        self, context: Any, ext: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int
    ) -> int:
        if reason == lws.LWS_EXT_CALLBACK_PACKET_RX_PREPARSE and self.replace:
            data = lws.lws_tokens_payload(in_)
            if data:
                lws.lws_tokens_replace(in_, data.upper(), self.keep.setdefault(wsi, []))
        elif reason == lws.LWS_EXT_CALLBACK_DESTROY:
            self.keep.pop(wsi, None)
        return 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("extension", ["none", "x-pass", "x-upper"])
def test_receive_is_nul_terminated_through_extensions(extension: str) -> None:
    from support.raw import RawWS
    from support.served import thread_server

    seen: list[tuple[bytes, int]] = []  # (piece, the byte after it)

    def protocol(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
        if reason == lws.LWS_CALLBACK_RECEIVE:
            p = ffi.cast("unsigned char *", in_)
            seen.append((bytes(ffi.buffer(p, len_)), p[len_]))
        return 0

    exts = [
        (e.name, e.callback, 0)
        for e in (ExtensionThatPasses("x-pass", False), ExtensionThatPasses("x-upper", True))
        if e.name == extension
    ]
    with thread_server([("classic", protocol, 0)], exts or None) as server:
        offer = None if extension == "none" else extension
        with RawWS(server.port, extensions=offer, protocol="classic") as c:
            # three frames in one segment: after each payload, the next header
            c.send_raw(text(b"first message") + text(b"ab") + text(b"xyz"))
            deadline = time.monotonic() + 10
            while len(seen) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
    want = [b"first message", b"ab", b"xyz"]
    if extension == "x-upper":
        want = [w.upper() for w in want]
    assert seen == [(w, 0) for w in want]

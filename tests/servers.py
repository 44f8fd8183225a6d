"""Start the example servers for end-to-end tests and stop them by PID.

The C echo server is built under AddressSanitizer/UBSan (meson, in the
repository's ignored ``build-asan`` folder), so every end-to-end test of the C
server is also a memory-safety and leak test: ``stop()`` fails the test when
the sanitizers reported anything.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from support.net import free_port

ROOT = Path(__file__).resolve().parent.parent
ASAN_BUILD = ROOT / "build-asan"
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


async def send_and_receive(ws: Any, message: str | bytes, timeout: float = 60) -> str | bytes:
    """Send one message on a `websockets` asyncio connection and return the
    next message, receiving while sending.

    The echo servers echo each piece of a message as it arrives, so a large
    message comes back while it is still being sent.  Receiving only after
    ``send()`` returned deadlocks: the client stops reading after ``max_queue``
    frames, the server then stops reading a peer that does not read its
    replies, and ``send()`` never finishes."""
    reply = asyncio.ensure_future(ws.recv())
    try:
        await asyncio.wait_for(ws.send(message), timeout)
        return await asyncio.wait_for(reply, timeout)
    finally:
        reply.cancel()


def meson_command() -> list[str]:
    exe = shutil.which("meson")
    return [exe] if exe else [sys.executable, "-m", "mesonbuild.mesonmain"]


def meson_build(folder: Path, *options: str) -> Path:
    """Configure ``folder`` (once, with ``options``) and compile it; return it."""
    if not (folder / "build.ninja").exists():
        subprocess.run(
            meson_command() + ["setup", str(folder), *options],
            cwd=ROOT,
            check=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    subprocess.run(
        meson_command() + ["compile", "-C", str(folder)],
        cwd=ROOT,
        check=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    return folder


def asan_build() -> Path:
    """Configure (once) and compile the sanitizer build; return its folder."""
    return meson_build(
        ASAN_BUILD,
        "--buildtype=debug",
        "-Db_sanitize=address,undefined",
        "-Db_lundef=false",
        "-Dpython=false",
        "-Dinstall_c_library=false",
    )


INSTALL_BUILD = ROOT / "build-classic-install"
INSTALL_PREFIX = INSTALL_BUILD / "prefix"


def install_c_library() -> Path:
    """Configure (once) a sanitizer build of the C library alone, install it
    (libpylws.so/.a, include/pylws/libwebsockets.h, pylws.pc) into
    INSTALL_PREFIX and return that prefix; its libraries are in ``lib``."""
    if not (INSTALL_BUILD / "build.ninja").exists():
        subprocess.run(
            meson_command()
            + [
                "setup",
                str(INSTALL_BUILD),
                f"--prefix={INSTALL_PREFIX}",
                "--libdir=lib",
                "--buildtype=debug",
                "-Db_sanitize=address,undefined",
                "-Db_lundef=false",
                "-Dpython=false",
                "-Dtests=false",
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    r = subprocess.run(
        meson_command() + ["install", "-C", str(INSTALL_BUILD), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert (INSTALL_PREFIX / "include" / "pylws" / "libwebsockets.h").exists()
    return INSTALL_PREFIX


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


class Server:
    """A server process on a port; ``stop()`` checks it ended cleanly."""

    def __init__(self, kind: str, argv: list[str], port: int, env: dict[str, str]) -> None:
        self.kind = kind
        self.port = port
        self.url = f"ws://127.0.0.1:{port}"
        self.log_path = ROOT / "build-asan" / f"server-{kind}-{port}.log"
        self.log_path.parent.mkdir(exist_ok=True)
        self._log = open(self.log_path, "w+b")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        try:
            wait_listening(port, self.proc)
        except Exception:
            self.proc.kill()
            self.proc.wait(5)
            raise

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> str:
        """Terminate; raise if it crashed, hung or the sanitizers complained."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError(f"{self.kind} server did not stop on SIGTERM") from None
        out = self.output()
        self._log.close()
        bad = [m for m in SANITIZER_MARKERS if m in out]
        assert not bad, f"{self.kind} server: sanitizer report:\n{out[-6000:]}"
        assert self.proc.returncode == 0, (
            f"{self.kind} server exited with {self.proc.returncode}:\n{out[-3000:]}"
        )
        return out


def start_echo(kind: str, *args: str, asan_options: str = "") -> Server:
    """Start the C (sanitized) or Python echo example on a free port.
    ``asan_options`` are appended to the C server's ASAN_OPTIONS."""
    port = free_port()
    env = dict(os.environ)
    if kind == "c":
        exe = asan_build() / "echo_server"
        argv = [str(exe), "--port", str(port), *args]
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=99" + (
            ":" + asan_options if asan_options else ""
        )
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:exitcode=98"
    else:
        script = ROOT / "examples" / "echo_server.py"
        argv = [sys.executable, str(script), "--port", str(port), *args]
    return Server(kind, argv, port, env)


def start_demo(kind: str, *args: str, asan_options: str = "") -> Server:
    """Start the C (sanitized) or Python demo (examples/test-server) on a free
    port.  ``asan_options`` are appended to the C server's ASAN_OPTIONS (a test
    that measures the server's memory wants a small quarantine)."""
    port = free_port()
    env = dict(os.environ)
    if kind == "c":
        exe = asan_build() / "test-server"
        argv = [str(exe), "--port", str(port), *args]
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=99" + (
            ":" + asan_options if asan_options else ""
        )
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:exitcode=98"
    else:
        script = ROOT / "examples" / "test-server.py"
        argv = [sys.executable, str(script), "--port", str(port), *args]
    return Server(f"demo-{kind}", argv, port, env)

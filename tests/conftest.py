"""Shared fixtures: a free port, echo servers in subprocesses, and the
harness of tests/support (ws_peer, served, raw_ws).

The tests run against the *installed* package (``pip install '.[test]'``).
``python -m pytest`` puts the working directory first on sys.path, where the
source checkout's ``pylws_ffi/`` (which has no compiled ``_pylws_cffi``) would
shadow it, so the checkout is taken off sys.path here.
"""

from __future__ import annotations

import asyncio
import faulthandler
import os
import shutil
import sys
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pytest
from servers import Server, start_echo
from support.net import free_port as _free_port

if TYPE_CHECKING:  # imported by the fixtures: they import pylws_ffi, which
    # must come from the installed package (sys.path is fixed below first)
    from support.peer import WSServer
    from support.raw import RawWs
    from support.served import ServedContext

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != ROOT]

# meson (run by the C tests) needs ninja; a `pip install --user` puts it where
# PATH may not look, so point meson at the one the `ninja` package ships.
if not shutil.which("ninja") and "NINJA" not in os.environ:
    try:
        import ninja

        os.environ["NINJA"] = os.path.join(ninja.BIN_DIR, "ninja")
    except ImportError:
        pass


# pytest-timeout's signal method fails a test that overruns by raising in the
# main thread, which asyncio can swallow (the exception lands in a callback
# and is only logged) and which cannot interrupt a wait inside C.  So that a
# hung test can never hang the whole run, a second, hard limit sits behind it:
# after twice the test's timeout plus a minute, faulthandler prints every
# thread's stack to the real stderr (kept aside before capturing starts) and
# ends the process.
_watchdog_out: list[Any] = []


def pytest_configure(config: pytest.Config) -> None:
    _watchdog_out.append(os.fdopen(os.dup(2), "w"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    marker = item.get_closest_marker("timeout")
    ini = item.config.getini("timeout")
    limit = float(marker.args[0]) if marker and marker.args else float(ini or 120)
    faulthandler.dump_traceback_later(2 * limit + 60, exit=True, file=_watchdog_out[0])
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    return _free_port()


# ---- the shared harness of tests/support as fixtures


@pytest.fixture
def ws_peer() -> Iterator[Callable[..., WSServer]]:
    """ws_peer(handler, **kw) -> a ``websockets`` server in a thread
    (support.peer.WSServer; ``handler`` defaults to an echo), closed at
    teardown."""
    from support.peer import WSServer, echo_handler

    made: list[WSServer] = []

    def make(handler: Callable[..., Any] = echo_handler, **kw: Any) -> WSServer:
        made.append(WSServer(handler, **kw))
        return made[-1]

    yield make
    for server in made:
        server.close()


@pytest.fixture
def served() -> Iterator[Callable[..., ServedContext]]:
    """served(protocols, **kw) -> a context served by a thread
    (support.served.ServedContext), destroyed and checked at teardown."""
    from support.served import serving

    yield from serving()


@pytest.fixture
def raw_ws() -> Iterator[Callable[..., RawWs]]:
    """raw_ws(port, **kw) -> a raw WebSocket client
    (support.raw.RawWs.connect), closed at teardown."""
    from support.raw import RawWs

    made: list[RawWs] = []

    def make(port: int, *args: Any, **kw: Any) -> RawWs:
        made.append(RawWs.connect(port, *args, **kw))
        return made[-1]

    yield make
    for ws in made:
        ws.close()


@pytest.fixture
def echo_server() -> Iterator[Callable[..., Server]]:
    """Start echo examples: ``echo_server("python" | "c", *args) -> Server``.

    Each runs in a subprocess on a free port (``server.port``, ``server.url``);
    at teardown each is stopped by PID with SIGTERM and a bounded wait (then
    SIGKILL), and the test fails if it crashed or the sanitizers reported.
    """
    started: list[Server] = []

    def start(kind: str = "python", *args: str) -> Server:
        server = start_echo(kind, *args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is in the test extras
    uvloop = None


@pytest.fixture(
    params=[
        "asyncio",
        pytest.param("uvloop", marks=pytest.mark.skipif(uvloop is None, reason="no uvloop")),
    ]
)
def run(request: pytest.FixtureRequest) -> Any:
    """run(coro): run it to completion (bounded) in a new loop of the kind
    (asyncio's, uvloop's); ``run.kind`` names it.  For tests of pylws_ffi.aio."""

    def runner(coro: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
        loop = uvloop.new_event_loop() if request.param == "uvloop" else asyncio.new_event_loop()
        try:
            return loop.run_until_complete(asyncio.wait_for(coro, timeout))
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    runner.kind = request.param  # type: ignore[attr-defined]
    return runner


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory: pytest.TempPathFactory):
    """The test CA and its certificates (tests/tls_certs.py), made once per
    session with the ``openssl`` command line in a temporary folder."""
    from tls_certs import make_certs, openssl_exe

    if openssl_exe() is None:
        if os.environ.get("CI"):
            pytest.fail("the openssl command is missing (apt-get install openssl)")
        pytest.skip("the openssl command is not installed")
    return make_certs(tmp_path_factory.mktemp("tls-certs"))


# ---- nothing left behind ----
# Tests write only into their temporary folders (tmp_path, whose root pytest
# manages): a certificate in the real ~/.cache/pylws or a folder left in /tmp
# (a browser's, a build's) is a bug of the test.  Checked over the whole
# session: strictly under CI (where nothing else runs beside pytest); on a
# shared machine other programs' files come and go in /tmp, so there the
# /tmp part is a warning.


def _cache_listing() -> dict[str, float]:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pylws"
    try:
        return {p.name: p.stat().st_mtime for p in base.iterdir()}
    except OSError:
        return {}


def _tmp_listing() -> set[str]:
    import tempfile

    return set(os.listdir(tempfile.gettempdir()))


@pytest.fixture(scope="session", autouse=True)
def _nothing_left_behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    import tempfile
    import warnings

    cache_before, tmp_before = _cache_listing(), _tmp_listing()
    yield
    problems = []
    cache_after = _cache_listing()
    changed = sorted(n for n, t in cache_after.items() if cache_before.get(n) != t)
    if changed:
        problems.append(f"written into the real ~/.cache/pylws: {changed}")
    # pytest's own temporary root (tmp_path lives under it) is not a leftover
    basetemp = tmp_path_factory.getbasetemp().resolve()
    tmp = Path(tempfile.gettempdir()).resolve()
    own = {basetemp.relative_to(tmp).parts[0]} if tmp in basetemp.parents else set()
    left = sorted(_tmp_listing() - tmp_before - own)
    if left:
        message = f"left in {tmp}: {left}"
        if os.environ.get("CI"):
            problems.append(message)
        else:
            warnings.warn(f"{message} (by these tests, or by other programs)", stacklevel=1)
    if problems:
        pytest.fail("tests left files behind: " + "; ".join(problems), pytrace=False)

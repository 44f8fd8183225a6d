"""The fixtures of the server-services tests (harness: tests/support/services.py)."""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from support.net import free_port
from support.raw import MIB
from support.served import serving
from support.services import (
    BIG_FILE_SIZE,
    CHelper,
    PyServices,
    Server,
    Target,
    build_helper,
    rotated_block,
)


@pytest.fixture(scope="module")
def www(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("www")
    (d / "small.txt").write_bytes(b"hello, file\n")
    (d / "page.html").write_bytes(b"<!doctype html><title>t</title><p>page</p>\n" * 50)
    (d / "empty.txt").write_bytes(b"")
    (d / "mid.bin").write_bytes(os.urandom(3 * MIB + 123))
    (d / "adir").mkdir()
    (d / "adir" / "inside.txt").write_bytes(b"inside\n")
    return d


@pytest.fixture(scope="module")
def big_file(www: Path) -> tuple[Path, str]:
    """A 50 MiB file (every MiB different) and its SHA-256."""
    block = os.urandom(MIB)
    digest = hashlib.sha256()
    path = www / "big.bin"
    with open(path, "wb") as f:
        for i in range(BIG_FILE_SIZE // MIB):
            chunk = rotated_block(block, i)
            f.write(chunk)
            digest.update(chunk)
    return path, digest.hexdigest()


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """serve(protocols, **kw) -> Server; destroyed and checked at teardown."""
    yield from serving()


@pytest.fixture
def helper_exe() -> Path:
    return build_helper()


@pytest.fixture
def c_helper() -> Iterator[Callable[..., CHelper]]:
    """c_helper(mode, *args) -> a started helper (``serve``/``broadcast-fork``
    get a free port as their first argument, retried if raced).  Built on
    first use, so the [python] tests do not need the sanitizer build."""
    started: list[CHelper] = []

    def start(mode: str, *args: str) -> CHelper:
        exe = build_helper()
        for _ in range(5):
            port = free_port()
            helper = CHelper(exe, [mode, str(port), *args], mode)
            started.append(helper)
            m = helper.wait_line(r"(ready|create-failed) (\d+).*", timeout=30)
            if m.group(1) == "ready":
                helper.port = port
                return helper
            if int(m.group(2)) != errno.EADDRINUSE:
                raise AssertionError(f"services_helper: {m.group(0)}")
        raise AssertionError("no free port")

    yield start
    for helper in started:
        helper.stop()


@pytest.fixture(params=["python", "c"])
def services(
    request: pytest.FixtureRequest, www: Path, serve: Any, c_helper: Any
) -> Callable[..., Target]:
    """services(interf=None) -> the protocol of services_helper.c, served by
    pylws_ffi in this process ([python]) or by the C helper ([c])."""

    def start(interf: str | None = None) -> Target:
        if request.param == "python":
            return PyServices(serve, www, interf)
        return c_helper("serve", str(www), interf or "any")

    return start

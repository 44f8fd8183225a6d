"""Static typing: the constants are ints for type checkers (constants.pyi,
generated from the compiled module), a misspelt one is an error, the
C-style callbacks have a type (pylws_ffi.CallbackFunction), and the examples
pass ``mypy --strict``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import pylws_ffi
from pylws_ffi import constants

ROOT = Path(__file__).resolve().parent.parent

GOOD = """
from typing import Any, Optional

import pylws_ffi as lws

level: int = lws.LLL_ERR | lws.LLL_WARN
reason: int = lws.LWS_CALLBACK_RECEIVE


def echo(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> int:
    return 0


def quiet(context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int) -> None:
    pass


typed: lws.CallbackFunction = echo
ctx = lws.libwebsocket_create_context(0, None, [("echo", echo, 0), ("quiet", quiet)])
port: int = lws.lws_context_listen_port(ctx)
"""

BAD = """
from typing import Any

import pylws_ffi as lws

level = lws.LLL_EROR | lws.LLL_WARN


def wrong(context: Any, wsi: Any) -> int:
    return 0


ctx = lws.libwebsocket_create_context(0, None, [("p", wrong)])
"""


def test_constants_stub_is_current() -> None:
    """constants.pyi lists exactly the compiled module's constants
    (regenerate: ``python -m pylws_ffi.constants > pylws_ffi/constants.pyi``)."""
    assert (ROOT / "pylws_ffi" / "constants.pyi").read_text() == constants.stub()
    assert all(isinstance(getattr(pylws_ffi, n), int) for n in constants.__all__)


def mypy(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("mypy")
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_examples_pass_mypy_strict(tmp_path: Path) -> None:
    examples = sorted(str(p) for p in (ROOT / "examples").glob("*.py"))
    proc = mypy(tmp_path, *examples)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_constants_and_callbacks_are_typed(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(GOOD)
    (tmp_path / "bad.py").write_text(BAD)
    good = mypy(tmp_path, "good.py")
    assert good.returncode == 0, good.stdout + good.stderr
    bad = mypy(tmp_path, "bad.py")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert 'Module has no attribute "LLL_EROR"' in bad.stdout, bad.stdout
    assert "bad.py:13: error" in bad.stdout, bad.stdout  # the callback of the wrong type

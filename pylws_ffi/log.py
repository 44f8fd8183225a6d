"""The library's log: level, emitter, and logging from Python into it."""

from __future__ import annotations

import traceback
from types import TracebackType
from typing import Any, Callable

from ._pylws_cffi import ffi, lib

#: The Python callable that receives each log line, if one was set.
_emitter: Callable[[str], Any] | None = None
#: A C function pointer given as emitter, kept alive while the library uses it.
_c_emitter: Any = None

_FMT_S = ffi.new("char[]", b"%s")


@ffi.def_extern()
def _pylws_log_emit(line: Any) -> None:
    emit = _emitter
    if emit is not None:
        emit(ffi.string(line).decode("utf-8", "replace"))


def lws_set_log_level(level: int, emit: Any = None) -> None:
    """Set which LLL_* levels the library logs, and optionally where.

    ``level``: the LLL_* bits OR-ed together (default: LLL_ERR | LLL_WARN).
    ``emit``: None leaves the emitter as it is (stderr until set); a Python
    callable receives each line as a ``str`` (one message per call, no
    trailing newline); a cdata function pointer ``void (*)(const char *)`` is
    handed to C unchanged.

    Raises TypeError when ``level`` is not an int or ``emit`` is none of these.
    """
    global _emitter, _c_emitter
    if not isinstance(level, int):
        raise TypeError(f"level must be an int of LLL_* bits, not {type(level).__name__}")
    if emit is None:
        lib.lws_set_log_level(level, ffi.NULL)
    elif isinstance(emit, ffi.CData):
        lib.lws_set_log_level(level, emit)
        _emitter, _c_emitter = None, emit
    elif callable(emit):
        _emitter = emit
        lib.lws_set_log_level(level, lib._pylws_log_emit)
        _c_emitter = None
    else:
        raise TypeError(f"emit must be None, a callable or a C function pointer, not {emit!r}")


def lwsl_log(level: int, message: str) -> None:
    """Log ``message`` through the library's log at ``level`` (one LLL_* bit).

    Each line of a multi-line message becomes its own log line.
    """
    for line in message.splitlines() or [""]:
        lib._lws_log(level, _FMT_S, ffi.new("char[]", line.encode("utf-8", "replace")))


def log_exception(
    what: str,
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    tb: TracebackType | None,
) -> None:
    """Log ``what`` and the exception's traceback at LLL_ERR."""
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    lwsl_log(lib.LLL_ERR, f"pylws_ffi: {what}\n{text}")

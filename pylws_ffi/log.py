"""The library's log: level, emitter, and logging from Python into it.

The binding also reads the log to explain failures: while
``libwebsocket_create_context`` runs, the lines logged at LLL_ERR on that
thread are kept for the exception it raises (:func:`capturing_errors`).  For
that the binding's own emitter stands in for the user's during the call (and
passes every line on to it, as the level the user set asks), and LLL_ERR is
logged even when the user's level leaves it out (those lines are then only
kept, not emitted).  Afterwards the user's C emitter is handed back to the
core; with no emitter set, the binding's stays and writes each line to
stderr as the core does (the C API cannot hand the core back "no emitter").
"""

from __future__ import annotations

import os
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Callable

from ._pylws_cffi import ffi, lib

#: The Python callable that receives each log line, if one was set.
_emitter: Callable[[str], Any] | None = None
#: A C function pointer given as emitter, kept alive while the library uses it.
_c_emitter: Any = None
#: The LLL_* bits the user asked for (the core's default until set).
_level: int = lib.LLL_ERR | lib.LLL_WARN

#: thread ident -> the LLL_ERR messages logged on that thread while it runs a
#: call whose failure they explain (see capturing_errors)
_captures: dict[int, list[str]] = {}
_lock = threading.Lock()
#: most messages kept for one exception
_MAX_CAPTURED = 8

_FMT_S = ffi.new("char[]", b"%s")
#: the level names the core writes after the timestamp ("[...] ERR: ...")
_LEVEL_BITS = {
    name: 1 << n
    for n, name in enumerate(("ERR", "WARN", "INFO", "DEBUG", "PARSER", "HEADER", "EXT", "CLIENT"))
}


@ffi.def_extern()
def _pylws_log_emit(line: Any) -> None:
    if _captures and not _keep(line):
        return
    emit = _emitter
    if emit is not None:
        emit(ffi.string(line).decode("utf-8", "replace"))
    elif _c_emitter is not None:
        _c_emitter(line)
    else:  # no emitter set: stderr, as the core writes it
        os.write(2, ffi.string(line) + b"\n")


def _keep(line: Any) -> bool:
    """While some thread captures: keep an LLL_ERR line logged on a capturing
    thread.  Returns whether the line is for the user's emitter too (its
    level is one the user asked for)."""
    text = ffi.string(line).decode("utf-8", "replace")
    head, _, message = text.partition(": ")
    bit = _LEVEL_BITS.get(head.rpartition(" ")[2], 0)
    if bit == lib.LLL_ERR:
        kept = _captures.get(threading.get_ident())
        if kept is not None:
            kept.append(message)
    return not bit or bool(bit & _level)


def _apply() -> None:
    """Hand the core the level and emitter that the Python state calls for
    (with _lock held)."""
    if _captures:
        lib.lws_set_log_level(_level | lib.LLL_ERR, lib._pylws_log_emit)
    elif _emitter is not None:
        lib.lws_set_log_level(_level, lib._pylws_log_emit)
    elif _c_emitter is not None:
        lib.lws_set_log_level(_level, _c_emitter)
    else:
        # NULL leaves the emitter as it is: stderr, or the binding's, which
        # writes to stderr when no emitter is set
        lib.lws_set_log_level(_level, ffi.NULL)


@contextmanager
def capturing_errors() -> Iterator[list[str]]:
    """Collect the messages logged at LLL_ERR on this thread inside the
    ``with`` block (without the timestamp and level), for an exception.

    The user's emitter still gets every line of the levels they set; an
    emitter given with :func:`lws_set_log_level` meanwhile takes effect as
    usual.  Not for hot paths: it switches the core's emitter twice.
    """
    ident = threading.get_ident()
    kept: list[str] = []
    with _lock:
        outer = _captures.get(ident)  # a nested call on this thread
        _captures[ident] = kept
        _apply()
    try:
        yield kept
    finally:
        with _lock:
            if outer is None:
                del _captures[ident]
            else:
                _captures[ident] = outer
            _apply()


def describe(messages: list[str]) -> str:
    """The captured messages as one text for an exception message."""
    shown = messages[:_MAX_CAPTURED]
    more = len(messages) - len(shown)
    text = "; ".join(m.strip() for m in shown)
    return f"{text}; ... ({more} more)" if more > 0 else text


_EMIT_TYPE = ffi.typeof(lib.lws_set_log_level).args[1]


def lws_set_log_level(level: int, emit: Any = None) -> None:
    """Set which LLL_* levels the library logs, and optionally where.

    ``level``: the LLL_* bits OR-ed together (default: LLL_ERR | LLL_WARN).
    ``emit``: None leaves the emitter as it is (stderr until set); a Python
    callable receives each line as a ``str`` (one message per call, no
    trailing newline); a cdata function pointer ``void (*)(const char *)`` is
    handed to C unchanged.

    Raises TypeError when ``level`` is not an int or ``emit`` is none of these.
    """
    global _emitter, _c_emitter, _level
    if not isinstance(level, int):
        raise TypeError(f"level must be an int of LLL_* bits, not {type(level).__name__}")
    if emit is not None and not isinstance(emit, ffi.CData) and not callable(emit):
        raise TypeError(f"emit must be None, a callable or a C function pointer, not {emit!r}")
    if isinstance(emit, ffi.CData) and emit == ffi.NULL:
        emit = None  # NULL leaves the emitter as it is, as in C
    if isinstance(emit, ffi.CData) and ffi.typeof(emit) is not _EMIT_TYPE:
        # checked before it is kept: a wrong one would break every later call
        raise TypeError(f"emit must be a C function pointer {_EMIT_TYPE.cname}, not {emit!r}")
    with _lock:
        _level = level
        if isinstance(emit, ffi.CData):
            _emitter, _c_emitter = None, emit
        elif emit is not None:
            _emitter, _c_emitter = emit, None
        _apply()


def lwsl_log(level: int, message: str) -> None:
    """Log ``message`` through the library's log at ``level`` (one LLL_* bit).

    Each line of a multi-line message becomes its own log line; a NUL
    character shows as ``\\0`` (C would end the line there).  Raises TypeError
    when ``message`` is not a str or ``level`` not an int.
    """
    if not isinstance(message, str):
        raise TypeError(f"message must be a str, not {type(message).__name__}")
    if "\0" in message:
        message = message.replace("\0", "\\0")
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

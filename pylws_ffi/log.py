"""The library's log: level, emitter, and logging from Python into it.

The binding also reads the log to explain failures: while
``libwebsocket_create_context`` runs, the lines logged at LLL_ERR on that
thread are kept for the exception it raises (:func:`capturing_errors`).  For
that the binding's own emitter stands in for the user's during the call (and
passes every line on to it, as the level the user set asks), and LLL_ERR is
logged even when the user's level leaves it out (those lines are then only
kept, not emitted).  Afterwards the user's C emitter is handed back to the
core.

With no emitter set by the user, the binding's emitter (installed when this
module is imported) passes each line to the Python :mod:`logging` logger
``pylws_ffi.core`` (:func:`lwsl_emit_logging`): LLL_ERR as ERROR, LLL_WARN
(where ``lwsl_notice`` logs too) as WARNING, LLL_INFO as INFO, the others as
DEBUG.  The level set with :func:`lws_set_log_level` still filters in C, so
a line left out costs no Python call.  An exception in a callback becomes
one record there with its whole traceback (:func:`log_exception`).
"""

from __future__ import annotations

import logging
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


#: where the core's log goes when the user set no emitter
logger = logging.getLogger("pylws_ffi.core")

#: the core's level name (after the timestamp) -> the logging level
_LOGGING_LEVELS = {
    b"ERR": logging.ERROR,
    b"WARN": logging.WARNING,
    b"INFO": logging.INFO,
}


def _to_logging(raw: bytes) -> None:
    """One line of the core ("[sec.ms] LEVEL: message") as a record of
    ``logger``, at the level its LLL_* level maps to."""
    head, sep, message = raw.partition(b": ")
    if not sep:  # not a line _lws_log wrote: keep it whole
        head, message = b"", raw
    level = _LOGGING_LEVELS.get(head.rpartition(b" ")[2], logging.DEBUG)
    if logger.isEnabledFor(level):
        logger.log(level, message.decode("utf-8", "replace"))


def lwsl_emit_logging(line: str) -> None:
    """The default emitter: ``line`` (as the core writes it) as a record of
    the :mod:`logging` logger ``pylws_ffi.core`` (ERR: ERROR, WARN: WARNING,
    INFO: INFO, the other levels: DEBUG; the message without the timestamp
    and level).  ``lws_set_log_level(level, lwsl_emit_logging)`` restores it
    after another emitter was set.  Raises nothing of its own (a handler's
    failure is for logging to report)."""
    _to_logging(line.encode("utf-8", "replace"))


@ffi.def_extern()
def _pylws_log_emit(line: Any) -> None:
    if _captures and not _keep(line):
        return
    emit = _emitter
    if emit is not None:
        emit(ffi.string(line).decode("utf-8", "replace"))
    elif _c_emitter is not None:
        _c_emitter(line)
    else:  # no emitter set: the logging module
        _to_logging(ffi.string(line))


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
    else:  # the binding's, into logging
        lib.lws_set_log_level(_level, lib._pylws_log_emit)


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
    ``emit``: None leaves the emitter as it is (until set: the :mod:`logging`
    logger ``pylws_ffi.core``, see :func:`lwsl_emit_logging`, which restores
    it); a Python callable receives each line as a ``str`` (one message per
    call, no trailing newline); a cdata function pointer
    ``void (*)(const char *)`` is handed to C unchanged.  The level and the
    emitter are process-wide, as in C.

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
        if emit is lwsl_emit_logging:
            _emitter, _c_emitter = None, None
        elif isinstance(emit, ffi.CData):
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
    """Log ``what`` and the exception's traceback at LLL_ERR: with the
    default emitter, as one ERROR record of ``pylws_ffi.core`` carrying the
    traceback (``exc_info``); with the user's, as lines of the library's log.
    Either way only when the level set includes LLL_ERR."""
    if not _level & lib.LLL_ERR:
        return
    if _emitter is None and _c_emitter is None:
        logger.error("pylws_ffi: %s", what, exc_info=(exc_type, exc, tb))  # type: ignore[arg-type]
        return
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    lwsl_log(lib.LLL_ERR, f"pylws_ffi: {what}\n{text}")


def log_error(message: str) -> None:
    """Log ``message`` at LLL_ERR: one ERROR record with the default
    emitter, lines of the library's log with the user's."""
    if not _level & lib.LLL_ERR:
        return
    if _emitter is None and _c_emitter is None:
        logger.error(message)
        return
    lwsl_log(lib.LLL_ERR, message)


# the binding's emitter from the start: the core's log reaches logging
_apply()

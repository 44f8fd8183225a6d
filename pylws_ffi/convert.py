"""The argument converters every wrapper uses: Python values into what the
C functions take, with a clear exception for what C would misuse.

* strings: :func:`string` (str/bytes, optionally paths, for a call's
  duration), :func:`c_string` (a NUL-terminated ``char[]`` kept alive for
  as long as the core keeps the pointer);
* buffers: :func:`readable` (a ``const`` view of ``n`` bytes of a bytes-like,
  str or cdata) and :func:`writable` (a writable view);
* ints: :func:`integer` (an int, not a bool), :func:`int_range`.

The NULL and liveness checks of contexts and connections are the registry's
(:mod:`pylws_ffi.registry`).  The write path (``libwebsocket_write``) keeps its
own inline fast cases for bytes, bytearray and str; other buffers go through
:func:`readable`'s rules.
"""

from __future__ import annotations

import os
from typing import Any

from ._pylws_cffi import ffi

_NULL = ffi.NULL
_CData = ffi.CData


# ---- strings ----


def string(value: Any, what: str, *, paths: bool = False, none: bool = True) -> Any:
    """``value`` as the ``char *`` argument of one call: None -> NULL (when
    ``none``), str -> its UTF-8 (a path: its file-system encoding), bytes as
    they are (cffi passes them as ``char *``); with ``paths``, any
    os.PathLike too.  Raises TypeError for another type, ValueError for a
    NUL byte."""
    if value is None and none:
        return _NULL
    if isinstance(value, bytes):
        data = value
    elif paths and isinstance(value, (str, os.PathLike)):
        data = os.fsencode(value)
    elif isinstance(value, str):
        data = value.encode()
    elif paths:
        raise TypeError(f"{what} must be str, bytes or a path, not {type(value).__name__}")
    else:
        raise TypeError(f"{what} must be str, bytes or None, not {type(value).__name__}")
    if b"\0" in data:
        raise ValueError(f"{what} contains a NUL byte")
    return data


def c_string(value: Any, what: str, keepalive: list[Any]) -> Any:
    """None -> NULL; a cdata as it is; str/bytes/os.PathLike -> a
    NUL-terminated ``char[]`` appended to ``keepalive`` (for pointers the core
    keeps: names, paths of a context)."""
    if value is None:
        return _NULL
    if isinstance(value, _CData):
        return value
    if isinstance(value, str):
        data = value.encode()
    elif isinstance(value, (bytes, os.PathLike)):
        data = os.fsencode(value)
    else:
        raise TypeError(f"{what} must be None, str or bytes, not {type(value).__name__}")
    if b"\0" in data:
        raise ValueError(f"{what} contains a NUL byte")
    s = ffi.new("char[]", data)
    keepalive.append(s)
    return s


# ---- buffers ----


def cdata_room(data: Any, n: int, what: str) -> Any:
    """cdata as it is, after the checks its type allows: NULL holds nothing, an
    array (``ffi.new("char[]", ...)``) its size; a pointer is trusted, as in C."""
    if data == _NULL:
        if n != 0:
            raise ValueError(f"{what} is NULL")
    elif ffi.typeof(data).kind == "array" and not 0 <= n <= ffi.sizeof(data):
        raise ValueError(f"{what}: length {n} is outside the array of {ffi.sizeof(data)} bytes")
    return data


def readable(data: Any, n: int, what: str) -> Any:
    """A ``const`` C view of ``n`` bytes of data (bytes-like, str or cdata)."""
    if isinstance(data, _CData):
        return cdata_room(data, n, what)
    if isinstance(data, str):
        data = data.encode()
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(
            f"{what} must be bytes-like, str or cdata, not {type(data).__name__}"
        ) from None
    if not 0 <= n <= view.nbytes:
        raise ValueError(f"{what}: length {n} is outside the buffer of {view.nbytes} bytes")
    try:
        return ffi.from_buffer(view)
    except BufferError:
        raise TypeError(f"{what} must be a contiguous buffer") from None


def writable(buf: Any, n: int, what: str) -> Any:
    """A writable C view of ``n`` bytes of buf (bytearray, writable memoryview, cdata)."""
    if isinstance(buf, _CData):
        return cdata_room(buf, n, what)
    try:
        view = memoryview(buf)
    except TypeError:
        raise TypeError(
            f"{what} must be a writable buffer or cdata, not {type(buf).__name__}"
        ) from None
    if view.readonly:
        raise TypeError(f"{what} must be writable (bytearray, not bytes)")
    if not 0 <= n <= view.nbytes:
        raise ValueError(f"{what}: length {n} is outside the buffer of {view.nbytes} bytes")
    try:
        return ffi.from_buffer(view, require_writable=True)
    except BufferError:
        raise TypeError(f"{what} must be a contiguous buffer") from None


# ---- ints ----


def integer(value: Any, what: str) -> int:
    """``value`` if it is an int (not a bool); TypeError otherwise."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    return value


def int_range(value: Any, what: str, lo: int, hi: int | None = None, why: str = "") -> int:
    """An int in ``lo..hi`` (no upper bound when ``hi`` is None): TypeError
    for a non-int, ValueError (``why`` or a generic text) outside."""
    integer(value, what)
    if value < lo or (hi is not None and value > hi):
        if why:
            raise ValueError(why)
        bound = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{what} must be {bound}, not {value}")
    return value

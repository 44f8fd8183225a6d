"""Utilities of the C API: randomness, SHA-1 and base64."""

from __future__ import annotations

from typing import Any

from ._pylws_cffi import ffi, lib
from .convert import readable as _readable
from .convert import writable as _writable
from .registry import check_context

_size = len  # the functions below take arguments named len, as in C


def libwebsockets_get_random(context: Any, buf: Any, len: int) -> int:
    """Fill the first ``len`` bytes of ``buf`` (bytearray, writable memoryview or
    cdata) with random bytes.  Returns the count filled.

    Raises TypeError for a read-only buffer, ValueError when ``len`` exceeds it
    or ``context`` is NULL or already destroyed.
    """
    check_context(context, "libwebsockets_get_random")
    return lib.libwebsockets_get_random(context, _writable(buf, len, "buf"), len)


def libwebsockets_SHA1(d: Any, n: int, md: Any = None) -> Any:
    """SHA-1 of the first ``n`` bytes of ``d`` (bytes-like, str or cdata).

    With ``md`` (a writable buffer of at least 20 bytes, or cdata) the digest
    is written there and ``md`` is returned, as in C; with ``md`` None the
    20-byte digest is returned as bytes.
    Raises ValueError when ``n`` is negative or exceeds ``d`` or ``md`` is
    too small; TypeError when ``d`` is not bytes-like, str or cdata, or
    ``md`` not a writable buffer.
    """
    c_d = _readable(d, n, "d")
    if md is None:
        out = ffi.new("unsigned char[20]")
        lib.libwebsockets_SHA1(c_d, n, out)
        return ffi.buffer(out)[:]
    lib.libwebsockets_SHA1(c_d, n, ffi.cast("unsigned char *", _writable(md, 20, "md")))
    return md


def lws_b64_encode_string(
    in_: Any, in_len: int, out: Any = None, out_size: int | None = None
) -> Any:
    """Base64 of the first ``in_len`` bytes of ``in_``.

    C style: with ``out`` (a writable buffer or cdata) and ``out_size``, writes
    the NUL-terminated text there and returns its length, or -1 when it does
    not fit.  With ``out`` None, returns the encoded bytes.
    Raises ValueError when a length is negative or exceeds its buffer;
    TypeError when ``in_`` is not bytes-like, str or cdata, or ``out`` not a
    writable buffer.
    """
    c_in = ffi.cast("const char *", _readable(in_, in_len, "in_"))
    if out is None:
        size = 4 * ((in_len + 2) // 3) + 1
        buf = ffi.new("char[]", size)
        n = lib.lws_b64_encode_string(c_in, in_len, buf, size)
        return ffi.buffer(buf, max(n, 0))[:]
    if out_size is None:
        out_size = _size(out) if not isinstance(out, ffi.CData) else 0
    c_out = ffi.cast("char *", _writable(out, out_size, "out"))
    return lib.lws_b64_encode_string(c_in, in_len, c_out, out_size)


def lws_b64_decode_string(in_: Any, out: Any = None, out_size: int | None = None) -> Any:
    """Decode the base64 text ``in_`` (str or bytes; NUL-terminated if cdata).

    C style: with ``out`` and ``out_size``, writes the decoded bytes there and
    returns their count, or -1 (bad input or too small).  With ``out`` None,
    returns the decoded bytes, raising ValueError for bad input.

    Raises TypeError when ``in_`` is not str, bytes-like or cdata (or ``out``
    not a writable buffer), ValueError when ``in_`` holds a NUL character or
    is NULL, or ``out_size`` exceeds ``out``.
    """
    if isinstance(in_, ffi.CData):
        if in_ == ffi.NULL:
            raise ValueError("in_ is NULL")
        c_in = in_
    else:
        if isinstance(in_, str):
            text = in_.encode()
        elif isinstance(in_, (bytes, bytearray, memoryview)):
            text = bytes(in_)
        else:
            raise TypeError(f"in_ must be str, bytes-like or cdata, not {type(in_).__name__}")
        if b"\0" in text:
            raise ValueError("in_ contains a NUL character (base64 text has none)")
        c_in = ffi.new("char[]", text)
    if out is None:
        size = _size(ffi.string(c_in)) * 3 // 4 + 4
        buf = ffi.new("char[]", size)
        n = lib.lws_b64_decode_string(c_in, buf, size)
        if n < 0:
            raise ValueError("not valid base64")
        return ffi.buffer(buf, n)[:]
    if out_size is None:
        out_size = _size(out) if not isinstance(out, ffi.CData) else 0
    return lib.lws_b64_decode_string(
        c_in, ffi.cast("char *", _writable(out, out_size, "out")), out_size
    )

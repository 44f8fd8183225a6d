"""TLS: certificate files into the core's OpenSSL contexts.

The OpenSSL functions are the extension module's own (declared in build.py's
cdef, resolved against the libssl the core is linked with).
"""

from __future__ import annotations

import os
import ssl
from typing import Any, Union

from .._pylws_cffi import ffi, lib

StrPath = Union[str, bytes, "os.PathLike[str]"]


def _errors() -> str:
    """OpenSSL's error queue as text (and emptied)."""
    out = []
    buf = ffi.new("char[256]")
    while True:
        e = lib.ERR_get_error()
        if not e:
            break
        lib.ERR_error_string_n(e, buf, len(buf))
        out.append(ffi.string(buf).decode(errors="replace"))
    return "; ".join(out) or "OpenSSL gave no reason"


def load_files(
    ssl_ctx: Any,
    cafile: StrPath | None = None,
    certfile: StrPath | None = None,
    keyfile: StrPath | None = None,
) -> None:
    """Load ``cafile`` (PEM CAs to trust), ``certfile`` (PEM certificate
    chain) and ``keyfile`` (its key; default: in ``certfile``) into the
    ``SSL_CTX *`` ``ssl_ctx`` (a cdata pointer, e.g. the ``user`` of
    LWS_CALLBACK_OPENSSL_LOAD_EXTRA_CLIENT_VERIFY_CERTS).  Raises
    ssl.SSLError saying which file and why."""
    ctx = ffi.cast("SSL_CTX *", ssl_ctx)
    lib.ERR_clear_error()

    def fail(what: str, path: StrPath) -> ssl.SSLError:
        return ssl.SSLError(
            ssl.SSL_ERROR_SSL, f"cannot load {what} {os.fspath(path)!r}: {_errors()}"
        )

    if cafile is not None and lib.SSL_CTX_load_verify_locations(
        ctx, os.fsencode(cafile), ffi.NULL
    ) != 1:  # fmt: skip
        raise fail("the CA file", cafile)
    if certfile is not None:
        if lib.SSL_CTX_use_certificate_chain_file(ctx, os.fsencode(certfile)) != 1:
            raise fail("the certificate", certfile)
        key = certfile if keyfile is None else keyfile
        if lib.SSL_CTX_use_PrivateKey_file(ctx, os.fsencode(key), lib.SSL_FILETYPE_PEM) != 1:
            raise fail("the private key", key)
        if lib.SSL_CTX_check_private_key(ctx) != 1:
            raise fail(f"the private key {os.fspath(key)!r} with the certificate", certfile)


def check_files(certfile: StrPath | None, keyfile: StrPath | None, cafile: StrPath | None) -> None:
    """Load the files into a scratch SSL_CTX: raises ssl.SSLError when one of
    them cannot be used."""
    ctx = lib.SSL_CTX_new(lib.TLS_method())
    if ctx == ffi.NULL:
        raise ssl.SSLError(ssl.SSL_ERROR_SSL, f"SSL_CTX_new failed: {_errors()}")
    try:
        load_files(ctx, cafile, certfile, keyfile)
    finally:
        lib.SSL_CTX_free(ctx)


def _check_readable(**paths: StrPath | None) -> None:
    """Open each file given, so a missing or unreadable one raises its
    FileNotFoundError / PermissionError (naming it) before anything starts."""
    for what, path in paths.items():
        if path is None:
            continue
        if not isinstance(path, (str, bytes, os.PathLike)):
            raise TypeError(f"{what} must be a path (str, bytes, os.PathLike), not {path!r}")
        with open(path, "rb"):
            pass

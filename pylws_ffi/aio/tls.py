"""TLS: certificate files into the core's OpenSSL contexts."""

from __future__ import annotations

import os
import ssl
from typing import Any, Union

# ---------------------------------------------------------------------------
# TLS: certificate files into the core's OpenSSL contexts
# ---------------------------------------------------------------------------

StrPath = Union[str, bytes, "os.PathLike[str]"]


class _OpenSSL:
    """The few OpenSSL calls the TLS options need, made through ctypes on the
    ``SSL_CTX *`` the core hands its callbacks.  They must come from the
    libssl the core is linked with: a ``dlsym`` on the extension module
    searches its dependencies, so that one is used (a libssl found by name
    only if that fails)."""

    def __init__(self) -> None:
        import ctypes
        import ctypes.util

        from .. import _pylws_cffi

        try:
            so: Any = ctypes.CDLL(_pylws_cffi.__file__)
            so.SSL_CTX_load_verify_locations  # noqa: B018 - is it reachable?
        except (OSError, AttributeError):
            so = ctypes.CDLL(ctypes.util.find_library("ssl") or "libssl.so.3")
        p, s, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
        ul = ctypes.c_ulong
        for name, restype, argtypes in [
            ("TLS_method", p, []),
            ("SSL_CTX_new", p, [p]),
            ("SSL_CTX_free", None, [p]),
            ("SSL_CTX_load_verify_locations", i, [p, s, s]),
            ("SSL_CTX_use_certificate_chain_file", i, [p, s]),
            ("SSL_CTX_use_PrivateKey_file", i, [p, s, i]),
            ("SSL_CTX_check_private_key", i, [p]),
            ("ERR_get_error", ul, []),
            ("ERR_clear_error", None, []),
            ("ERR_error_string_n", None, [ul, s, ctypes.c_size_t]),
            ("X509_verify_cert_error_string", s, [ctypes.c_long]),
        ]:
            fn = getattr(so, name)
            fn.restype, fn.argtypes = restype, argtypes
            setattr(self, name, fn)
        self._ctypes = ctypes
        self._verify_codes: dict[str, int] | None = None

    def _errors(self) -> str:
        out = []
        buf = self._ctypes.create_string_buffer(256)
        while True:
            e = self.ERR_get_error()  # type: ignore[attr-defined]
            if not e:
                break
            self.ERR_error_string_n(e, buf, len(buf))  # type: ignore[attr-defined]
            out.append(buf.value.decode(errors="replace"))
        return "; ".join(out) or "OpenSSL gave no reason"

    def load(
        self,
        ssl_ctx: int,
        cafile: StrPath | None = None,
        certfile: StrPath | None = None,
        keyfile: StrPath | None = None,
    ) -> None:
        """Load ``cafile`` (PEM CAs to trust), ``certfile`` (PEM certificate
        chain) and ``keyfile`` (its key; default: in ``certfile``) into the
        ``SSL_CTX *`` at ``ssl_ctx``.  Raises ssl.SSLError saying which file
        and why."""
        o: Any = self
        o.ERR_clear_error()

        def fail(what: str, path: StrPath) -> ssl.SSLError:
            return ssl.SSLError(
                ssl.SSL_ERROR_SSL, f"cannot load {what} {os.fspath(path)!r}: {self._errors()}"
            )

        if cafile is not None and o.SSL_CTX_load_verify_locations(
            ssl_ctx, os.fsencode(cafile), None
        ) != 1:  # fmt: skip
            raise fail("the CA file", cafile)
        if certfile is not None:
            if o.SSL_CTX_use_certificate_chain_file(ssl_ctx, os.fsencode(certfile)) != 1:
                raise fail("the certificate", certfile)
            key = certfile if keyfile is None else keyfile
            if o.SSL_CTX_use_PrivateKey_file(ssl_ctx, os.fsencode(key), 1) != 1:  # PEM
                raise fail("the private key", key)
            if o.SSL_CTX_check_private_key(ssl_ctx) != 1:
                raise fail(f"the private key {os.fspath(key)!r} with the certificate", certfile)

    def check(
        self, certfile: StrPath | None, keyfile: StrPath | None, cafile: StrPath | None
    ) -> None:
        """Load the files into a scratch SSL_CTX: raises ssl.SSLError when
        one of them cannot be used."""
        o: Any = self
        ctx = o.SSL_CTX_new(o.TLS_method())
        if not ctx:
            raise ssl.SSLError(ssl.SSL_ERROR_SSL, f"SSL_CTX_new failed: {self._errors()}")
        try:
            self.load(ctx, cafile, certfile, keyfile)
        finally:
            o.SSL_CTX_free(ctx)

    def verify_code(self, message: str) -> int | None:
        """The X509_V_ERR_* code whose text is ``message``."""
        if self._verify_codes is None:
            codes: dict[str, int] = {}
            for code in range(1, 200):
                text = self.X509_verify_cert_error_string(code)  # type: ignore[attr-defined]
                if text:
                    codes.setdefault(text.decode(errors="replace"), code)
            self._verify_codes = codes
        return self._verify_codes.get(message)


_openssl_instance: _OpenSSL | None = None


def _openssl() -> _OpenSSL:
    global _openssl_instance
    if _openssl_instance is None:
        _openssl_instance = _OpenSSL()
    return _openssl_instance


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

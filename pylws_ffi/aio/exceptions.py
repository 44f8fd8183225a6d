"""The exceptions of the asyncio API."""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .connection import Response


class ConnectionClosed(Exception):
    """The connection is closed (raised by ``recv``/``send`` after the end).

    ``code``/``reason``: as :attr:`Connection.close_code` and
    :attr:`Connection.close_reason`.
    """

    def __init__(self, code: int | None, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"connection closed (code {code}{', ' + reason if reason else ''})")


class ConnectionClosedOK(ConnectionClosed):
    """The connection closed properly, as ``websockets`` defines it: the
    peer's close frame had 1000, 1001 or no code, and this side's (when it
    sent one of its own) 1000 or 1001.  ``async for`` over a connection ends
    quietly for it."""


class ConnectionClosedError(ConnectionClosed):
    """The connection closed with an error: another close code (1011, 1009,
    1002...) either way, or it was dropped without a close frame from the
    peer.  ``async for`` over a connection raises it."""


#: close codes of a proper close (websockets' OK_CLOSE_CODES)
_OK_CODES = (1000, 1001, 1005)


def _closed_exc(
    rcvd: int | None, sent: int | None, code: int | None, reason: str
) -> ConnectionClosed:
    ok = rcvd in _OK_CODES and (sent is None or sent in _OK_CODES)
    return (ConnectionClosedOK if ok else ConnectionClosedError)(code, reason)


class InvalidHandshake(ConnectionError):
    """A client connection failed before it was established; the text says
    why (the CLIENT_CONNECTION_ERROR message of the core)."""


class InvalidStatus(InvalidHandshake):
    """The server answered the opening handshake with another status than
    101 (a 401, 403, 404, a redirect...), as websockets' ``InvalidStatus``:
    ``response`` has its ``status_code``, ``reason_phrase``, ``headers`` and
    ``body``."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"server rejected WebSocket connection: HTTP {response.status_code}")
        self.response = response


class InvalidCertificate(InvalidHandshake, ssl.SSLCertVerificationError):
    """A ``wss://`` connection failed because the server's certificate was
    refused: not issued by a trusted CA, issued for another name, expired...

    Both an :class:`InvalidHandshake` and an :class:`ssl.SSLCertVerificationError`
    (what the ``ssl`` module and ``websockets`` raise in that case).  The text
    is the core's (``TLS: server certificate refused: hostname mismatch``);
    ``verify_message`` is OpenSSL's reason (``hostname mismatch``) and
    ``verify_code`` the X509_V_ERR_* number (as the core reports it,
    lws_tls_verify_error; None if unknown).
    """

    def __init__(self, message: str, verify_message: str, verify_code: int | None = None) -> None:
        super().__init__(ssl.SSL_ERROR_SSL, message)
        self.verify_message = verify_message
        self.verify_code = verify_code

    def __str__(self) -> str:
        return str(self.strerror)


_CERT_REFUSED = "TLS: server certificate refused: "


def _connection_error(why: str, verify_code: int = 0) -> InvalidHandshake:
    """The exception for a CLIENT_CONNECTION_ERROR whose message is ``why``
    (``verify_code``: the core's lws_tls_verify_error, 0 if none)."""
    if why.startswith(_CERT_REFUSED):
        return InvalidCertificate(why, why[len(_CERT_REFUSED) :], verify_code or None)
    return InvalidHandshake(why or "connection failed")

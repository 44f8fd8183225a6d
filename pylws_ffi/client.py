"""Client connections: libwebsocket_client_connect and _extended.

A client connection is served by the same context, service loop and protocol
callbacks as a server connection; its events are the CLIENT_* reasons
(CLIENT_ESTABLISHED, CLIENT_RECEIVE, CLIENT_RECEIVE_PONG, CLIENT_WRITEABLE,
CLOSED, CLIENT_CONNECTION_ERROR).  The call returns the new connection at
once; DNS, the TCP connect and the handshake complete in
``libwebsocket_service``.

CLIENT_RECEIVE goes through the same trampoline as RECEIVE (dispatch.py), so
the receive path costs the same on both sides.  The ``userdata`` of
``libwebsocket_client_connect_extended`` is held in the registry until the
core drops the connection (after its CLOSED or CLIENT_CONNECTION_ERROR).
"""

from __future__ import annotations

import os
from typing import Any

from . import registry
from ._pylws_cffi import ffi, lib
from .convert import int_range, integer, string
from .errors import LwsError
from .registry import check_live

#: the protocol versions the core speaks: -1 (= latest, 13), 7, 8, 13
IETF_VERSIONS = (-1, 7, 8, 13)

_CData = ffi.CData


def _check_args(
    address: Any,
    port: Any,
    ssl_connection: Any,
    path: Any,
    host: Any,
    origin: Any,
    protocol: Any,
    ietf_version_or_minus_one: Any,
) -> tuple[Any, ...]:
    if address is None:
        raise TypeError("address must be str or bytes, not None")
    c_address = string(address, "address")
    if not c_address:
        raise ValueError("address is empty")
    int_range(port, "port", 1, 65535)
    integer(ssl_connection, "ssl_connection")
    if ssl_connection not in (0, 1, 2):
        raise ValueError(
            "ssl_connection must be 0 (ws://), 1 (wss://) or 2 (wss://, self-signed "
            f"certificates allowed), not {ssl_connection}"
        )
    integer(ietf_version_or_minus_one, "ietf_version_or_minus_one")
    if ietf_version_or_minus_one not in IETF_VERSIONS:
        raise ValueError(
            f"ietf_version_or_minus_one must be one of {IETF_VERSIONS}, "
            f"not {ietf_version_or_minus_one}"
        )
    return (
        c_address,
        string(path, "path"),
        string(host, "host"),
        string(origin, "origin"),
        string(protocol, "protocol"),
    )


def _failed(err: int, address: Any, port: int) -> Exception:
    where = f"{address.decode(errors='replace')}:{port}"
    if err:
        return OSError(err, f"libwebsocket_client_connect to {where} failed: {os.strerror(err)}")
    return LwsError(f"libwebsocket_client_connect to {where} failed")


def libwebsocket_client_connect(
    context: Any,
    address: str | bytes,
    port: int,
    ssl_connection: int = 0,
    path: str | bytes | None = None,
    host: str | bytes | None = None,
    origin: str | bytes | None = None,
    protocol: str | bytes | None = None,
    ietf_version_or_minus_one: int = -1,
) -> Any:
    """Open a client connection to ``address``:``port`` served by ``context``.

    Returns the new connection (``struct libwebsocket *`` cdata) at once; the
    DNS lookup, TCP connect and handshake complete in libwebsocket_service.
    Its events go to the callback of the context's protocol named by the
    first item of ``protocol`` (protocols[0] if the context has none of that
    name), then of the protocol the server chose: CLIENT_ESTABLISHED,
    CLIENT_RECEIVE, CLIENT_RECEIVE_PONG, CLIENT_WRITEABLE, CLOSED; or, when
    the connection fails before it is established, one
    CLIENT_CONNECTION_ERROR whose ``in_``/``len`` is a text describing why
    (``ffi.string(in_)``).

    ``address``: host name or IP address (str or bytes); ``port``: 1..65535;
    ``ssl_connection``: 0 (ws://), 1 (wss://), 2 (wss://, self-signed
    certificates accepted); ``path``: None means "/"; ``host``: the Host
    header, None means ``address``; ``origin``: None sends no Origin;
    ``protocol``: comma-separated subprotocols asked for, None or "" sends
    none; ``ietf_version_or_minus_one``: -1 (the latest, 13), 7, 8 or 13.

    Raises TypeError for an argument of the wrong type (or a ``context``
    that is not a context cdata); ValueError for an empty address, a port
    outside 1..65535, ``ssl_connection`` not 0/1/2, a version not in
    (-1, 7, 8, 13), a string with a NUL byte, or a destroyed context;
    OSError (errno from the core, e.g. EINVAL, ENOMEM) when the core refuses
    the connection, or
    LwsError if it does so without an errno.
    """
    check_live(context, "libwebsocket_client_connect")
    c_address, c_path, c_host, c_origin, c_protocol = _check_args(
        address, port, ssl_connection, path, host, origin, protocol, ietf_version_or_minus_one
    )
    with registry.connecting() as watch:
        wsi = lib.libwebsocket_client_connect(
            context, c_address, port, ssl_connection, c_path, c_host, c_origin, c_protocol,
            ietf_version_or_minus_one,
        )  # fmt: skip
        err = ffi.errno
    if registry.pending:
        registry.reraise_pending()
    if wsi == ffi.NULL:
        raise _failed(err, c_address, port)
    return watch.register(wsi)


def libwebsocket_client_connect_extended(
    context: Any,
    address: str | bytes,
    port: int,
    ssl_connection: int = 0,
    path: str | bytes | None = None,
    host: str | bytes | None = None,
    origin: str | bytes | None = None,
    protocol: str | bytes | None = None,
    ietf_version_or_minus_one: int = -1,
    userdata: Any = None,
) -> Any:
    """libwebsocket_client_connect with ``userdata`` as the connection's
    ``user`` area (the ``user`` argument of its callbacks) instead of one the
    library allocates.

    ``userdata``: a cdata pointer (e.g. ``ffi.new("struct my_session *")``)
    or None (then the library allocates the protocol's per_session_data_size,
    as libwebsocket_client_connect does).  The binding keeps the cdata alive
    until the library drops the connection, after its CLOSED or
    CLIENT_CONNECTION_ERROR callback has returned (whether the callbacks are
    Python callables or C function pointers), or its context is destroyed.
    The library never frees it.

    Raises what libwebsocket_client_connect raises, and TypeError when
    ``userdata`` is neither None nor a cdata pointer.
    """
    key = check_live(context, "libwebsocket_client_connect_extended")
    c_address, c_path, c_host, c_origin, c_protocol = _check_args(
        address, port, ssl_connection, path, host, origin, protocol, ietf_version_or_minus_one
    )
    if userdata is None or (isinstance(userdata, _CData) and userdata == ffi.NULL):
        c_user = ffi.NULL
    elif isinstance(userdata, _CData) and ffi.typeof(userdata).kind in ("pointer", "array"):
        c_user = userdata
    else:
        raise TypeError(f"userdata must be a cdata pointer or None, not {userdata!r}")

    with registry.connecting() as watch:
        wsi = lib.libwebsocket_client_connect_extended(
            context, c_address, port, ssl_connection, c_path, c_host, c_origin, c_protocol,
            ietf_version_or_minus_one, c_user,
        )  # fmt: skip
        err = ffi.errno
    if registry.pending:
        registry.reraise_pending()
    if wsi == ffi.NULL:
        raise _failed(err, c_address, port)
    # the userdata is held until the core drops the connection
    return watch.register(wsi, None if c_user == ffi.NULL else c_user, key)


# ---- a helper for LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER ----


def lws_append_handshake_header(in_: Any, len_: int, header: str | bytes) -> int:
    """In a CLIENT_APPEND_HANDSHAKE_HEADER callback: append ``header`` (one or
    more complete lines, each ending in CRLF: ``"Cookie: a=b\\r\\n"``) at the
    write position ``in_`` (a ``char **``) and move it on, as C code does
    with ``*p += sprintf(*p, ...)``.  Returns the count of bytes added.

    Raises ValueError when the header does not fit in ``len_`` bytes or does
    not end in CRLF, TypeError when ``header`` is not str or bytes.
    """
    if isinstance(header, str):
        data = header.encode()
    elif isinstance(header, (bytes, bytearray)):
        data = bytes(header)
    else:
        raise TypeError(f"header must be str or bytes, not {type(header).__name__}")
    if data and not data.endswith(b"\r\n"):
        raise ValueError("a handshake header line must end in CRLF (\\r\\n)")
    if len(data) > len_:
        raise ValueError(f"header of {len(data)} bytes does not fit in the {len_} left")
    pos = ffi.cast("char **", in_)
    ffi.memmove(pos[0], data, len(data))
    pos[0] += len(data)
    return len(data)

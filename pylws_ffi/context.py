"""Contexts: create, serve, configure, destroy."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional, Union

# dispatch defines the C-to-Python entry points (ffi.def_extern) the arrays
# built here point at: it must be imported before any context is made
from . import dispatch as _dispatch  # noqa: F401
from . import registry
from ._pylws_cffi import ffi, lib
from .convert import c_string as _c_string
from .convert import integer
from .errors import LwsError
from .log import capturing_errors, describe
from .registry import check_context, check_live
from .registry import pending as _pending

#: A protocol callback written in Python:
#: ``callback(context, wsi, reason, user, in_, len) -> int | None`` (an
#: LWS_CALLBACK_* reason; nonzero closes the connection, None means 0).
#: ``context``/``wsi``/``user``/``in_`` are cdata pointers.
CallbackFunction = Callable[[Any, Any, int, Any, Any, int], Optional[int]]

#: An extension callback written in Python:
#: ``extension_callback(context, ext, wsi, reason, user, in_, len) -> int | None``
#: (an LWS_EXT_CALLBACK_* reason).
ExtensionCallbackFunction = Callable[[Any, Any, Any, int, Any, Any, int], Optional[int]]

#: A protocol given from Python: (name, callback, per_session_data_size);
#: the size may be left out (0).  The callback may also be a C function
#: pointer (cdata).
ProtocolSpec = Union[
    tuple[Union[str, bytes], CallbackFunction, int],
    tuple[Union[str, bytes], CallbackFunction],
]


#: An extension given from Python: (name, extension_callback, per_session_data_size);
#: the size may be left out (0).
ExtensionSpec = Union[
    tuple[Union[str, bytes], ExtensionCallbackFunction, int],
    tuple[Union[str, bytes], ExtensionCallbackFunction],
]


def _protocol_array(
    protocols: Any, keepalive: list[Any], entries: list[Any], trampoline: Any
) -> Any:
    """Build the NUL-terminated struct libwebsocket_protocols[] for a list;
    a Python callback's entry gets ``trampoline`` as its C callback."""
    if isinstance(protocols, ffi.CData):
        keepalive.append(protocols)
        return protocols
    if isinstance(protocols, (str, bytes)) or not isinstance(protocols, Sequence):
        raise TypeError(
            "protocols must be a list of (name, callback, per_session_data_size) tuples "
            f"or a cdata struct libwebsocket_protocols array, not {type(protocols).__name__}"
        )
    if not protocols:
        raise ValueError("protocols must name at least one protocol")
    arr = ffi.new("struct libwebsocket_protocols[]", len(protocols) + 1)
    keepalive.append(arr)
    for i, spec in enumerate(protocols):
        if not isinstance(spec, tuple) or len(spec) not in (2, 3):
            raise TypeError(
                f"protocols[{i}] must be a (name, callback, per_session_data_size) tuple, "
                f"not {spec!r}"
            )
        name, callback = spec[0], spec[1]
        size = spec[2] if len(spec) == 3 else 0
        if not isinstance(name, (str, bytes)):
            raise TypeError(f"protocols[{i}] name must be str, not {type(name).__name__}")
        if not isinstance(size, int) or size < 0:
            raise ValueError(f"protocols[{i}] per_session_data_size must be an int >= 0")
        entry = arr + i
        entry.name = _c_string(name, f"protocols[{i}] name", keepalive)
        entry.per_session_data_size = size
        if isinstance(callback, ffi.CData):
            if callback == ffi.NULL:
                raise ValueError(f"protocols[{i}] callback is NULL (that ends the array)")
            entry.callback = callback
            keepalive.append(callback)
        elif callable(callback):
            entry.callback = trampoline
            entries.append((entry, callback))
        else:
            raise TypeError(f"protocols[{i}] callback must be callable, not {callback!r}")
    return arr


#: characters RFC 7230 allows in a token (an extension name)
_TOKEN_CHARS = frozenset(
    b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
#: how far a cdata pointer in an extension list is searched for its end
_MAX_EXTENSIONS = 64


def _extension_entries(item: Any, i: int) -> list[Any]:
    """The entries a cdata item of an extension list stands for: a struct is
    one entry; a pointer or array is a list ending at a NULL callback."""
    ctype = ffi.typeof(item)
    struct = ffi.typeof("struct libwebsocket_extension")
    if ctype is struct:
        if item.callback == ffi.NULL:
            raise ValueError(f"extensions[{i}] has a NULL callback (that ends an array)")
        return [item]
    if ctype.kind not in ("pointer", "array") or ctype.item is not struct:
        raise TypeError(
            f"extensions[{i}] must be a struct libwebsocket_extension (an entry, a pointer "
            f"or an array of them), not {ctype.cname}"
        )
    if item == ffi.NULL:
        raise ValueError(f"extensions[{i}] is NULL")
    limit = ctype.length if ctype.kind == "array" and ctype.length is not None else None
    found = []
    for n in range(limit if limit is not None else _MAX_EXTENSIONS + 1):
        if item[n].callback == ffi.NULL:
            return found
        found.append(item[n])
    if limit is not None:
        return found
    raise ValueError(
        f"extensions[{i}]: no entry with a NULL callback ends it within {_MAX_EXTENSIONS}"
    )


def _extension_array(extensions: Any, keepalive: list[Any], ext_entries: list[Any]) -> Any:
    """The struct libwebsocket_extension[] (NULL-callback terminated) for
    create_context's ``extensions``: NULL, the cdata given, or one built
    from a list."""
    if extensions is None:
        return ffi.NULL
    if isinstance(extensions, ffi.CData):
        keepalive.append(extensions)
        return extensions
    if isinstance(extensions, (str, bytes)) or not isinstance(extensions, Sequence):
        raise TypeError(
            "extensions must be None, a cdata struct libwebsocket_extension array, or a list "
            "of (name, extension_callback, per_session_data_size) tuples and built-in "
            f"extensions, not {type(extensions).__name__}"
        )
    # (name bytes, callback, size, per_context_private_data)
    specs: list[tuple[bytes, Any, int, Any]] = []
    for i, item in enumerate(extensions):
        if isinstance(item, ffi.CData):
            keepalive.append(item)
            for entry in _extension_entries(item, i):
                if entry.name == ffi.NULL:
                    raise ValueError(f"extensions[{i}] has an entry without a name")
                specs.append(
                    (
                        ffi.string(entry.name),
                        entry.callback,
                        entry.per_session_data_size,
                        entry.per_context_private_data,
                    )
                )
            continue
        if not isinstance(item, tuple) or len(item) not in (2, 3):
            raise TypeError(
                f"extensions[{i}] must be a (name, extension_callback, per_session_data_size) "
                f"tuple or a built-in extension (cdata), not {item!r}"
            )
        name, callback = item[0], item[1]
        size = item[2] if len(item) == 3 else 0
        if isinstance(name, str):
            name = name.encode()
        if not isinstance(name, bytes):
            raise TypeError(f"extensions[{i}] name must be str, not {type(name).__name__}")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"extensions[{i}] per_session_data_size must be an int >= 0")
        if isinstance(callback, ffi.CData):
            if callback == ffi.NULL:
                raise ValueError(f"extensions[{i}] callback is NULL (that ends the array)")
            keepalive.append(callback)
        elif not callable(callback):
            raise TypeError(f"extensions[{i}] callback must be callable, not {callback!r}")
        specs.append((name, callback, size, ffi.NULL))
    if not specs:
        return ffi.NULL

    seen: set[bytes] = set()
    for name, *_ in specs:
        shown = name.decode("utf-8", "replace")
        if not name or not set(name) <= _TOKEN_CHARS:
            raise ValueError(
                f"extension name {shown!r} is not an HTTP token (letters, digits, "
                "!#$%&'*+-.^_`|~; no blanks, commas, semicolons or '=')"
            )
        if name.lower() in seen:
            raise ValueError(f"extension {shown!r} is given twice")
        seen.add(name.lower())

    arr = ffi.new("struct libwebsocket_extension[]", len(specs) + 1)
    keepalive.append(arr)
    for n, (name, callback, size, private) in enumerate(specs):
        entry = arr + n
        c_name = ffi.new("char[]", name)
        keepalive.append(c_name)
        entry.name = c_name
        entry.per_session_data_size = size
        entry.per_context_private_data = private
        if isinstance(callback, ffi.CData):
            entry.callback = callback
        else:
            entry.callback = lib._pylws_extension_callback
            ext_entries.append((entry, callback))
    return arr


def libwebsocket_create_context(
    port: int,
    interf: str | bytes | None,
    protocols: Sequence[ProtocolSpec],
    extensions: Any = None,
    ssl_cert_filepath: str | bytes | os.PathLike[str] | None = None,
    ssl_private_key_filepath: str | bytes | os.PathLike[str] | None = None,
    ssl_ca_filepath: str | bytes | os.PathLike[str] | None = None,
    gid: int = -1,
    uid: int = -1,
    options: int = 0,
    user: Any = None,
) -> Any:
    """Create a context (listening on ``port`` unless CONTEXT_PORT_NO_LISTEN;
    LWS_CONTEXT_PORT_ANY: on a port the system picks, which
    :func:`lws_context_listen_port` tells).  ``interf``: None (every
    interface), an interface name, an IP address, or a host name such as
    "localhost" (its first IPv4 address, else its first IPv6 one).

    ``protocols``: a list of ``(name, callback, per_session_data_size)`` tuples,
    or a ready cdata ``struct libwebsocket_protocols[]`` ending in a NULL
    callback.  A Python callback is called as
    ``callback(context, wsi, reason, user, in_, len)`` and returns an int
    (None means 0); if it raises, the traceback is logged at LLL_ERR and the
    connection closes.

    ``extensions``: None (no extensions), a ready cdata ``struct
    libwebsocket_extension[]`` ending in a NULL callback (e.g.
    ``pylws_ffi.libwebsocket_internal_extensions``), or a list mixing
      * ``(name, extension_callback, per_session_data_size)`` tuples (the
        size may be left out): a Python ``extension_callback`` is called as
        ``extension_callback(context, ext, wsi, reason, user, in_, len)`` with
        an LWS_EXT_CALLBACK_* reason and returns an int (None means 0); if it
        raises, the traceback is logged at LLL_ERR and the call returns -1
        (for PACKET_RX_PREPARSE the core then closes the connection with
        1007, for PACKET_TX_PRESEND the write fails, for CONSTRUCT the offer
        is declined: see :mod:`pylws_ffi.extension`).  A cdata function
        pointer works as the callback too;
      * built-in extensions: ``pylws_ffi.libwebsocket_internal_extensions``
        as a whole (any cdata pointer or array is read up to its entry with
        a NULL callback) or one entry of it (``...[0]``).
    The order of the list is the order in which they are offered (client)
    and preferred.
    ``user``: None, a cdata pointer, or any Python object; the context keeps it
    and :func:`libwebsocket_context_user` returns it.  The binding keeps the
    callables and the arrays alive until :func:`libwebsocket_context_destroy`.

    Returns the context (a cdata pointer).

    Raises OSError (with the core's errno, e.g. EADDRINUSE; EINVAL for a
    certificate or key that does not load, or a key that does not match the
    certificate) when the core fails, LwsError when it fails without an
    errno; the message of either ends with what the core logged at LLL_ERR
    during the call (OpenSSL's reasons, for TLS), whatever the log level.
    TypeError for a non-int ``port``, ``gid``, ``uid`` or ``options``, an
    ``interf`` or path that is not None/str/bytes, ``protocols`` that is not
    a list or cdata, an ``extensions`` that is not None/cdata/list, a list
    item that is not a 2- or 3-tuple (or an extension cdata), a name that is
    not str/bytes or a callback that is not callable.  ValueError for a
    ``port`` outside 0..65535, negative ``options``, an empty ``protocols``,
    a string with a NUL byte, an extension name that is empty or not an HTTP
    token, a name given twice (names compare without case), a negative size,
    a NULL callback or a cdata pointer with no terminating entry within 64.
    """
    return _create_context(
        port, interf, protocols, extensions, ssl_cert_filepath, ssl_private_key_filepath,
        ssl_ca_filepath, gid, uid, options, user, None,
    )  # fmt: skip


def _create_context(
    port: int,
    interf: str | bytes | None,
    protocols: Sequence[ProtocolSpec],
    extensions: Any,
    ssl_cert_filepath: str | bytes | os.PathLike[str] | None,
    ssl_private_key_filepath: str | bytes | os.PathLike[str] | None,
    ssl_ca_filepath: str | bytes | os.PathLike[str] | None,
    gid: int,
    uid: int,
    options: int,
    user: Any,
    receivers: Mapping[Any, Any] | None,
) -> Any:
    """libwebsocket_create_context; for the asyncio layer, ``receivers`` (its
    wsi -> Connection map) gets each message of a connection found there
    (dispatch._pylws_receive_callback) without the protocol callback."""
    integer(port, "port")
    if not lib.LWS_CONTEXT_PORT_ANY <= port <= 65535:
        raise ValueError(
            "port must be 0..65535 (0: CONTEXT_PORT_NO_LISTEN) or LWS_CONTEXT_PORT_ANY "
            f"(-1: one the system picks), not {port}"
        )
    for what, value in (("gid", gid), ("uid", uid), ("options", options)):
        if not isinstance(value, int):
            raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if options < 0:
        raise ValueError("options must be a non-negative OR of LWS_SERVER_OPTION_* bits")

    keepalive: list[Any] = []
    entries: list[Any] = []
    c_interf = _c_string(interf, "interf", keepalive)
    trampoline = (
        lib._pylws_protocol_callback
        if receivers is None
        else ffi.addressof(lib, "_pylws_aio_protocol_callback")
    )
    c_protocols = _protocol_array(protocols, keepalive, entries, trampoline)
    ext_entries: list[Any] = []
    c_extensions = _extension_array(extensions, keepalive, ext_entries)
    c_cert = _c_string(ssl_cert_filepath, "ssl_cert_filepath", keepalive)
    c_key = _c_string(ssl_private_key_filepath, "ssl_private_key_filepath", keepalive)
    c_ca = _c_string(ssl_ca_filepath, "ssl_ca_filepath", keepalive)

    user_key = 0
    if user is None:
        c_user = ffi.NULL
    elif isinstance(user, ffi.CData):
        c_user = user
        keepalive.append(user)
    else:
        c_user = ffi.new_handle(user)
        keepalive.append(c_user)
        user_key = registry.addr(c_user)
        registry.user_objects[user_key] = user

    record = registry.Record(
        [entry for entry, _ in entries],
        keepalive,
        user_key,
        c_protocols,
        [entry for entry, _ in ext_entries],
    )
    # The core may call back during create_context: register first.
    registry.register_callables(record, entries, ext_entries)
    with registry.creating_on_this_thread(), capturing_errors() as errors:
        context = lib.libwebsocket_create_context(
            port, c_interf, c_protocols, c_extensions, c_cert, c_key, c_ca, gid, uid,
            options, c_user,
        )  # fmt: skip
        err = ffi.errno
    if context == ffi.NULL:
        registry.forget(record)
        registry.reraise_pending()
        why = f": {describe(errors)}" if errors else ""
        if err:
            raise OSError(
                err, f"libwebsocket_create_context (port {port}) failed: {os.strerror(err)}{why}"
            )
        raise LwsError(f"libwebsocket_create_context (port {port}) failed{why}")
    registry.add_context(
        context, record, isinstance(protocols, ffi.CData) or len(entries) < len(protocols)
    )
    if receivers is not None:
        registry.receivers[context] = receivers
    registry.reraise_pending()
    return context


def libwebsocket_context_destroy(context: Any) -> None:
    """Close every connection (each gets CLOSED) and free the context.

    Afterwards the binding drops the callables, arrays and ``user`` it kept.
    Raises TypeError for a non-cdata, ValueError for a context that is NULL or
    already destroyed (where C would crash).
    """
    key = check_live(context, "libwebsocket_context_destroy")
    try:
        lib.libwebsocket_context_destroy(context)
    finally:
        registry.remove_context(context, key)
    registry.reraise_pending()


def libwebsocket_context_user(context: Any) -> Any:
    """The ``user`` given to libwebsocket_create_context.

    A Python object comes back as itself, a cdata pointer as a ``void *``
    cdata with the same address, NULL as None.  Works inside callbacks made
    while the context is being created.

    Raises TypeError for a non-cdata, ValueError for a context that is NULL
    or already destroyed.
    """
    check_context(context, "libwebsocket_context_user")
    p = lib.libwebsocket_context_user(context)
    if p == ffi.NULL:
        return None
    return registry.user_objects.get(registry.addr(p), p)


def libwebsocket_service(context: Any, timeout_ms: int) -> int:
    """Serve pending events, waiting up to ``timeout_ms`` ms for one.

    Callbacks run inside this call; the GIL is released while the core waits,
    so other Python threads run meanwhile.  Returns 0, or < 0 on failure; a
    signal that interrupts the wait makes it return 0 early.  A
    KeyboardInterrupt or SystemExit raised in a callback is re-raised here.

    Raises TypeError for a non-cdata ``context`` or a non-int ``timeout_ms``,
    ValueError for a context that is NULL or already destroyed.
    """
    check_context(context, "libwebsocket_service")
    n = lib.libwebsocket_service(context, timeout_ms)
    if _pending:
        registry.reraise_pending()
    return n


def lws_context_listen_port(context: Any) -> int:
    """The port ``context`` listens on: the one given, or the one the system
    chose for LWS_CONTEXT_PORT_ANY; 0 (CONTEXT_PORT_NO_LISTEN) when it does
    not listen.  Raises ValueError when ``context`` is NULL or destroyed,
    TypeError for a non-cdata."""
    check_context(context, "lws_context_listen_port")
    return int(lib.lws_context_listen_port(context))


def lws_set_max_message_size(context: Any, bytes: int) -> None:
    """Largest message (all fragments) a connection may receive; larger ones
    are closed with 1009.  0 means no limit.  Raises ValueError if negative
    or when ``context`` is NULL or destroyed, TypeError for a non-int or a
    non-cdata ``context``."""
    check_context(context, "lws_set_max_message_size")
    if not isinstance(bytes, int):
        raise TypeError(f"bytes must be an int, not {type(bytes).__name__}")
    if bytes < 0:
        raise ValueError("bytes must be >= 0 (0 = no limit)")
    lib.lws_set_max_message_size(context, bytes)


def lws_set_handshake_timeout(context: Any, secs: int) -> None:
    """Seconds a new connection has to send its HTTP request head.
    Raises ValueError unless ``secs`` > 0 or when ``context`` is NULL or
    destroyed, TypeError for a non-int or a non-cdata ``context``."""
    check_context(context, "lws_set_handshake_timeout")
    if not isinstance(secs, int):
        raise TypeError(f"secs must be an int, not {type(secs).__name__}")
    if secs <= 0:
        raise ValueError("secs must be > 0")
    lib.lws_set_handshake_timeout(context, secs)


_LIMIT_NAMES = {
    lib.LWS_LIMIT_MAX_CONNECTIONS: "LWS_LIMIT_MAX_CONNECTIONS",
    lib.LWS_LIMIT_OUTPUT_TOTAL: "LWS_LIMIT_OUTPUT_TOTAL",
    lib.LWS_LIMIT_OUTPUT_PAUSE: "LWS_LIMIT_OUTPUT_PAUSE",
    lib.LWS_LIMIT_OUTPUT_MAX: "LWS_LIMIT_OUTPUT_MAX",
    lib.LWS_LIMIT_OUTPUT_STALL_SECS: "LWS_LIMIT_OUTPUT_STALL_SECS",
    lib.LWS_LIMIT_KEEPALIVE_IDLE_SECS: "LWS_LIMIT_KEEPALIVE_IDLE_SECS",
    lib.LWS_LIMIT_KEEPALIVE_PONG_SECS: "LWS_LIMIT_KEEPALIVE_PONG_SECS",
}
# the largest value C's long takes
_LONG_MAX = (1 << (8 * ffi.sizeof("long") - 1)) - 1


def _check_limit(limit: int, func: str) -> None:
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise TypeError(f"{func}: limit must be an int (LWS_LIMIT_*), not {type(limit).__name__}")
    if limit not in _LIMIT_NAMES:
        raise ValueError(f"{func}: unknown limit {limit} (one of the LWS_LIMIT_* constants)")


def lws_context_set_limit(context: Any, limit: int, value: int) -> None:
    """Set one of the context's limits (``LWS_LIMIT_*``, see the README's
    "Limits"): bytes or seconds, 0 = off (LWS_LIMIT_KEEPALIVE_PONG_SECS: 1
    or more).  It applies at once, to open connections too.

    Raises ValueError for an unknown limit, a value out of its range, or a
    context that is NULL or destroyed; TypeError for a non-int or a non-cdata
    ``context``."""
    check_context(context, "lws_context_set_limit")
    _check_limit(limit, "lws_context_set_limit")
    integer(value, "value")
    name = _LIMIT_NAMES[limit]
    if value < 0 or value > _LONG_MAX:
        raise ValueError(f"{name}: value must be >= 0 (0 = off), not {value}")
    if lib.lws_context_set_limit(context, limit, value):
        raise ValueError(f"{name}: value {value} out of range")


def lws_context_get_limit(context: Any, limit: int) -> int:
    """The value of one of the context's limits (``LWS_LIMIT_*``).  Raises
    ValueError for an unknown limit or a context that is NULL or destroyed,
    TypeError for a non-int ``limit`` or a non-cdata ``context``."""
    check_context(context, "lws_context_get_limit")
    _check_limit(limit, "lws_context_get_limit")
    return int(lib.lws_context_get_limit(context, limit))

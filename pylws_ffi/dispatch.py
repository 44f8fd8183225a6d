"""Where the C core calls a Python callable: the protocol and extension
callback trampolines.

Every protocols[] entry whose callback is a Python callable gets the one C
function ``_pylws_protocol_callback`` as its callback.  When the core calls it,
``lws_calling_protocol(context)`` names the protocols[] entry being served,
and the registry's ``by_entry`` (filled before ``libwebsocket_create_context``
is called, emptied after ``libwebsocket_context_destroy``) maps that entry to the
callable.  cffi pointer cdata hash and compare by address, so the returned
pointer finds the entry directly.

This runs for every event of every connection, so it does one C call, one
dict lookup and the user's call, with everything it needs bound as locals.

A protocol callback returns an int (nonzero closes the connection); None
counts as 0 and an int subclass (bool) as its int value.  Any other type is
a bug in the callback: it is logged at LLL_ERR naming the callback, the
reason and the type, and the connection is closed as for an exception (a
WebSocket with 1011).  The common path checks only ``r.__class__ is int``
(about 12 ns a call) and None; the rest go to ``_returned``.

Extensions given as Python callables work the same way: every such
extensions[] entry gets ``_pylws_extension_callback`` as its callback, and
the core passes the entry itself as the ``ext`` argument, so the registry's
``by_ext`` (filled before create_context, emptied after destroy) finds the
callable.  The state these functions read and update is the registry's
(:mod:`pylws_ffi.registry`); this module is the one place C calls Python.

The asyncio layer's contexts get build.py's ``_pylws_aio_protocol_callback``
instead of the trampoline: it sends RECEIVE and CLIENT_RECEIVE to
``_pylws_receive_callback``, which hands the message to the layer's
Connection (found in ``registry.receivers``) directly, and every other reason
here, to ``_pylws_protocol_callback``.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Callable

from ._pylws_cffi import ffi, lib
from .log import log_error, log_exception
from .registry import by_entry as _by_entry
from .registry import by_ext as _by_ext
from .registry import conn_gone as _conn_gone
from .registry import ended as _ended
from .registry import pending as _pending
from .registry import receivers as _receivers
from .registry import wsis as _wsis

#: the last callback of a connection: the registry lets go of it after
_LAST = frozenset((lib.LWS_CALLBACK_CLOSED, lib.LWS_CALLBACK_CLIENT_CONNECTION_ERROR))


#: LWS_CALLBACK_* value -> its name, for log messages
REASON_NAMES: dict[int, str] = {
    getattr(lib, name): name for name in dir(lib) if name.startswith("LWS_CALLBACK_")
}


def _describe(context: Any, reason: Any) -> str:
    """The protocol callback being called and the reason, for a log line:
    "echo_callback (protocol 'echo', LWS_CALLBACK_RECEIVE)"."""
    try:
        entry = lib.lws_calling_protocol(context) if context else ffi.NULL
        callback = _by_entry.get(entry) if entry else None
        name = getattr(callback, "__qualname__", None) or repr(callback)
        protocol = ffi.string(entry.name).decode("utf-8", "replace") if entry else "?"
        what = REASON_NAMES.get(reason, f"reason {reason}")
        return f"{name} (protocol {protocol!r}, {what})"
    except Exception:  # pragma: no cover - the log line must not fail
        return f"a protocol callback (reason {reason})"


def _close_1011(context: Any, wsi: Any, reason: Any) -> None:
    """Before a nonzero return, which closes without a status code (the
    peer sees 1005): close an established WebSocket with 1011."""
    try:
        if reason in _WS_REASONS and wsi:
            lib.libwebsocket_close_and_free_session(
                context, wsi, lib.LWS_CLOSE_STATUS_UNEXPECTED_CONDITION
            )
    except Exception:  # pragma: no cover - closing with 1005 then
        pass


def _callback_failed(
    exc_type: type[BaseException],
    exc: BaseException,
    tb: TracebackType | None,
) -> int:
    if not isinstance(exc, Exception):
        _pending.append(exc)
        return 0
    if tb is None:  # cffi could not convert the int returned (beyond a C int)
        log_exception(
            "a protocol callback returned an int beyond a C int; closing the connection",
            exc_type,
            exc,
            tb,
        )
        return 1
    # the trampoline's frame is the outermost one of the traceback
    local = tb.tb_frame.f_locals
    context, wsi, reason = local.get("context"), local.get("wsi"), local.get("reason")
    log_exception(
        f"exception in protocol callback {_describe(context, reason)}; closing the connection",
        exc_type,
        exc,
        tb,
    )
    _close_1011(context, wsi, reason)
    return 1


def _returned(r: Any, context: Any, wsi: Any, reason: int) -> int:
    """What a callback returned that is not exactly an int (the rare path)."""
    if r is None:
        return 0
    if isinstance(r, int):  # bool, an int subclass
        return int(r)
    log_error(
        f"pylws_ffi: protocol callback {_describe(context, reason)} returned "
        f"{type(r).__qualname__}, not an int (or None); closing the connection"
    )
    _close_1011(context, wsi, reason)
    return 1


#: the reasons of an established WebSocket: an exception there closes it with 1011
_WS_REASONS = frozenset(
    (
        lib.LWS_CALLBACK_ESTABLISHED,
        lib.LWS_CALLBACK_CLIENT_ESTABLISHED,
        lib.LWS_CALLBACK_RECEIVE,
        lib.LWS_CALLBACK_CLIENT_RECEIVE,
        lib.LWS_CALLBACK_CLIENT_RECEIVE_PONG,
        lib.LWS_CALLBACK_SERVER_WRITEABLE,
        lib.LWS_CALLBACK_CLIENT_WRITEABLE,
        lib.LWS_CALLBACK_BROADCAST,
    )
)


@ffi.def_extern(error=1, onerror=_callback_failed)
def _pylws_protocol_callback(
    context: Any,
    wsi: Any,
    reason: int,
    user: Any,
    in_: Any,
    len_: int,
    _lookup: Callable[[Any], Callable[..., Any]] = _by_entry.__getitem__,
    _calling: Callable[[Any], Any] = lib.lws_calling_protocol,
    _known: Callable[[Any, Any], Any] = _wsis.setdefault,
    _last: frozenset[int] = _LAST,
    _int: type[int] = int,
) -> int:
    if wsi:
        wsi = _known(wsi, wsi)
        if reason in _last:
            try:
                r = _lookup(_calling(context))(context, wsi, reason, user, in_, len_)
            finally:
                _ended(wsi, reason)
            return (
                r if r.__class__ is _int else 0 if r is None else _returned(r, context, wsi, reason)
            )
    r = _lookup(_calling(context))(context, wsi, reason, user, in_, len_)
    return r if r.__class__ is _int else 0 if r is None else _returned(r, context, wsi, reason)


_VOID_P = ffi.typeof("void *")


@ffi.def_extern(error=1, onerror=_callback_failed)
def _pylws_receive_callback(
    context: Any,
    wsi: Any,
    reason: int,
    user: Any,
    in_: Any,
    len_: int,
    flags: int,
    _of_context: Callable[[Any], Any] = _receivers.get,
    _protocol: Callable[..., int] = _pylws_protocol_callback,
    _cast: Callable[[Any, Any], Any] = ffi.cast,
    _void_p: Any = _VOID_P,
) -> int:
    """RECEIVE or CLIENT_RECEIVE in a context of the asyncio layer (from
    build.py's _pylws_aio_protocol_callback, ``in_`` typed ``char *``): the
    message goes straight to its Connection's ``_on_receive(in_, len_,
    flags)`` (``flags``: PYLWS_RECEIVED_BINARY, PYLWS_RECEIVED_FINAL), skipping
    the protocol lookup and the layer's protocol callback (the asyncio layer's
    hottest path).  The Connection uses the wsi it was made with: this one is
    a new cdata, which the C-style functions' checks would refuse.  A wsi the
    layer does not know takes the common path."""
    conns = _of_context(context)
    if conns is not None:
        conn = conns.get(wsi)
        if conn is not None:
            return conn._on_receive(in_, len_, flags)  # type: ignore[no-any-return]
    return _protocol(context, wsi, reason, user, _cast(_void_p, in_), len_)


def _extension_failed(
    exc_type: type[BaseException],
    exc: BaseException,
    tb: TracebackType | None,
) -> int:
    if not isinstance(exc, Exception):
        _pending.append(exc)
        return 0
    # name the extension and the reason: the trampoline's frame is the
    # outermost one of the traceback
    what = "an extension callback"
    try:
        if tb is not None:
            local = tb.tb_frame.f_locals
            ext, reason = local.get("ext"), local.get("reason")
            if ext is not None and ext != ffi.NULL and ext.name != ffi.NULL:
                name = ffi.string(ext.name).decode("utf-8", "replace")
                what = f"extension {name!r} (reason {reason})"
    except Exception:  # pragma: no cover - the log line must not fail
        pass
    log_exception(f"exception in {what}; returning -1", exc_type, exc, tb)
    return -1


@ffi.def_extern(error=-1, onerror=_extension_failed)
def _pylws_extension_callback(
    context: Any,
    ext: Any,
    wsi: Any,
    reason: int,
    user: Any,
    in_: Any,
    len_: int,
    _lookup: Callable[[Any], Callable[..., Any]] = _by_ext.__getitem__,
    _known: Callable[[Any, Any], Any] = _wsis.setdefault,
) -> int:
    if wsi:
        wsi = _known(wsi, wsi)
    return _lookup(ext)(context, ext, wsi, reason, user, in_, len_) or 0


@ffi.def_extern()
def _pylws_conn_gone(context: Any, wsi: Any) -> None:
    """The core dropped ``wsi`` (after its last callback): not a connection
    any more, its userdata let go of."""
    _conn_gone(wsi)

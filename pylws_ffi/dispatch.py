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

Extensions given as Python callables work the same way: every such
extensions[] entry gets ``_pylws_extension_callback`` as its callback, and
the core passes the entry itself as the ``ext`` argument, so the registry's
``by_ext`` (filled before create_context, emptied after destroy) finds the
callable.  The state these functions read and update is the registry's
(:mod:`pylws_ffi.registry`); this module is the one place C calls Python.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Callable

from ._pylws_cffi import ffi, lib
from .log import log_exception
from .registry import by_entry as _by_entry
from .registry import by_ext as _by_ext
from .registry import conn_gone as _conn_gone
from .registry import ended as _ended
from .registry import pending as _pending
from .registry import wsis as _wsis

#: the last callback of a connection: the registry lets go of it after
_LAST = frozenset((lib.LWS_CALLBACK_CLOSED, lib.LWS_CALLBACK_CLIENT_CONNECTION_ERROR))


def _callback_failed(
    exc_type: type[BaseException],
    exc: BaseException,
    tb: TracebackType | None,
) -> int:
    if not isinstance(exc, Exception):
        _pending.append(exc)
        return 0
    log_exception("exception in a protocol callback; closing the connection", exc_type, exc, tb)
    # a nonzero return closes without a status code (the peer sees 1005):
    # close an established WebSocket with 1011 (internal error) first
    try:
        local = tb.tb_frame.f_locals if tb is not None else {}
        wsi, reason = local.get("wsi"), local.get("reason")
        if reason in _WS_REASONS and wsi:
            lib.libwebsocket_close_and_free_session(
                local["context"], wsi, lib.LWS_CLOSE_STATUS_UNEXPECTED_CONDITION
            )
    except Exception:  # pragma: no cover - closing with 1005 then
        pass
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
) -> int:
    if wsi:
        wsi = _known(wsi, wsi)
        if reason in _last:
            try:
                return _lookup(_calling(context))(context, wsi, reason, user, in_, len_) or 0
            finally:
                _ended(wsi, reason)
    return _lookup(_calling(context))(context, wsi, reason, user, in_, len_) or 0


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

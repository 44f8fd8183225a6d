"""Where the C core calls a Python callable: the protocol and extension
callback trampolines.

Every protocols[] entry whose callback is a Python callable gets the one C
function ``_pylws_protocol_callback`` as its callback.  When the core calls it,
``lws_calling_protocol(context)`` names the protocols[] entry being served,
and ``_by_entry`` (filled before ``libwebsocket_create_context`` is called,
emptied after ``libwebsocket_context_destroy``) maps that entry to the
callable.  cffi pointer cdata hash and compare by address, so the returned
pointer finds the entry directly.

This runs for every event of every connection, so it does one C call, one
dict lookup and the user's call, with everything it needs bound as locals.

Extensions given as Python callables work the same way: every such
extensions[] entry gets ``_pylws_extension_callback`` as its callback, and
the core passes the entry itself as the ``ext`` argument, so ``_by_ext``
(filled before create_context, emptied after destroy) finds the callable.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Callable

from ._pylws_cffi import ffi, lib
from .log import log_exception

#: protocols[] entry (cdata pointer) -> the Python callable serving it
_by_entry: dict[Any, Callable[..., Any]] = {}

#: extensions[] entry (cdata pointer) -> the Python callable serving it
_by_ext: dict[Any, Callable[..., Any]] = {}

#: the live connections handed to Python: wsi (by address) -> the one cdata
#: object the callbacks pass for it.  Filled when a callback first gets a wsi
#: (or libwebsocket_client_connect returns one); an entry goes when the
#: connection's CLOSED callback returns and when the core drops the
#: connection (lws_set_conn_gone_notify, set on every context the binding
#: creates).  The wrappers taking a wsi check ``_wsis.get(wsi) is wsi``: a
#: wsi kept after its connection ended fails that check, even when a new
#: connection got the same address (its cdata object is another one).
_wsis: dict[Any, Any] = {}

_CLOSED = lib.LWS_CALLBACK_CLOSED

#: KeyboardInterrupt / SystemExit raised inside a callback: they cannot cross
#: the C frames, so they wait here until the C call that led to the callback
#: returns to Python (see reraise_pending).
_pending: list[BaseException] = []


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
    _forget: Callable[[Any, Any], Any] = _wsis.pop,
) -> int:
    if wsi:
        wsi = _known(wsi, wsi)
        if reason == _CLOSED:
            try:
                return _lookup(_calling(context))(context, wsi, reason, user, in_, len_) or 0
            finally:
                _forget(wsi, None)
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


#: lists collecting the connections dropped meanwhile (see connecting())
_gone_watchers: list[list[Any]] = []


@ffi.def_extern()
def _pylws_conn_gone(context: Any, wsi: Any) -> None:
    """The core dropped ``wsi``: it is not a connection any more."""
    _wsis.pop(wsi, None)
    for gone in _gone_watchers:
        gone.append(wsi)


class connecting:
    """Around libwebsocket_client_connect: ``register(wsi)`` gives the object
    to hand out for the wsi it returned, registered as live unless the
    connection was dropped inside the call (a callback closed it)."""

    def __enter__(self) -> connecting:
        self.gone: list[Any] = []
        _gone_watchers.append(self.gone)
        return self

    def __exit__(self, *exc: object) -> None:
        _gone_watchers.remove(self.gone)

    def register(self, wsi: Any) -> Any:
        if wsi in self.gone:
            return wsi
        return _wsis.setdefault(wsi, wsi)


def reraise_pending() -> None:
    """Raise a KeyboardInterrupt/SystemExit that a callback raised, if any."""
    if _pending:
        exc = _pending.pop(0)
        _pending.clear()
        raise exc

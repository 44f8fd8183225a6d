"""Where the C core calls a Python callable: the protocol callback trampoline.

Every protocols[] entry whose callback is a Python callable gets the one C
function ``_pylws_protocol_callback`` as its callback.  When the core calls it,
``lws_calling_protocol(context)`` names the protocols[] entry being served,
and ``_by_entry`` (filled before ``libwebsocket_create_context`` is called,
emptied after ``libwebsocket_context_destroy``) maps that entry to the
callable.  cffi pointer cdata hash and compare by address, so the returned
pointer finds the entry directly.

This runs for every event of every connection, so it does one C call, one
dict lookup and the user's call, with everything it needs bound as locals.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Callable

from ._pylws_cffi import ffi, lib
from .log import log_exception

#: protocols[] entry (cdata pointer) -> the Python callable serving it
_by_entry: dict[Any, Callable[..., Any]] = {}

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
    return 1


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
) -> int:
    return _lookup(_calling(context))(context, wsi, reason, user, in_, len_) or 0


def reraise_pending() -> None:
    """Raise a KeyboardInterrupt/SystemExit that a callback raised, if any."""
    if _pending:
        exc = _pending.pop(0)
        _pending.clear()
        raise exc

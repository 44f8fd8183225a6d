"""The binding's one registry: what it knows of live contexts and connections.

* ``contexts``: each live context (by address) -> its :class:`Record` (the
  arrays, names, callables and ``user`` the core points into); ``live``, the
  same contexts as a set of cdata for the cheap check of the wrappers called
  often; ``foreign``, those with protocol callbacks that are C function
  pointers; ``creating``, the threads inside libwebsocket_create_context.
* ``by_entry`` / ``by_ext``: protocols[] / extensions[] entry -> the Python
  callable serving it (what :mod:`pylws_ffi.dispatch` calls).
* ``wsis``: each live connection handed to Python (by address) -> the one
  cdata object the binding hands out for it; ``held``: the ``userdata`` of
  libwebsocket_client_connect_extended kept alive for its connection.  Both
  lose a connection's entry when the core drops it (``conn_gone``, after its
  last callback: CLOSED or CLIENT_CONNECTION_ERROR); ``wsis`` also when
  CLOSED returns.
* The checks every wrapper makes: :func:`check_live`, :func:`check_context`,
  :func:`check_wsi`.

:mod:`pylws_ffi.dispatch` is where C calls Python; it updates this registry.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Callable

from ._pylws_cffi import ffi, lib
from .errors import WsiClosedError


class Record:
    """What a live context needs kept alive on the Python side."""

    __slots__ = ("entries", "ext_entries", "keepalive", "protocols", "user_key")

    def __init__(
        self,
        entries: list[Any],
        keepalive: list[Any],
        user_key: int,
        protocols: Any = None,
        ext_entries: list[Any] | None = None,
    ) -> None:
        self.protocols = protocols  # the struct libwebsocket_protocols[] given to C
        self.entries = entries  # protocols[] entries registered in by_entry
        self.ext_entries = ext_entries or []  # extensions[] entries registered in by_ext
        self.keepalive = keepalive  # cdata the C side points into
        self.user_key = user_key  # address of the handle of a Python `user`, or 0


#: context address -> its record
contexts: dict[int, Record] = {}
#: address of an ffi.new_handle given as `user` -> the Python object
user_objects: dict[int, Any] = {}
#: the live contexts themselves (cdata pointers hash and compare by address)
live: set[Any] = set()
#: the live contexts with protocol callbacks that are C function pointers
#: (cdata): their wsi never pass through the binding's trampoline, so the
#: checks ask the core whether one is live (lws_conn_is_live)
foreign: set[Any] = set()
#: thread ident -> how many libwebsocket_create_context calls it is inside
#: (callbacks made meanwhile get a context that is not registered yet)
creating: dict[int, int] = {}

#: protocols[] entry (cdata pointer) -> the Python callable serving it
by_entry: dict[Any, Callable[..., Any]] = {}
#: extensions[] entry (cdata pointer) -> the Python callable serving it
by_ext: dict[Any, Callable[..., Any]] = {}

#: context (cdata pointer) -> the asyncio layer's map of its connections,
#: wsi -> Connection, which dispatch._pylws_receive_callback hands each
#: message to (contexts made by aio.create_context for the layer)
receivers: dict[Any, Mapping[Any, Any]] = {}

#: the live connections handed to Python: wsi (by address) -> the one cdata
#: object the callbacks pass for it.  Filled when a callback first gets a wsi
#: (or libwebsocket_client_connect returns one).  The checks compare
#: ``wsis.get(wsi) is wsi``: a wsi kept after its connection ended fails,
#: even when a new connection got the same address (its object is another).
wsis: dict[Any, Any] = {}
#: wsi -> (userdata cdata, context address): kept alive until the core drops
#: the connection (or its context is destroyed)
held: dict[Any, tuple[Any, int]] = {}
#: the client connect calls in progress (see connecting)
connecting_now: list[connecting] = []

#: KeyboardInterrupt / SystemExit raised inside a callback: they cannot cross
#: the C frames, so they wait here until the C call that led to the callback
#: returns to Python (see reraise_pending).
pending: list[BaseException] = []


def addr(p: Any) -> int:
    return int(ffi.cast("uintptr_t", p))


# ---- contexts ----


def register_callables(record: Record, entries: list[Any], ext_entries: list[Any]) -> None:
    """Before create_context (the core may call back inside it)."""
    for entry, callback in entries:
        by_entry[entry] = callback
    for entry, callback in ext_entries:
        by_ext[entry] = callback


def add_context(context: Any, record: Record, is_foreign: bool) -> None:
    contexts[addr(context)] = record
    live.add(context)
    if is_foreign:
        foreign.add(context)
    # the checks must learn when a connection is gone (dispatch._pylws_conn_gone)
    lib.lws_set_conn_gone_notify(context, lib._pylws_conn_gone)


def forget(record: Record) -> None:
    """Let go of what a context (destroyed, or never made) registered."""
    for entry in record.entries:
        by_entry.pop(entry, None)
    for entry in record.ext_entries:
        by_ext.pop(entry, None)
    if record.user_key:
        user_objects.pop(record.user_key, None)


def remove_context(context: Any, key: int) -> None:
    """After libwebsocket_context_destroy."""
    forget(contexts.pop(key))
    live.discard(context)
    foreign.discard(context)
    receivers.pop(context, None)
    for wsi in [w for w, (_, k) in held.items() if k == key]:
        del held[wsi]


class creating_on_this_thread:
    """Around libwebsocket_create_context: callbacks made meanwhile on this
    thread get a context not registered yet, which check_context lets pass."""

    def __enter__(self) -> None:
        self.ident = ident = threading.get_ident()
        creating[ident] = creating.get(ident, 0) + 1

    def __exit__(self, *exc: object) -> None:
        ident = self.ident
        if creating[ident] == 1:
            del creating[ident]
        else:
            creating[ident] -= 1


def check_live(context: Any, func: str = "") -> int:
    """The key of a live context in ``contexts``; raises TypeError for a
    non-cdata, ValueError for a NULL or destroyed context."""
    where = f"{func}: " if func else ""
    if not isinstance(context, ffi.CData):
        raise TypeError(f"{where}context must be a context cdata, not {type(context).__name__}")
    key = addr(context)
    if key not in contexts:
        raise ValueError(f"{where}not a live context (NULL, or already destroyed)")
    return key


def check_context(context: Any, func: str) -> None:
    """Raise unless ``context`` is live, cheaply (for wrappers called often).

    Inside libwebsocket_create_context on this thread, a context that is not
    registered yet passes: it is the one being created, which callbacks get
    before create_context returns it.
    """
    try:
        if context in live:
            return
    except TypeError:  # unhashable: certainly not a context
        pass
    if (
        creating
        and threading.get_ident() in creating
        and isinstance(context, ffi.CData)
        and context != ffi.NULL
    ):
        return
    check_live(context, func)


# ---- connections ----

_CData = ffi.CData
_NULL = ffi.NULL
_WSI_TYPE = ffi.typeof("struct libwebsocket *")
#: ``wsi_get(wsi) is wsi``: the inline form of the check, for the hot paths
wsi_get = wsis.get


def _bad_wsi(func: str, wsi: Any) -> Exception:
    """Why ``wsi`` failed the live check: the exception to raise."""
    if not isinstance(wsi, _CData):
        return TypeError(f"{func}: wsi must be a connection cdata, not {type(wsi).__name__}")
    if wsi == _NULL:
        return ValueError(f"{func}: wsi is NULL (not a connection)")
    if ffi.typeof(wsi) is not _WSI_TYPE:
        return TypeError(
            f"{func}: wsi must be a struct libwebsocket *, not {ffi.typeof(wsi).cname}"
        )
    return WsiClosedError(
        f"{func}: this wsi is not a live connection (its connection has closed: "
        "LWS_CALLBACK_CLOSED has returned or the library dropped it; or the library "
        "never handed it out)"
    )


def check_wsi(wsi: Any, func: str) -> None:
    """Raise unless ``wsi`` is the object the library handed out for a live
    connection (see pylws_ffi.errors.WsiClosedError): TypeError for a
    non-cdata or another pointer type, ValueError for NULL."""
    try:
        known = wsi_get(wsi)
    except TypeError:  # unhashable: not a cdata
        raise _bad_wsi(func, wsi) from None
    if known is wsi:
        return
    if foreign and isinstance(wsi, _CData) and ffi.typeof(wsi) is _WSI_TYPE:
        # a context with a callback that is a C function pointer: the wsi it
        # gets are not the binding's objects; the core knows whether the
        # address is a live connection (by address only: on such a context a
        # kept wsi whose address a new connection reuses is taken for it)
        for context in tuple(foreign):
            if lib.lws_conn_is_live(context, wsi):
                return
    raise _bad_wsi(func, wsi)


_CLOSED = lib.LWS_CALLBACK_CLOSED


def ended(wsi: Any, reason: int) -> None:
    """After the last callback of a connection (``reason`` CLOSED or
    CLIENT_CONNECTION_ERROR) returned: its userdata is let go of; after
    CLOSED it is not a live connection any more."""
    if held.pop(wsi, None) is None:
        for watch in connecting_now:
            watch.ended.append(wsi)
    if reason == _CLOSED:
        wsis.pop(wsi, None)


def conn_gone(wsi: Any) -> None:
    """The core dropped ``wsi``: not a connection any more, its userdata free
    (also for connections whose callbacks the binding does not see)."""
    wsis.pop(wsi, None)
    held.pop(wsi, None)
    for watch in connecting_now:
        watch.gone.append(wsi)


class connecting:
    """Around libwebsocket_client_connect(_extended): ``register(wsi,
    userdata, key)`` gives the object to hand out for the wsi it returned,
    registered as live (and its userdata held) unless the connection was
    dropped inside the call (a callback closed it, or it failed at once)."""

    def __enter__(self) -> connecting:
        self.gone: list[Any] = []  # dropped by the core meanwhile
        self.ended: list[Any] = []  # had their last callback meanwhile
        connecting_now.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        connecting_now.remove(self)

    def register(self, wsi: Any, userdata: Any = None, key: int = 0) -> Any:
        if wsi in self.gone:
            return wsi
        if userdata is not None and wsi not in self.ended:
            held[wsi] = (userdata, key)
        return wsis.setdefault(wsi, wsi)


def held_userdata(context: Any) -> dict[Any, Any]:
    """The userdata the binding holds for ``context``'s client connections
    (wsi -> cdata)."""
    key = addr(context)
    return {wsi: userdata for wsi, (userdata, k) in held.items() if k == key}


def reraise_pending() -> None:
    """Raise a KeyboardInterrupt/SystemExit that a callback raised, if any."""
    if pending:
        exc = pending.pop(0)
        pending.clear()
        raise exc

"""External poll loops: service one ready descriptor at a time.

The library announces every descriptor it watches to protocols[0] with
LWS_CALLBACK_ADD_POLL_FD / DEL_POLL_FD / SET_MODE_POLL_FD / CLEAR_MODE_POLL_FD
(``user`` is the fd: ``int(ffi.cast("intptr_t", user))``, ``len`` the POLLIN /
POLLOUT bits).  Its timer is one of those descriptors, so timeouts need
nothing more than servicing what becomes ready.
"""

from __future__ import annotations

from typing import Any

from . import registry
from ._pylws_cffi import ffi, lib
from .registry import check_context


def libwebsocket_service_fd(context: Any, pollfd: Any, revents: int | None = None) -> int:
    """Service the descriptor ``pollfd`` names after poll said it is ready.

    ``pollfd``: a cdata ``struct pollfd *`` (its revents is cleared when
    serviced), None (only run what is due), or an int fd together with
    ``revents`` (POLLIN/POLLOUT/POLLERR/POLLHUP bits).  Returns 0 when
    serviced, 1 when the descriptor is not the library's, < 0 on a fatal
    error.  Raises TypeError for other argument types, ValueError for a
    ``context`` that is NULL or already destroyed; a KeyboardInterrupt or
    SystemExit raised in a callback is re-raised here.
    """
    check_context(context, "libwebsocket_service_fd")
    if pollfd is None:
        c_pollfd = ffi.NULL
    elif isinstance(pollfd, int):
        if revents is None:
            raise TypeError("an int fd needs revents")
        c_pollfd = ffi.new("struct pollfd *", {"fd": pollfd, "revents": revents})
    elif isinstance(pollfd, ffi.CData):
        c_pollfd = pollfd
    else:
        raise TypeError(
            f"pollfd must be a struct pollfd *, an fd or None, not {type(pollfd).__name__}"
        )
    n = lib.libwebsocket_service_fd(context, c_pollfd)
    if registry.pending:
        registry.reraise_pending()
    return n

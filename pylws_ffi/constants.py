"""Every integer constant of libwebsockets.h as a module attribute.

Enum members (``LWS_CALLBACK_*``, ``LWS_WRITE_*``, ``LLL_*``, ``WSI_TOKEN_*``,
``LWS_CLOSE_STATUS_*``, ``PENDING_TIMEOUT_*``, ...) and ``#define`` constants
(``CONTEXT_PORT_NO_LISTEN``, ``LWS_SEND_BUFFER_PRE_PADDING``, ...) are read
from the compiled module, so their values are the C compiler's own.
"""

from __future__ import annotations

from ._pylws_cffi import lib


def _int_constants() -> dict[str, int]:
    found = {}
    for name in dir(lib):
        if name.startswith("_"):
            continue
        value = getattr(lib, name)
        if isinstance(value, int):
            found[name] = value
    return found


_CONSTANTS = _int_constants()
globals().update(_CONSTANTS)
__all__ = sorted(_CONSTANTS)  # noqa: PLE0605 (built from the compiled module)

"""pylws_ffi: the classic libwebsockets C API for Python, through cffi.

The documented C names are the Python names, with the same arguments in the
same order; Python callables serve as protocol callbacks.  Every constant of
libwebsockets.h is an attribute of this module.  ``ffi`` and ``lib`` give the
raw cffi binding (``lib.<function>`` calls C with no Python wrapper).

Module map: context (create/service/destroy), connection (write and the
per-connection calls), dispatch (where C calls a Python callable), log,
util (random, SHA-1, base64), constants, errors.
"""

from __future__ import annotations

from ._pylws_cffi import ffi, lib
from .connection import (
    libwebsocket_callback_on_writable,
    libwebsocket_close_and_free_session,
    libwebsocket_ensure_user_space,
    libwebsocket_get_reserved_bits,
    libwebsocket_get_socket_fd,
    libwebsocket_is_final_fragment,
    libwebsocket_set_timeout,
    libwebsocket_write,
    libwebsockets_get_protocol,
    libwebsockets_remaining_packet_payload,
    lws_frame_is_binary,
    lws_send_pipe_choked,
    payload,
)
from .constants import *  # noqa: F403
from .constants import __all__ as _constant_names
from .context import (
    libwebsocket_context_destroy,
    libwebsocket_context_user,
    libwebsocket_create_context,
    libwebsocket_service,
    lws_set_handshake_timeout,
    lws_set_max_message_size,
)
from .errors import LwsError
from .log import lws_set_log_level, lwsl_log
from .util import (
    libwebsockets_get_random,
    libwebsockets_SHA1,
    lws_b64_decode_string,
    lws_b64_encode_string,
)

__all__ = [
    "LwsError",
    "ffi",
    "lib",
    "libwebsocket_callback_on_writable",
    "libwebsocket_close_and_free_session",
    "libwebsocket_context_destroy",
    "libwebsocket_context_user",
    "libwebsocket_create_context",
    "libwebsocket_ensure_user_space",
    "libwebsocket_get_reserved_bits",
    "libwebsocket_get_socket_fd",
    "libwebsocket_is_final_fragment",
    "libwebsocket_service",
    "libwebsocket_set_timeout",
    "libwebsocket_write",
    "libwebsockets_SHA1",
    "libwebsockets_get_protocol",
    "libwebsockets_get_random",
    "libwebsockets_remaining_packet_payload",
    "lws_b64_decode_string",
    "lws_b64_encode_string",
    "lws_frame_is_binary",
    "lws_send_pipe_choked",
    "lws_set_handshake_timeout",
    "lws_set_log_level",
    "lws_set_max_message_size",
    "lwsl_log",
    "payload",
    *_constant_names,
]

"""pylws_ffi: the classic libwebsockets C API for Python, through cffi.

The documented C names are the Python names, with the same arguments in the
same order; Python callables serve as protocol callbacks.  Every constant of
libwebsockets.h is an attribute of this module.  ``ffi`` and ``lib`` give the
raw cffi binding (``lib.<function>`` calls C with no Python wrapper).

Module map: context (create/service/destroy), extension (extensions written
in Python: the payload hooks' helpers), client (client connections),
connection (write and the per-connection calls), server (HTTP files,
broadcast, flow control), poll (external poll loops), dispatch (where C
calls a Python callable), log, util (random, SHA-1, base64), constants, errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import constants as _constants
from ._pylws_cffi import ffi, lib
from .client import (
    libwebsocket_client_connect,
    libwebsocket_client_connect_extended,
    lws_append_handshake_header,
)
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
    lws_add_response_header,
    lws_client_response_head,
    lws_close_status_sent,
    lws_frame_is_binary,
    lws_request_head,
    lws_send_pipe_choked,
    lws_set_whole_messages,
    lws_set_wsi_max_message_size,
    payload,
)
from .constants import *  # noqa: F403
from .context import (
    CallbackFunction,
    ExtensionCallbackFunction,
    ProtocolSpec,
    libwebsocket_context_destroy,
    libwebsocket_context_user,
    libwebsocket_create_context,
    libwebsocket_service,
    lws_context_get_limit,
    lws_context_listen_port,
    lws_context_set_limit,
    lws_set_handshake_timeout,
    lws_set_max_message_size,
)
from .errors import LwsError, WsiClosedError
from .extension import lws_tokens_payload, lws_tokens_replace
from .log import lws_set_log_level, lwsl_emit_logging, lwsl_log
from .poll import libwebsocket_service_fd
from .scaleout import (
    lws_context_attach_redis,
    lws_context_redis_option,
    lws_context_redis_state,
    start_workers,
)
from .server import (
    libwebsocket_callback_on_writable_all_protocol,
    libwebsocket_canonical_hostname,
    libwebsocket_rx_flow_control,
    libwebsockets_broadcast,
    libwebsockets_fork_service_loop,
    libwebsockets_get_peer_addresses,
    libwebsockets_hangup_on_client,
    libwebsockets_serve_http_file,
    libwebsockets_serve_http_file_fragment,
    lws_get_protocols,
)
from .util import (
    libwebsockets_get_random,
    libwebsockets_SHA1,
    lws_b64_decode_string,
    lws_b64_encode_string,
)

#: the built-in extensions (permessage-deflate, deflate-frame and its alias
#: x-webkit-deflate-frame, deflate-stream), for create_context's
#: ``extensions`` (alone, or inside a list with extensions written in Python)
libwebsocket_internal_extensions = lib.libwebsocket_internal_extensions

__all__ = [
    "libwebsocket_internal_extensions",
    "libwebsocket_service_fd",
    "libwebsockets_serve_http_file",
    "libwebsockets_serve_http_file_fragment",
    "libwebsocket_callback_on_writable_all_protocol",
    "libwebsocket_rx_flow_control",
    "libwebsockets_broadcast",
    "libwebsockets_fork_service_loop",
    "libwebsocket_canonical_hostname",
    "libwebsockets_get_peer_addresses",
    "libwebsockets_hangup_on_client",
    "lws_get_protocols",
    "CallbackFunction",
    "ExtensionCallbackFunction",
    "ProtocolSpec",
    "LwsError",
    "WsiClosedError",
    "ffi",
    "lib",
    "libwebsocket_callback_on_writable",
    "libwebsocket_client_connect",
    "libwebsocket_client_connect_extended",
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
    "lws_append_handshake_header",
    "lws_tokens_payload",
    "lws_tokens_replace",
    "lws_b64_decode_string",
    "lws_b64_encode_string",
    "lws_frame_is_binary",
    "lws_close_status_sent",
    "lws_set_whole_messages",
    "lws_request_head",
    "lws_client_response_head",
    "lws_add_response_header",
    "lws_set_wsi_max_message_size",
    "lws_send_pipe_choked",
    "lws_context_get_limit",
    "lws_context_set_limit",
    "lws_context_listen_port",
    "lws_set_handshake_timeout",
    "lws_set_log_level",
    "lws_set_max_message_size",
    "lws_context_attach_redis",
    "lws_context_redis_option",
    "lws_context_redis_state",
    "start_workers",
    "lwsl_emit_logging",
    "lwsl_log",
    "payload",
    "aio",
]
__all__ += _constants.__all__  # the form type checkers follow


if TYPE_CHECKING:
    from . import aio


if not TYPE_CHECKING:  # for type checkers every name is declared: a misspelt one fails

    def __getattr__(name: str) -> object:
        # pylws_ffi.aio (asyncio integration) is imported on first use: asyncio
        # is not loaded by programs that do not need it
        if name == "aio":
            import importlib

            return importlib.import_module(".aio", __name__)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

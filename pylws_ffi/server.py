"""The server services: HTTP file serving, broadcast, flow control, writable
callbacks for a whole protocol, peer addresses, the host's name.

Functions that take a ``protocol`` accept what ``libwebsockets_get_protocol``
returns, an entry of :func:`lws_get_protocols`'s array (``protocols[1]``,
like C's ``&protocols[1]``), or a pointer to one.
"""

from __future__ import annotations

import os
from typing import Any

from ._pylws_cffi import ffi, lib
from .connection import _null_wsi
from .context import _check_context, _check_live, _contexts
from .util import _readable


def lws_get_protocols(context: Any) -> Any:
    """The context's ``struct libwebsocket_protocols[]`` (a pylws addition:
    the Python spelling of keeping the C array at hand).  Raises TypeError for
    a non-cdata, ValueError for a NULL or destroyed context."""
    return _contexts[_check_live(context, "lws_get_protocols")].protocols


def _protocol_pointer(protocol: Any) -> Any:
    if not isinstance(protocol, ffi.CData):
        raise TypeError(f"protocol must be a protocols[] entry, not {type(protocol).__name__}")
    kind = ffi.typeof(protocol)
    if kind is ffi.typeof("struct libwebsocket_protocols"):
        return ffi.addressof(protocol)
    if kind.kind == "pointer" and kind.item is ffi.typeof("struct libwebsocket_protocols"):
        if protocol == ffi.NULL:
            raise ValueError("protocol is NULL")
        return protocol
    raise TypeError(f"protocol must be a struct libwebsocket_protocols entry, not {kind.cname}")


def _path(value: Any, what: str) -> bytes:
    if isinstance(value, (str, os.PathLike)):
        data = os.fsencode(value)
    elif isinstance(value, bytes):
        data = value
    else:
        raise TypeError(f"{what} must be str, bytes or a path, not {type(value).__name__}")
    if b"\0" in data:
        raise ValueError(f"{what} contains a NUL byte")
    return data


def _content_type(value: Any) -> Any:
    if value is None:
        return ffi.NULL  # the core sends application/octet-stream
    if isinstance(value, str):
        data = value.encode()
    elif isinstance(value, bytes):
        data = value
    else:
        raise TypeError(f"content_type must be str, bytes or None, not {type(value).__name__}")
    if b"\0" in data or b"\r" in data or b"\n" in data:
        raise ValueError("content_type contains a NUL, CR or LF byte")
    return data


def libwebsockets_serve_http_file(
    context: Any, wsi: Any, file: Any, content_type: str | bytes | None = None
) -> int:
    """Answer the HTTP request with a file: status, Content-Type and
    Content-Length now, the body as the socket takes it; then
    LWS_CALLBACK_HTTP_FILE_COMPLETION.  ``content_type`` None sends
    ``Content-Type: application/octet-stream``, as NULL does in C.

    Returns 0, or nonzero when the file cannot be served (the client has been
    sent a 404) or the connection is not waiting for an HTTP answer.  Raises
    TypeError for argument types; ValueError for a NULL ``wsi``, a NULL or
    destroyed ``context``, a NUL byte in ``file`` or ``content_type``, or a
    CR or LF in ``content_type``."""
    _check_context(context, "libwebsockets_serve_http_file")
    c_file = _path(file, "file")
    c_type = _content_type(content_type)
    if wsi == ffi.NULL:
        raise _null_wsi("libwebsockets_serve_http_file")
    return lib.libwebsockets_serve_http_file(context, wsi, c_file, c_type)


def libwebsockets_serve_http_file_fragment(context: Any, wsi: Any) -> int:
    """Send more of a file started by serve_http_file (the service loop does
    this by itself): 1 when done, 0 when more remains, -1 on error.
    Raises ValueError for a NULL ``wsi`` or a NULL or destroyed ``context``."""
    _check_context(context, "libwebsockets_serve_http_file_fragment")
    if wsi == ffi.NULL:
        raise _null_wsi("libwebsockets_serve_http_file_fragment")
    return lib.libwebsockets_serve_http_file_fragment(context, wsi)


def libwebsocket_callback_on_writable_all_protocol(protocol: Any) -> int:
    """Ask for a WRITEABLE callback on every connection of ``protocol``."""
    return lib.libwebsocket_callback_on_writable_all_protocol(_protocol_pointer(protocol))


def libwebsocket_rx_flow_control(wsi: Any, enable: int) -> int:
    """0 stops reading this connection (nothing is lost), 1 resumes.
    Raises ValueError for a NULL ``wsi``."""
    if wsi == ffi.NULL:
        raise _null_wsi("libwebsocket_rx_flow_control")
    return lib.libwebsocket_rx_flow_control(wsi, 1 if enable else 0)


def libwebsockets_broadcast(protocol: Any, buf: Any, len: int) -> int:
    """LWS_CALLBACK_BROADCAST with ``buf`` to every connection of ``protocol``;
    from a forked process it goes through the protocol's broadcast socket.
    ``buf``: bytes-like or a cdata pointer (with LWS_SEND_BUFFER_PRE_PADDING
    room before it if the callbacks write it in place).  Returns 0 or -1.
    Raises ValueError when ``len`` exceeds ``buf``."""
    pointer = _protocol_pointer(protocol)
    if isinstance(buf, ffi.CData):
        return lib.libwebsockets_broadcast(pointer, buf, len)
    padded = ffi.new(
        "unsigned char[]", lib.LWS_SEND_BUFFER_PRE_PADDING + len + lib.LWS_SEND_BUFFER_POST_PADDING
    )
    ffi.memmove(padded + lib.LWS_SEND_BUFFER_PRE_PADDING, _readable(buf, len, "buf"), len)
    return lib.libwebsockets_broadcast(pointer, padded + lib.LWS_SEND_BUFFER_PRE_PADDING, len)


def libwebsockets_fork_service_loop(context: Any) -> int:
    """Fork a process that runs the service loop; the caller goes on (and may
    broadcast).  Returns 0 in the caller, -1 if fork failed.  Raises
    TypeError for a non-cdata, ValueError for a NULL or destroyed context."""
    _check_live(context, "libwebsockets_fork_service_loop")
    return lib.libwebsockets_fork_service_loop(context)


def libwebsocket_canonical_hostname(context: Any) -> str:
    """This host's canonical name (as found when the context was created).
    Raises TypeError for a non-cdata, ValueError for a NULL or destroyed
    context."""
    _check_live(context, "libwebsocket_canonical_hostname")
    return ffi.string(lib.libwebsocket_canonical_hostname(context)).decode()


def libwebsockets_get_peer_addresses(
    fd: int, name: Any = None, name_len: int = 256, rip: Any = None, rip_len: int = 64
) -> tuple[str, str]:
    """The peer's name (reverse lookup, bounded in time; the numeric address
    if none) and numeric address, as ``(name, rip)``.  C-style output buffers
    may be passed too; they are filled as in C."""
    c_name = name if isinstance(name, ffi.CData) else ffi.new("char[]", max(name_len, 1))
    c_rip = rip if isinstance(rip, ffi.CData) else ffi.new("char[]", max(rip_len, 1))
    lib.libwebsockets_get_peer_addresses(fd, c_name, name_len, c_rip, rip_len)
    return ffi.string(c_name).decode(errors="replace"), ffi.string(c_rip).decode()


def libwebsockets_hangup_on_client(context: Any, fd: int) -> None:
    """Close the connection on socket ``fd`` (CLOSED is called if it was a
    WebSocket).  Raises TypeError for a non-cdata context or a non-int fd,
    ValueError for a NULL or destroyed context."""
    _check_live(context, "libwebsockets_hangup_on_client")
    lib.libwebsockets_hangup_on_client(context, fd)

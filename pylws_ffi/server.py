"""The server services: HTTP file serving, broadcast, flow control, writable
callbacks for a whole protocol, peer addresses, the host's name.

Functions that take a ``protocol`` accept what ``libwebsockets_get_protocol``
returns, an entry of :func:`lws_get_protocols`'s array (``protocols[1]``,
like C's ``&protocols[1]``), or a pointer to one.
"""

from __future__ import annotations

from typing import Any

from . import registry
from ._pylws_cffi import ffi, lib
from .convert import readable, string
from .registry import check_context, check_live, check_wsi


def lws_get_protocols(context: Any) -> Any:
    """The context's ``struct libwebsocket_protocols[]`` (a pylws addition:
    the Python spelling of keeping the C array at hand).  Raises TypeError for
    a non-cdata, ValueError for a NULL or destroyed context."""
    return registry.contexts[check_live(context, "lws_get_protocols")].protocols


def _protocol_pointer(protocol: Any, func: str) -> Any:
    """A ``struct libwebsocket_protocols *`` for ``protocol``, whose context
    (``owning_server``, set by create_context) is live or not set yet."""
    if not isinstance(protocol, ffi.CData):
        raise TypeError(
            f"{func}: protocol must be a protocols[] entry, not {type(protocol).__name__}"
        )
    kind = ffi.typeof(protocol)
    if kind is ffi.typeof("struct libwebsocket_protocols"):
        pointer = ffi.addressof(protocol)
    elif kind.kind == "pointer" and kind.item is ffi.typeof("struct libwebsocket_protocols"):
        if protocol == ffi.NULL:
            raise ValueError(f"{func}: protocol is NULL")
        pointer = protocol
    else:
        raise TypeError(
            f"{func}: protocol must be a struct libwebsocket_protocols entry, not {kind.cname}"
        )
    owner = pointer.owning_server
    if owner != ffi.NULL:  # NULL: not given to create_context yet (C returns -1)
        try:
            check_context(owner, func)
        except ValueError:
            raise ValueError(f"{func}: the protocol's context is destroyed") from None
    return pointer


def _content_type(value: Any) -> Any:
    """As C takes it (None: NULL, the core sends application/octet-stream),
    and never a header line of its own."""
    data = string(value, "content_type")
    if value is not None and (b"\r" in data or b"\n" in data):
        raise ValueError("content_type contains a CR or LF byte")
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
    check_context(context, "libwebsockets_serve_http_file")
    c_file = string(file, "file", paths=True, none=False)
    c_type = _content_type(content_type)
    check_wsi(wsi, "libwebsockets_serve_http_file")
    return lib.libwebsockets_serve_http_file(context, wsi, c_file, c_type)


def libwebsockets_serve_http_file_fragment(context: Any, wsi: Any) -> int:
    """Send more of a file started by serve_http_file (the service loop does
    this by itself): 1 when done, 0 when more remains, -1 on error.
    Raises ValueError for a NULL ``wsi`` or a NULL or destroyed ``context``."""
    check_context(context, "libwebsockets_serve_http_file_fragment")
    check_wsi(wsi, "libwebsockets_serve_http_file_fragment")
    return lib.libwebsockets_serve_http_file_fragment(context, wsi)


def libwebsocket_callback_on_writable_all_protocol(protocol: Any) -> int:
    """Ask for a WRITEABLE callback on every connection of ``protocol``.
    Returns 0, or -1 when the protocol belongs to no context yet.  Raises
    TypeError when ``protocol`` is not a protocols[] entry (or a pointer to
    one), ValueError when it is NULL or its context is destroyed."""
    pointer = _protocol_pointer(protocol, "libwebsocket_callback_on_writable_all_protocol")
    return lib.libwebsocket_callback_on_writable_all_protocol(pointer)


def libwebsocket_rx_flow_control(wsi: Any, enable: int) -> int:
    """0 stops reading this connection (nothing is lost), 1 resumes.
    Raises ValueError for a NULL ``wsi``."""
    check_wsi(wsi, "libwebsocket_rx_flow_control")
    return lib.libwebsocket_rx_flow_control(wsi, 1 if enable else 0)


def libwebsockets_broadcast(protocol: Any, buf: Any, len: int) -> int:
    """LWS_CALLBACK_BROADCAST with ``buf`` to every connection of ``protocol``;
    from a forked process it goes through the protocol's broadcast socket.
    ``buf``: bytes-like or a cdata pointer (with LWS_SEND_BUFFER_PRE_PADDING
    room before it if the callbacks write it in place).  Returns 0 or -1.
    Raises ValueError when ``len`` is negative or exceeds ``buf``, the
    protocol is NULL or its context is destroyed; TypeError when ``protocol``
    is not a protocols[] entry (or a pointer to one) or ``buf`` is not
    bytes-like, str or cdata."""
    pointer = _protocol_pointer(protocol, "libwebsockets_broadcast")
    if not isinstance(len, int) or isinstance(len, bool):
        raise TypeError(f"libwebsockets_broadcast: len must be an int, not {type(len).__name__}")
    if len < 0:
        raise ValueError(f"libwebsockets_broadcast: len must be >= 0, not {len}")
    if isinstance(buf, ffi.CData):
        return lib.libwebsockets_broadcast(pointer, buf, len)
    padded = ffi.new(
        "unsigned char[]", lib.LWS_SEND_BUFFER_PRE_PADDING + len + lib.LWS_SEND_BUFFER_POST_PADDING
    )
    ffi.memmove(padded + lib.LWS_SEND_BUFFER_PRE_PADDING, readable(buf, len, "buf"), len)
    return lib.libwebsockets_broadcast(pointer, padded + lib.LWS_SEND_BUFFER_PRE_PADDING, len)


def libwebsockets_fork_service_loop(context: Any) -> int:
    """Fork a process that runs the service loop; the caller goes on (and may
    broadcast).  Returns 0 in the caller, -1 if fork failed.  Raises
    TypeError for a non-cdata, ValueError for a NULL or destroyed context."""
    check_live(context, "libwebsockets_fork_service_loop")
    return lib.libwebsockets_fork_service_loop(context)


def libwebsocket_canonical_hostname(context: Any) -> str:
    """This host's canonical name (as found when the context was created).
    Raises TypeError for a non-cdata, ValueError for a NULL or destroyed
    context."""
    check_live(context, "libwebsocket_canonical_hostname")
    return ffi.string(lib.libwebsocket_canonical_hostname(context)).decode()


def libwebsockets_get_peer_addresses(
    fd: int, name: Any = None, name_len: int = 256, rip: Any = None, rip_len: int = 64
) -> tuple[str, str]:
    """The peer's name (reverse lookup, bounded in time; the numeric address
    if none) and numeric address, as ``(name, rip)`` ("" and "" when ``fd``
    is not a connected socket).  C-style output buffers (cdata ``char``
    arrays or pointers) may be passed too; they are filled as in C.

    Raises TypeError for a non-int ``fd`` or length, or an output buffer that
    is not cdata; ValueError when a length exceeds its ``char[]`` array;
    OverflowError for an int that does not fit a C int."""
    c_name = _out_buffer(name, name_len, "name")
    c_rip = _out_buffer(rip, rip_len, "rip")
    lib.libwebsockets_get_peer_addresses(fd, c_name, name_len, c_rip, rip_len)
    return ffi.string(c_name).decode(errors="replace"), ffi.string(c_rip).decode()


def _out_buffer(buf: Any, size: int, what: str) -> Any:
    if not isinstance(size, int):
        raise TypeError(f"{what}_len must be an int, not {type(size).__name__}")
    if buf is None:
        return ffi.new("char[]", max(size, 1))
    if not isinstance(buf, ffi.CData):
        raise TypeError(f"{what} must be None or a cdata char buffer, not {type(buf).__name__}")
    kind = ffi.typeof(buf)
    if kind.kind == "array" and size > ffi.sizeof(buf):
        raise ValueError(f"{what}_len {size} exceeds the {ffi.sizeof(buf)} bytes of {what}")
    return buf


def libwebsockets_hangup_on_client(context: Any, fd: int) -> None:
    """Close the connection on socket ``fd`` (CLOSED is called if it was a
    WebSocket).  Raises TypeError for a non-cdata context or a non-int fd,
    ValueError for a NULL or destroyed context."""
    check_live(context, "libwebsockets_hangup_on_client")
    lib.libwebsockets_hangup_on_client(context, fd)

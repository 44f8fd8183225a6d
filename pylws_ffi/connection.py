"""One connection (``wsi``): writing, flow, timeouts, and the RECEIVE helpers.

The ``wsi`` and ``context`` arguments are the cdata pointers the callbacks
receive; passing anything else raises TypeError, a NULL ``wsi`` raises
ValueError (C would crash), and a ``context`` that is NULL or already
destroyed raises ValueError.  A ``wsi`` kept after its connection ended (its
LWS_CALLBACK_CLOSED returned, or the library dropped it: an HTTP connection,
a failed client connection, a destroyed context) raises
:class:`pylws_ffi.WsiClosedError` in every function here and in
:mod:`pylws_ffi.server`, even when a new connection got the same address
(the binding hands out one cdata object per connection; pass that object,
not a ``ffi.cast`` of its address).  Between the check and the C call a
connection cannot end on the loop's own thread; a call from another thread
on a connection the loop is closing at that very moment is not covered.
For the hottest paths, ``pylws_ffi.lib.<name>`` calls the C function with no
Python wrapper (and no checks).
"""

from __future__ import annotations

import errno
from typing import Any, Union

from ._pylws_cffi import ffi, lib
from .registry import check_context, check_wsi, wsi_get
from .registry import live as _live

Buffer = Union[bytes, bytearray, memoryview, str, Any]

_from_buffer = ffi.from_buffer
_CData = ffi.CData
_write_unpadded = lib.lws_write_unpadded
_on_writable = lib.libwebsocket_callback_on_writable
_size = len  # the functions below take an argument named len, as in C
_NULL = ffi.NULL
_wsi_get = wsi_get


def libwebsocket_write(wsi: Any, buf: Buffer, len: int, protocol: int) -> int:
    """Send ``len`` bytes of ``buf`` as one frame (or HTTP data) on ``wsi``.

    ``buf`` may be:
      * bytes, bytearray, memoryview or any contiguous buffer: no padding
        needed, the library copies it at most once (``lws_write_unpadded``);
      * str: text; ``len`` counts characters (``len(text)``) and the UTF-8
        encoding of ``buf[:len]`` is sent;
      * raw cdata (``unsigned char *``): passed to the C
        ``libwebsocket_write`` unchanged, so the caller must leave
        LWS_SEND_BUFFER_PRE_PADDING bytes before it and
        LWS_SEND_BUFFER_POST_PADDING after ``buf + len`` (zero copy); on a
        client connection the library masks those bytes in place, as the
        classic API did, so refill the buffer before sending it again.
    ``protocol``: LWS_WRITE_TEXT/BINARY/CONTINUATION/HTTP/CLOSE/PING/PONG,
    optionally | LWS_WRITE_NO_FIN.

    Returns what the C function returns (the count written, < 0 on failure).
    Raises ValueError when ``len`` is negative or exceeds the buffer or
    ``wsi`` (or a cdata ``buf``) is NULL; TypeError for an unsupported ``buf`` type, a
    non-contiguous buffer, or a ``wsi`` that is not a connection cdata.
    """
    if type(buf) is bytes or type(buf) is bytearray:
        if not 0 <= len <= _size(buf):
            raise ValueError(f"len {len} is outside the buffer of {_size(buf)} bytes")
        if _wsi_get(wsi) is not wsi:
            check_wsi(wsi, "libwebsocket_write")
        return _write_unpadded(wsi, _from_buffer(buf), len, protocol)
    if isinstance(buf, _CData):
        if len < 0:
            raise ValueError(f"len must be >= 0, not {len}")
        if _wsi_get(wsi) is not wsi:
            check_wsi(wsi, "libwebsocket_write")
        if buf == _NULL:
            # C writes the frame header before buf: it would crash
            raise ValueError("libwebsocket_write: buf is NULL")
        return lib.libwebsocket_write(wsi, ffi.cast("unsigned char *", buf), len, protocol)
    if isinstance(buf, str):
        if not 0 <= len <= _size(buf):
            raise ValueError(f"len {len} is outside the text of {_size(buf)} characters")
        if _wsi_get(wsi) is not wsi:
            check_wsi(wsi, "libwebsocket_write")
        data = (buf if len == _size(buf) else buf[:len]).encode()
        return _write_unpadded(wsi, _from_buffer(data), _size(data), protocol)
    try:
        view = memoryview(buf)
    except TypeError:
        raise TypeError(
            f"buf must be bytes, bytearray, memoryview, str or cdata, not {type(buf).__name__}"
        ) from None
    if not 0 <= len <= view.nbytes:
        raise ValueError(f"len {len} is outside the buffer of {view.nbytes} bytes")
    try:
        cbuf = _from_buffer(view)
    except (TypeError, ValueError, BufferError) as e:
        raise TypeError(f"buf must be a contiguous buffer: {e}") from None
    if _wsi_get(wsi) is not wsi:
        check_wsi(wsi, "libwebsocket_write")
    return _write_unpadded(wsi, cbuf, len, protocol)


def libwebsocket_callback_on_writable(context: Any, wsi: Any) -> int:
    """Ask for one LWS_CALLBACK_SERVER_WRITEABLE (CLIENT_WRITEABLE) on ``wsi``
    when it can take more output.  Returns 1 (the classic success value), or
    < 0 when the connection is not an established WebSocket.  Safe to call
    from any thread: off the loop's thread it is carried out by the loop.

    Raises ValueError when ``wsi`` is NULL or ``context`` is NULL or
    destroyed, TypeError for arguments that are not cdata pointers."""
    try:
        live = context in _live  # the cheap check first: this one is called often
    except TypeError:  # unhashable: not a context
        live = False
    if not live:
        check_context(context, "libwebsocket_callback_on_writable")
    check_wsi(wsi, "libwebsocket_callback_on_writable")
    return _on_writable(context, wsi)


def lws_send_pipe_choked(wsi: Any) -> int:
    """Nonzero when a write now would not complete without queueing.
    Raises ValueError when ``wsi`` is NULL."""
    check_wsi(wsi, "lws_send_pipe_choked")
    return lib.lws_send_pipe_choked(wsi)


def libwebsocket_close_and_free_session(context: Any, wsi: Any, reason: int) -> None:
    """Close ``wsi`` now, sending a close frame with status ``reason``
    (an LWS_CLOSE_STATUS_* value) where the protocol allows; CLOSED follows.

    Raises ValueError when ``wsi`` is NULL or ``context`` is NULL or
    destroyed, TypeError for arguments of the wrong type."""
    check_context(context, "libwebsocket_close_and_free_session")
    check_wsi(wsi, "libwebsocket_close_and_free_session")
    lib.libwebsocket_close_and_free_session(context, wsi, reason)


def libwebsocket_set_timeout(wsi: Any, reason: int, secs: int) -> None:
    """Close ``wsi`` in ``secs`` seconds unless cleared (reason
    NO_PENDING_TIMEOUT clears it); ``reason`` is a PENDING_TIMEOUT_* value.
    Raises ValueError when ``wsi`` is NULL."""
    check_wsi(wsi, "libwebsocket_set_timeout")
    lib.libwebsocket_set_timeout(wsi, reason, secs)


def libwebsocket_get_socket_fd(wsi: Any) -> int:
    """The socket file descriptor of ``wsi``.  Raises ValueError when
    ``wsi`` is NULL."""
    check_wsi(wsi, "libwebsocket_get_socket_fd")
    return lib.libwebsocket_get_socket_fd(wsi)


def libwebsockets_get_protocol(wsi: Any) -> Any:
    """The ``struct libwebsocket_protocols *`` entry serving ``wsi`` (cdata;
    ``.name`` via ``ffi.string``, ``.protocol_index``), or NULL.
    Raises ValueError when ``wsi`` is NULL."""
    check_wsi(wsi, "libwebsockets_get_protocol")
    return lib.libwebsockets_get_protocol(wsi)


def libwebsocket_ensure_user_space(wsi: Any) -> Any:
    """The per-session user area of ``wsi`` (``void *`` cdata of the
    protocol's per_session_data_size bytes; NULL when that size is 0).
    Raises ValueError when ``wsi`` is NULL."""
    check_wsi(wsi, "libwebsocket_ensure_user_space")
    return lib.libwebsocket_ensure_user_space(wsi)


def libwebsocket_is_final_fragment(wsi: Any) -> int:
    """In a RECEIVE callback: nonzero when this piece ends the message.
    Raises ValueError when ``wsi`` is NULL."""
    check_wsi(wsi, "libwebsocket_is_final_fragment")
    return lib.libwebsocket_is_final_fragment(wsi)


def libwebsocket_get_reserved_bits(wsi: Any) -> int:
    """In a RECEIVE callback: the RSV bits of the frame being received.
    Raises ValueError when ``wsi`` is NULL."""
    check_wsi(wsi, "libwebsocket_get_reserved_bits")
    return lib.libwebsocket_get_reserved_bits(wsi)


def lws_frame_is_binary(wsi: Any) -> int:
    """In a RECEIVE callback: nonzero when the message is binary
    (continuation pieces keep their message's type).
    Raises ValueError when ``wsi`` is NULL."""
    check_wsi(wsi, "lws_frame_is_binary")
    return lib.lws_frame_is_binary(wsi)


def lws_close_status_sent(wsi: Any) -> int:
    """The status code of the close frame this side sent (the library's own
    1002/1007/1009/1011..., libwebsocket_close_and_free_session's, or the
    peer's echoed), e.g. in CLOSED; 0 when none was sent or it had no code.
    Raises ValueError when ``wsi`` is NULL or closed."""
    check_wsi(wsi, "lws_close_status_sent")
    return lib.lws_close_status_sent(wsi)


def lws_set_whole_messages(wsi: Any, on: int | bool) -> int:
    """From now on (call it in ESTABLISHED, or between messages), wsi's
    RECEIVE callback gets every message whole in one call, ``in_``/``len_``
    being all of it (``libwebsocket_is_final_fragment`` is 1,
    ``lws_frame_is_binary`` its type): the library gathers the fragments, a
    message that came in one piece is not copied.  ``lws.payload(in_, len_)``
    makes bytes of it, ``ffi.buffer(in_, len_)`` a zero-copy view valid
    during the callback.  A message over the message size limit closes with
    1009.  False goes back to pieces from the next message.
    Returns 0.  Raises ValueError when ``wsi`` is NULL."""
    check_wsi(wsi, "lws_set_whole_messages")
    return lib.lws_set_whole_messages(wsi, 1 if on else 0)


def libwebsockets_remaining_packet_payload(wsi: Any) -> int:
    """In a RECEIVE callback: bytes of the current frame still to come.
    Raises ValueError when ``wsi`` is NULL."""
    check_wsi(wsi, "libwebsockets_remaining_packet_payload")
    return lib.libwebsockets_remaining_packet_payload(wsi)


def lws_request_head(wsi: Any) -> bytes | None:
    """In a server connection's LWS_CALLBACK_HTTP, FILTER_PROTOCOL_CONNECTION
    or ESTABLISHED callback: the HTTP request head as received (request line
    and header lines, each ending in LF, the CR before it and the byte after
    the path possibly overwritten by a NUL), so that any header (Cookie,
    Authorization...) can be read.  None elsewhere.  Raises what the other wsi functions raise."""
    check_wsi(wsi, "lws_request_head")
    size = ffi.new("size_t *")
    head = lib.lws_request_head(wsi, size)
    return None if head == _NULL else ffi.buffer(head, size[0])[:]


def lws_add_response_header(wsi: Any, name: str | bytes, value: str | bytes) -> int:
    """In a server connection's LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION
    callback: add ``name: value`` to the 101 answer (str as UTF-8).
    Returns 0, or -1 (errno set) for a name that is not an HTTP token, a
    value holding CR, LF or another control character (header injection),
    outside that callback (EPERM), or past 4 KiB of added lines (E2BIG).
    Raises TypeError for another type, and what the other wsi functions raise."""
    check_wsi(wsi, "lws_add_response_header")
    c_name = name.encode() if isinstance(name, str) else name
    c_value = value.encode() if isinstance(value, str) else value
    if not isinstance(c_name, bytes) or not isinstance(c_value, bytes):
        raise TypeError("lws_add_response_header: name and value must be str or bytes")
    if b"\0" in c_name or b"\0" in c_value:
        ffi.errno = errno.EINVAL
        return -1
    return int(lib.lws_add_response_header(wsi, c_name, c_value))


def lws_client_response_head(wsi: Any) -> tuple[bytes, bytes] | None:
    """In a client connection's LWS_CALLBACK_CLIENT_CONNECTION_ERROR callback
    (when the server answered: a refused handshake such as a 401 or 404) or
    its CLIENT_ESTABLISHED callback: ``(head, body)``, the server's answer
    head as received (status line and header lines, each ending in CRLF,
    then the empty line) and the bytes of its body that came (up to its
    Content-Length, within 16 KiB with the head; b"" after a 101).  None
    elsewhere, and when no whole head came.  Raises what the other wsi
    functions raise."""
    check_wsi(wsi, "lws_client_response_head")
    size = ffi.new("size_t[2]")
    head = lib.lws_client_response_head(wsi, size, size + 1)
    if head == _NULL:
        return None
    data = ffi.buffer(head, size[0] + size[1])[:]
    return data[: size[0]], data[size[0] :]


def lws_set_wsi_max_message_size(wsi: Any, size: int) -> int:
    """The largest message (after decompression) this connection may receive
    from now on (call it in ESTABLISHED or CLIENT_ESTABLISHED); a larger one
    closes it with 1009.  0: no limit.  lws_set_max_message_size of the
    context sets every connection's again.  Returns 0.  Raises ValueError
    for a negative size and what the other wsi functions raise."""
    check_wsi(wsi, "lws_set_wsi_max_message_size")
    if size < 0:
        raise ValueError(f"size must be >= 0, not {size}")
    return lib.lws_set_wsi_max_message_size(wsi, size)


def payload(in_: Any, len: int) -> bytes:
    """A callback's ``in_``/``len`` as bytes (a copy; b"" when len is 0).

    Raises ValueError for a negative ``len`` or a NULL ``in_`` with len > 0.
    """
    if len <= 0:
        if len < 0:
            raise ValueError(f"len must be >= 0, not {len}")
        return b""
    if in_ == ffi.NULL:
        raise ValueError("in_ is NULL")
    return ffi.buffer(in_, len)[:]

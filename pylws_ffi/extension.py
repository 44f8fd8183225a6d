"""Extensions written in Python: helpers for the payload hooks.

An extension is given to ``libwebsocket_create_context`` in its
``extensions`` list as ``(name, extension_callback, per_session_data_size)``
(see :func:`pylws_ffi.libwebsocket_create_context`), next to built-ins such
as ``pylws_ffi.libwebsocket_internal_extensions``.  The callback is called as
``extension_callback(context, ext, wsi, reason, user, in_, len)``:

* ``SERVER_CONTEXT_CONSTRUCT`` / ``CLIENT_CONTEXT_CONSTRUCT`` and the
  ``_DESTRUCT`` pair: once per context (``wsi`` is NULL).
* ``CHECK_OK_TO_PROPOSE_EXTENSION`` (client): nonzero means "do not offer";
  ``in_`` is the ``char **`` write position after the name in the handshake
  (``lws_append_handshake_header`` style), for parameters ("; a=1").
* ``CONSTRUCT`` (server): the client offered it; ``in_``/``len`` are its
  parameters as text (``ffi.string(ffi.cast("char *", in_))``, "" for none);
  return nonzero to decline.  ``CLIENT_CONSTRUCT``: the server accepted our
  offer with these parameters; nonzero fails the connection.
* ``HANDSHAKE_REPLY_TX`` (server): parameters may be appended to the answer
  as for CHECK_OK_TO_PROPOSE_EXTENSION.
* ``ANY_WSI_ESTABLISHED``: the connection is established.  ``1HZ``: once a
  second while it is.  ``REQUEST_ON_WRITEABLE``: a WRITEABLE callback was
  asked for.  ``IS_WRITEABLE``: just before the protocol's WRITEABLE
  callback.  ``CHECK_OK_TO_REALLY_CLOSE``: before it closes (informational:
  the return value is ignored).  ``DESTROY_ANY_WSI_CLOSING``: any connection
  of the context ends, whether this extension is active on it or not.  The
  other reasons of the header are not delivered (native/src/ext.c says why).
* ``PACKET_RX_PREPARSE``: ``in_`` is a ``struct lws_tokens *`` that points at
  a received data payload (a whole frame or a piece of one; control frames
  never pass through extensions).  Received data goes through the active
  extensions in the reverse of the order they transform what is sent (the
  order of the Sec-WebSocket-Extensions answer, RFC 6455 9.1).  Read it
  with :func:`lws_tokens_payload`; replace it with :func:`lws_tokens_replace`.
  Return 0; < 0 closes the connection with 1007; > 0 means "more output for
  this input": the core delivers what ``in_`` points at and calls again
  with an empty input.
  ``libwebsocket_is_final_fragment(wsi)`` and ``lws_frame_is_binary(wsi)``
  tell where in which message the piece is.
* ``PACKET_TX_PRESEND``: the same for the payload of a data frame about to
  be sent.  Return 0 (> 0 asks for the RSV1 bit, which only the built-in
  compression extensions may claim: a peer fails the connection on a bit no
  extension of its own claims); < 0 makes that ``libwebsocket_write`` fail.
  Never write into the payload in place here: it may be the caller's
  ``bytes``.
* ``DESTROY``: the connection ends; drop what the extension keeps for it.

``user`` is the connection's own area of ``per_session_data_size`` zeroed
bytes (NULL when 0), freed by the library after DESTROY.  Python state is
best kept in a dict keyed by ``wsi`` and dropped at DESTROY.

An exception raised by the callback is logged (LLL_ERR, with its traceback)
and the call returns -1, with the effect that has for that reason.
"""

from __future__ import annotations

from typing import Any

from ._pylws_cffi import ffi, lib

_PRE = lib.LWS_SEND_BUFFER_PRE_PADDING
_POST = lib.LWS_SEND_BUFFER_POST_PADDING
_TOKENS = ffi.typeof("struct lws_tokens *")


def _tokens(in_: Any) -> Any:
    if not isinstance(in_, ffi.CData):
        raise TypeError(f"in_ must be the callback's in_ (cdata), not {type(in_).__name__}")
    if in_ == ffi.NULL:
        raise ValueError("in_ is NULL: not a PACKET_RX_PREPARSE / PACKET_TX_PRESEND call")
    return ffi.cast(_TOKENS, in_)


def lws_tokens_payload(in_: Any) -> bytes:
    """In PACKET_RX_PREPARSE / PACKET_TX_PRESEND: the payload ``in_`` (a
    ``struct lws_tokens *``) points at, as bytes (a copy; b"" when empty).

    Raises TypeError when ``in_`` is not cdata, ValueError when it is NULL.
    """
    tok = _tokens(in_)
    n = tok.token_len
    if n <= 0 or tok.token == ffi.NULL:
        return b""
    return ffi.buffer(tok.token, n)[:]


def lws_tokens_replace(in_: Any, data: Any, keep: list[Any]) -> int:
    """In PACKET_RX_PREPARSE / PACKET_TX_PRESEND: make ``in_`` (a ``struct
    lws_tokens *``) point at a copy of ``data`` (bytes-like or str, sent as
    UTF-8) instead of the original payload.  Returns the new length.

    The core reads the new payload after the callback returns, so the copy
    must outlive the call: it is stored in ``keep`` (a list, emptied first),
    which the caller holds until the extension's next call for the same
    connection and direction; one list per connection and direction, e.g.
    ``self.rx.setdefault(wsi, [])``, dropped at LWS_EXT_CALLBACK_DESTROY.
    The copy has LWS_SEND_BUFFER_PRE_PADDING bytes before it and
    LWS_SEND_BUFFER_POST_PADDING after it, as a received payload has (a
    RECEIVE callback may write its echo in place).

    Raises TypeError when ``data`` is not bytes-like or str, ``keep`` is not
    a list or ``in_`` is not cdata; ValueError when ``in_`` is NULL or
    ``data`` is longer than 2 GiB - 1.
    """
    tok = _tokens(in_)
    if not isinstance(keep, list):
        raise TypeError(f"keep must be a list, not {type(keep).__name__}")
    if isinstance(data, str):
        data = data.encode()
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(f"data must be bytes-like or str, not {type(data).__name__}") from None
    n = view.nbytes
    if n > 0x7FFFFFFF:
        raise ValueError("data is longer than a struct lws_tokens can say (2 GiB - 1)")
    buf = ffi.new("char[]", _PRE + n + _POST)
    if n:
        ffi.memmove(buf + _PRE, view.cast("B") if view.format != "B" else view, n)
    keep.clear()
    keep.append(buf)
    tok.token = buf + _PRE
    tok.token_len = n
    return n

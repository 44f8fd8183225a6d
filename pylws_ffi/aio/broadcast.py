"""``broadcast(connections, message)``: one message to many connections,
as ``websockets.broadcast``, without unbounded queueing.

Exported as :func:`pylws_ffi.aio.broadcast`.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Union

from .._pylws_cffi import lib

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["broadcast"]

log = logging.getLogger("pylws_ffi.aio")

DataLike = Union[str, bytes, bytearray, memoryview]

_choked = lib.lws_send_pipe_choked


def broadcast(
    connections: Iterable[Connection],
    message: DataLike,
    *,
    text: bool | None = None,
    raise_exceptions: bool = False,
) -> None:
    """Send ``message`` to each of ``connections`` that is open, at once and
    without waiting (a plain function, not a coroutine).

    ``str`` goes as a text message, bytes-like as binary; ``text=True`` sends
    UTF-8 bytes as text (checked once: ValueError if they are not UTF-8),
    ``text=False`` a ``str`` as binary.

    Skipped: connections that are closed or closing (silently, as
    ``websockets`` does); and, unlike ``websockets`` (which queues without
    bound), connections that cannot take the message now, each skip logged
    as a warning on the ``pylws_ffi.aio`` logger: one whose output is choked
    (``lws_send_pipe_choked``: bytes of an earlier write still wait for the
    socket, a slow reader) and one with a ``send()`` in progress or waiting
    (writing now would overtake it, or cut into a fragmented message).  A
    slow client thus loses broadcast messages instead of costing memory.

    A failed write is logged (warning, with the exception) and the other
    connections still get the message; ``raise_exceptions=True`` raises the
    failures together at the end instead, as an ``ExceptionGroup`` (Python
    3.11+; before, a RuntimeError from the first).  Raises TypeError for a
    message that is neither str nor bytes-like.
    """
    if isinstance(message, str):
        payload: Any = message.encode()
        binary = text is False
    elif isinstance(message, (bytes, bytearray, memoryview)):
        payload = bytes(message)
        binary = text is not True
        if not binary:
            try:
                payload.decode()
            except UnicodeDecodeError as e:
                raise ValueError("text=True needs UTF-8 bytes") from e
    else:
        raise TypeError(f"message must be str or bytes-like, not {type(message).__name__}")
    kind = lib.LWS_WRITE_BINARY if binary else lib.LWS_WRITE_TEXT
    failures: list[Exception] = []
    for conn in connections:
        wsi = conn.wsi
        if wsi is None or conn._sent_code is not None:
            continue  # closed or closing
        if conn._senders:
            log.warning("skipped broadcast to %r: a send is in progress", conn)
            continue
        if _choked(wsi):
            log.warning("skipped broadcast to %r: its output is choked", conn)
            continue
        try:
            conn._write(wsi, payload, kind)
        except Exception as e:
            if raise_exceptions:
                failures.append(e)
            else:
                log.warning("skipped broadcast to %r: the write failed", conn, exc_info=True)
    if failures:
        group = getattr(builtins, "ExceptionGroup", None)
        if group is not None:
            raise group("skipped broadcast: failed to write the message", failures)
        raise RuntimeError("skipped broadcast: failed to write the message") from failures[0]

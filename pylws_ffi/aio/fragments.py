"""Streaming send: ``await conn.send(pieces)`` sends one message in
fragments, as ``websockets`` does (used by :meth:`pylws_ffi.aio.Connection.send`).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import TYPE_CHECKING, Any, Union

from .._pylws_cffi import lib

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["send_fragments"]

Piece = Union[str, bytes, bytearray, memoryview]

_NO_FIN = lib.LWS_WRITE_NO_FIN
_CONTINUATION = lib.LWS_WRITE_CONTINUATION
_choked = lib.lws_send_pipe_choked


def _encode(piece: Any) -> tuple[Any, bool]:
    if isinstance(piece, str):
        return piece.encode(), True
    if isinstance(piece, (bytes, bytearray, memoryview)):
        return piece, False
    raise TypeError(f"a fragment must be str or bytes-like, not {type(piece).__name__}")


async def send_fragments(conn: Connection, pieces: Iterable[Any] | AsyncIterable[Any]) -> None:
    """Send the pieces as the fragments of one message: text when they are
    ``str``, binary when bytes-like (all of one kind: TypeError otherwise).
    Nothing is sent for no pieces.  Other sends wait until the message is
    complete; each fragment waits while the output is choked.  When the
    pieces fail (an exception from the iterator, a piece of the other kind)
    after the message has begun, the connection is closed with 1011 (the
    message cannot be finished) and the exception raised."""
    async with conn._sending():
        began = False
        text = False
        try:
            if isinstance(pieces, AsyncIterable):
                async for piece in pieces:
                    began, text = await _fragment(conn, piece, began, text)
            else:
                for piece in pieces:
                    began, text = await _fragment(conn, piece, began, text)
        except BaseException:
            if began and not conn.closed:
                conn._start_close(1011, "the fragmented message failed")
            raise
        if began:
            await _put(conn, b"", _CONTINUATION)  # FIN: the message is complete


async def _fragment(conn: Connection, piece: Piece, began: bool, text: bool) -> tuple[bool, bool]:
    payload, is_text = _encode(piece)
    if not began:
        kind = lib.LWS_WRITE_TEXT if is_text else lib.LWS_WRITE_BINARY
        await _put(conn, payload, kind | _NO_FIN)
        return True, is_text
    if is_text != text:
        raise TypeError("the fragments of a message must all be str or all bytes-like")
    await _put(conn, payload, _CONTINUATION | _NO_FIN)
    return True, text


async def _put(conn: Connection, payload: Any, flags: int) -> None:
    while conn.wsi is not None and _choked(conn.wsi):
        await conn._writable()
    if conn.wsi is None:
        raise conn._exc()
    conn._write(conn.wsi, payload, flags)

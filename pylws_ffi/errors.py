"""Exceptions raised by the binding."""

from __future__ import annotations


class LwsError(Exception):
    """A library call failed and the C core gave no errno to explain it.

    Failures that come with an errno (a port in use, a bad interface name...)
    raise :class:`OSError` instead; wrong argument types or values raise
    :class:`TypeError` / :class:`ValueError`.
    """


class WsiClosedError(LwsError, ValueError):
    """A ``wsi`` was used after its connection ended.

    Raised by every wrapper that takes a ``wsi`` when the connection's
    LWS_CALLBACK_CLOSED callback has returned or the library has dropped the
    connection (the C functions would read freed memory), and for a
    ``struct libwebsocket *`` the library did not hand out (made with
    ``ffi.cast``/``ffi.new``).  A wsi kept past its connection stays dead
    even when a new connection gets the same address: the binding hands out
    one cdata object per connection and checks that very object.  Being a
    ValueError, code that caught the old errors for bad arguments still
    catches it.  ``pylws_ffi.lib.<function>`` does no such check.
    """

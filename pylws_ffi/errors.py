"""Exceptions raised by the binding."""

from __future__ import annotations


class LwsError(Exception):
    """A library call failed and the C core gave no errno to explain it.

    Failures that come with an errno (a port in use, a bad interface name...)
    raise :class:`OSError` instead; wrong argument types or values raise
    :class:`TypeError` / :class:`ValueError`.
    """

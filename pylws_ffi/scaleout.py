"""Scale-out: the Redis backplane of libwebsockets_broadcast, and worker
processes sharing one port (LWS_SERVER_OPTION_REUSEPORT).

See ``lws_context_attach_redis`` in native/include/libwebsockets.h for what
the backplane guarantees (every attached context delivers each broadcast once,
in its publisher's order; kept while Redis is away; resumed after a reconnect).
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import sys
from typing import Any

from ._pylws_cffi import ffi, lib
from .errors import LwsError
from .registry import check_context

_OPTIONS = {
    "max_message": lib.LWS_REDIS_MAX_MESSAGE,
    "stream_maxlen": lib.LWS_REDIS_STREAM_MAXLEN,
    "pending_max": lib.LWS_REDIS_PENDING_MAX,
    "pending_bytes": lib.LWS_REDIS_PENDING_BYTES,
    "reconnect_min_ms": lib.LWS_REDIS_RECONNECT_MIN_MS,
    "reconnect_max_ms": lib.LWS_REDIS_RECONNECT_MAX_MS,
    "timeout_ms": lib.LWS_REDIS_TIMEOUT_MS,
}


def lws_context_attach_redis(
    context: Any, url: str, stream_key: str = "lws-broadcast", **options: int
) -> None:
    """Attach ``context`` to Redis at ``url`` (``redis://[[user]:password@]host[:port][/db]``):
    its libwebsockets_broadcast calls then reach every context attached to the
    same stream ``stream_key``, in any process or host.  Redis need not be up:
    the context serves locally and connects when it can.

    ``options`` (ints): ``max_message`` (bytes; a larger broadcast fails),
    ``stream_maxlen`` (entries Redis keeps), ``pending_max`` / ``pending_bytes``
    (broadcasts kept while Redis is away), ``reconnect_min_ms`` /
    ``reconnect_max_ms`` (backoff), ``timeout_ms`` (connect or reply).

    Call it from the thread that runs the context's loop.  Raises TypeError for a
    non-str ``url``/``stream_key`` or non-int option, ValueError for a bad URL,
    an empty key, an unknown option or a value out of range, a NULL or destroyed
    context, or a context attached already; PermissionError off the loop's thread.
    """
    check_context(context, "lws_context_attach_redis")
    if not isinstance(url, str) or not isinstance(stream_key, str):
        raise TypeError("url and stream_key must be str")
    if not stream_key or "\0" in stream_key or "\0" in url:
        raise ValueError("stream_key must be a non-empty str without NUL")
    for name, value in options.items():
        if name not in _OPTIONS:
            raise ValueError(f"unknown Redis option {name!r} (one of {sorted(_OPTIONS)})")
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        if value < 1:
            raise ValueError(f"{name} must be >= 1, not {value}")
    ffi.errno = 0
    if lib.lws_context_attach_redis(context, url.encode(), stream_key.encode()):
        e = ffi.errno
        if e == errno.EALREADY:
            raise ValueError("the context is attached to Redis already")
        if e == errno.EPERM:
            raise PermissionError(e, "attach from the thread that runs the context's loop")
        if e == errno.EINVAL:
            raise ValueError(f"bad Redis URL {url!r} (redis://[[user]:password@]host[:port][/db])")
        raise OSError(e, os.strerror(e)) if e else LwsError("lws_context_attach_redis failed")
    for name, value in options.items():
        lws_context_redis_option(context, name, value)


def lws_context_redis_option(context: Any, name: str, value: int) -> None:
    """Change one option of an attached context (names as in
    :func:`lws_context_attach_redis`).  Raises ValueError for an unknown name, a
    value out of range or a context not attached (or NULL or destroyed),
    TypeError for a non-int value."""
    check_context(context, "lws_context_redis_option")
    if name not in _OPTIONS:
        raise ValueError(f"unknown Redis option {name!r} (one of {sorted(_OPTIONS)})")
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value > 2**62 or lib.lws_context_redis_option(context, _OPTIONS[name], value):
        raise ValueError(f"Redis option {name}={value} refused (out of range, or not attached)")


def lws_context_redis_state(context: Any) -> int:
    """0: not attached; 1: attached, not connected now (broadcasts are kept);
    2: connected and reading the stream.  Raises TypeError for a non-cdata,
    ValueError for a NULL or destroyed context."""
    check_context(context, "lws_context_redis_state")
    return int(lib.lws_context_redis_state(context))


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def start_workers(n: int) -> int | None:
    """Fork ``n`` worker processes; call it before creating any context (each
    worker makes its own, with LWS_SERVER_OPTION_REUSEPORT to share the port).

    In each worker it returns the worker's index (0 .. n-1).  In the calling
    process it supervises: SIGTERM, SIGINT and SIGHUP are passed on to every
    worker, a worker that dies leaves the others running, and it returns None
    once all have exited.  Workers get SIGTERM if the supervisor dies.

    Raises ValueError unless 1 <= n <= 4096, TypeError for a non-int, OSError
    if fork fails (the workers started are stopped); in the supervisor,
    ChildProcessError once all have exited if one failed (another exit status
    than 0, or killed by another signal than the one passed on).
    """
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"n must be an int, not {type(n).__name__}")
    if not 1 <= n <= 4096:
        raise ValueError(f"n must be 1..4096, not {n}")
    stop = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    parent = os.getpid()
    pids: dict[int, int] = {}
    for i in range(n):
        try:
            pid = os.fork()
        except OSError:
            for p in pids:
                os.kill(p, signal.SIGTERM)
            for p in pids:
                os.waitpid(p, 0)
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
            raise
        if pid == 0:
            _die_with_parent()
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
            if os.getppid() != parent:
                os._exit(0)
            return i
        pids[pid] = i
    forwarded = 0
    failed: list[str] = []
    while pids:
        sig = signal.sigwait(stop)
        if sig != signal.SIGCHLD:
            for p in pids:
                os.kill(p, sig)
            forwarded = sig
            continue
        while pids:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            index = pids.pop(pid, None)
            if index is None:
                continue
            if os.WIFSIGNALED(status) and os.WTERMSIG(status) != forwarded:
                failed.append(f"worker {index} (pid {pid}) killed by signal {os.WTERMSIG(status)}")
            elif os.WIFEXITED(status) and os.WEXITSTATUS(status):
                failed.append(f"worker {index} (pid {pid}) exited with {os.WEXITSTATUS(status)}")
            else:
                continue
            print(failed[-1], file=sys.stderr)
    signal.pthread_sigmask(signal.SIG_SETMASK, old)
    if failed:
        raise ChildProcessError("; ".join(failed))
    return None

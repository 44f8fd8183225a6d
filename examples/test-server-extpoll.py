#!/usr/bin/env python3
"""The pylws demo server (test-server.py) on its own select.poll() loop.

The classic "extpoll" way of putting libwebsockets into a program that
already has a poll loop: the library announces every descriptor it watches to
protocols[0] (LWS_CALLBACK_ADD_POLL_FD / DEL_POLL_FD / SET_MODE_POLL_FD /
CLEAR_MODE_POLL_FD; ``user`` is the fd, ``len`` the POLLIN/POLLOUT bits), this
program keeps them in a ``select.poll()`` object, and hands every ready one to
``libwebsocket_service_fd``.  Timeouts need nothing more: the library's timer
is one of the descriptors.  The protocols are test-server.py's, imported.

    python examples/test-server-extpoll.py [-p|--port 7681] [-i|--interface IF]
                                           [-d|--debug LLL_BITS] [-r|--resource-path DIR]
                                           [-s|--ssl] [--cert FILE --key FILE]
                                           [--workers N] [--redis URL]

(the same command line as test-server.py: --ssl serves https:// and wss://.)
"""

from __future__ import annotations

import importlib.util
import select
import signal
import sys
import time
from pathlib import Path
from typing import Any

import example_tls  # examples/example_tls.py: --ssl, --cert, --key, the default certificate

import pylws_ffi as lws
from pylws_ffi import ffi


def load_demo() -> Any:
    """test-server.py (a file name Python cannot import by name) as a module."""
    path = Path(__file__).resolve().parent / "test-server.py"
    spec = importlib.util.spec_from_file_location("pylws_test_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo = load_demo()

# ---- the poll set, kept from the four callbacks ----

poller = select.poll()
#: fd -> the events it is polled for
watched: dict[int, int] = {}


def callback_http_extpoll(
    context: Any, wsi: Any, reason: int, user: Any, in_: Any, len_: int
) -> int:
    """protocols[0]: the poll reasons here, the rest as in test-server.py."""
    if reason == lws.LWS_CALLBACK_ADD_POLL_FD:
        fd = int(ffi.cast("intptr_t", user))
        watched[fd] = len_
        poller.register(fd, len_)
    elif reason == lws.LWS_CALLBACK_DEL_POLL_FD:
        fd = int(ffi.cast("intptr_t", user))
        if watched.pop(fd, None) is not None:
            poller.unregister(fd)
    elif reason == lws.LWS_CALLBACK_SET_MODE_POLL_FD:
        fd = int(ffi.cast("intptr_t", user))
        watched[fd] |= len_
        poller.modify(fd, watched[fd])
    elif reason == lws.LWS_CALLBACK_CLEAR_MODE_POLL_FD:
        fd = int(ffi.cast("intptr_t", user))
        watched[fd] &= ~len_
        poller.modify(fd, watched[fd])
    else:
        return int(demo.callback_http(context, wsi, reason, user, in_, len_))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    prog = Path(sys.argv[0]).name
    if bool(args.cert) != bool(args.key):
        print(f"{prog}: give both --cert and --key, or neither", file=sys.stderr)
        return 2
    if not (args.resource_path / "test.html").is_file():
        print(f"{prog}: no test.html in {args.resource_path}", file=sys.stderr)
        return 1
    demo.resource_path = args.resource_path.resolve()

    tls = example_tls.context_arguments(args, prog)

    lws.lws_set_log_level(args.debug)

    stop = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    protocols = [
        ("http-only", callback_http_extpoll, 0),  # gets the HTTP requests and the poll fds
        ("dumb-increment-protocol", demo.callback_dumb_increment, 0),
        ("lws-mirror-protocol", demo.callback_lws_mirror, 0),
    ]
    options = demo.start_workers(args, prog)  # --workers: before any context
    if options is None or options < 0:
        return 0 if options is None else 1  # the supervisor: every worker has stopped
    try:
        tls_args = dict(tls)
        options |= tls_args.pop("options", 0)
        context = lws.libwebsocket_create_context(
            args.port, args.interface, protocols, options=options, **tls_args
        )
    except OSError as e:
        print(f"{prog}: cannot start: {e}", file=sys.stderr)
        return 1
    # --redis: its two descriptors come through ADD_POLL_FD like the others
    if not demo.attach_redis(context, args, prog):
        return 2

    print(
        f"pylws test server (external poll) on {lws.libwebsocket_canonical_hostname(context)}, "
        f"port {args.port}: open {'https' if tls else 'http'}://127.0.0.1:{args.port}/\n"
        f"(serving {demo.resource_path}; {len(watched)} descriptors polled)",
        file=sys.stderr,
    )

    # our poll loop, and every TICK a WRITEABLE for each counter
    dumb_increment = lws.lws_get_protocols(context)[1]  # C: &protocols[1]
    pollfd = ffi.new("struct pollfd *")  # one, reused for every ready descriptor
    next_tick = time.monotonic() + demo.TICK
    rc = 0
    while not stop and rc == 0:
        now = time.monotonic()
        if now >= next_tick:
            lws.libwebsocket_callback_on_writable_all_protocol(dumb_increment)
            next_tick += demo.TICK
            if next_tick <= now:  # we fell behind: no burst to catch up
                next_tick = now + demo.TICK
        timeout = max(1, min(50, round((next_tick - now) * 1000)))
        try:
            ready = poller.poll(timeout)
        except InterruptedError:
            continue
        for fd, revents in ready:
            if fd not in watched:
                continue  # removed while an earlier one was serviced
            pollfd.fd = fd
            pollfd.revents = revents
            if lws.libwebsocket_service_fd(context, pollfd) < 0:
                rc = 1
                break
    lws.libwebsocket_context_destroy(context)
    if watched:
        print(f"{prog}: {len(watched)} descriptors left after destroy", file=sys.stderr)
        rc = 1
    return rc


def parse_args(argv: list[str] | None) -> Any:
    """test-server.py's command line (test-server.c's)."""
    return demo.parse_args(argv, __doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())

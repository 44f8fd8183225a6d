"""Ports and waiting, on the loopback only."""

from __future__ import annotations

import socket
import time
from typing import Any, Callable

LOCAL = "127.0.0.1"


def free_port() -> int:
    """A TCP port nothing listens on now (on 127.0.0.1)."""
    with socket.socket() as s:
        s.bind((LOCAL, 0))
        return s.getsockname()[1]


def wait_for(cond: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)

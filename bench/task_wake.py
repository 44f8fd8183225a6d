#!/usr/bin/env python3
"""What one message costs an asyncio handler before any I/O: the wake-up.

    python bench/task_wake.py [--n 200000]

``async for message in conn`` suspends the handler's task until a message
arrives; the readiness callback that receives it resolves a future, and the
loop resumes the task: one future, one scheduled callback, one task step per
message.  This measures that round alone, with a loop callback standing in
for the readiness callback (no socket, no WebSocket), on the default loop and
on uvloop, so the asyncio layer's cost per message can be set against it:
picows hands each frame to a plain method call, with no task to resume.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from typing import Any


async def future_round(n: int) -> float:
    """ns per round: a callback resolves the future a task waits for."""
    loop = asyncio.get_running_loop()
    waiter: list[Any] = [None]

    def arrive() -> None:
        fut, waiter[0] = waiter[0], None
        fut.set_result(b"message")

    t0 = time.perf_counter()
    for _ in range(n):
        fut = waiter[0] = loop.create_future()
        loop.call_soon(arrive)
        await fut
    return (time.perf_counter() - t0) / n * 1e9


async def callback_round(n: int) -> float:
    """ns per round: the same callback, called with no task to resume
    (a plain method per message, as picows' listener)."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    left = [n]

    def arrive() -> None:
        left[0] -= 1
        if left[0]:
            loop.call_soon(arrive)
        else:
            done.set_result(None)

    t0 = time.perf_counter()
    loop.call_soon(arrive)
    await done
    return (time.perf_counter() - t0) / n * 1e9


def run(runner: Callable[[Any], Any], n: int) -> tuple[float, float]:
    async def main() -> tuple[float, float]:
        await future_round(n // 10)  # warm-up
        return await future_round(n), await callback_round(n)

    return runner(main())  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000, help="rounds (default 200000)")
    args = ap.parse_args()
    loops: list[tuple[str, Callable[[Any], Any]]] = [("asyncio", asyncio.run)]
    try:
        import uvloop
    except ImportError:
        pass
    else:
        loops.append(("uvloop", uvloop.run))
    for name, runner in loops:
        task, plain = run(runner, args.n)
        print(
            f"{name}: task woken by a future {task:.0f} ns per message, "
            f"plain callback {plain:.0f} ns, difference {task - plain:.0f} ns"
        )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A pylws_ffi.aio client that keeps its connection: connect, send, receive,
and on a lost connection reconnect with exponential backoff.

    python examples/aio_client.py ws://127.0.0.1:8765/ [--count 10] [--interval 0.2]
                                  [--max-delay 5] [--header "Authorization: Bearer xyz"]...

Talks to an echo server: sends "message N" every ``--interval`` seconds and
prints what comes back ("echo: message N"), until ``--count`` messages have
come back.  When the connection is refused or lost, it waits and tries again:
0.1 s, then twice as long each time up to ``--max-delay`` seconds, with some
jitter (so that many clients of a restarted server do not all come back at
the same instant); a connection that opens resets the delay.  A message sent
but not answered when the connection dropped is sent again.

``--header "Name: value"`` (repeatable) adds a request header to the opening
handshake (``additional_headers``, as in websockets): a token, a cookie.  A
server that refuses the handshake with a 4xx status (401, 403...) is not
tried again: the client prints the status and the body and exits with 1; a
5xx is retried like a refused connection.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys

from pylws_ffi import aio

FIRST_DELAY = 0.1


async def session(
    url: str, done: int, count: int, interval: float, headers: list[tuple[str, str]]
) -> int:
    """One connection's life: returns the count of messages answered so far
    (``done`` plus this session's) when all ``count`` are, raises OSError or
    aio.ConnectionClosed when the connection fails or is lost."""
    async with aio.connect(url, open_timeout=5, additional_headers=headers) as conn:
        print(f"connected to {url}", flush=True)
        while done < count:
            await conn.send(f"message {done}")
            reply = await conn.recv()
            text = reply if isinstance(reply, str) else reply.decode(errors="replace")
            print(f"echo: {text}", flush=True)
            done += 1
            await asyncio.sleep(interval)
    return done


async def main(
    url: str, count: int, interval: float, max_delay: float, headers: list[tuple[str, str]]
) -> int:
    done, delay = 0, FIRST_DELAY
    while done < count:
        try:
            done = await session(url, done, count, interval, headers)
        except aio.InvalidStatus as e:
            response = e.response
            body = response.body.decode(errors="replace")
            print(f"refused: {response.status_code} {response.reason_phrase}: {body}", flush=True)
            if response.status_code < 500:
                return 1  # asking again will not help
        except aio.ConnectionClosed as e:
            print(f"connection lost (code {e.code})", flush=True)
            delay = FIRST_DELAY  # it had opened: start the backoff again
        except (OSError, asyncio.TimeoutError) as e:  # aio.InvalidHandshake is an OSError
            print(f"cannot connect: {e}", flush=True)
        else:
            break
        pause = delay * random.uniform(0.8, 1.2)
        print(f"reconnecting in {pause:.2f} s", flush=True)
        await asyncio.sleep(pause)
        delay = min(delay * 2, max_delay)
    print(f"done: {done} messages", flush=True)
    return 0


def header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"not 'Name: value': {text!r}")
    return name.strip(), value.strip()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--max-delay", type=float, default=5.0)
    parser.add_argument("--header", type=header, action="append", default=[])
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.url, args.count, args.interval, args.max_delay, args.header)))

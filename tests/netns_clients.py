"""Mirror clients for tests/test_redis_netns.py, run inside the clients'
network namespace: ``n`` clients spread over the servers' URLs, probes until
every client hears every server, then ``count`` messages from one client per
publisher URL; prints a JSON summary (what each client got, in order)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import websockets

MIRROR = "lws-mirror-protocol"


async def main(
    urls: list[str], n: int, count: int, publishers: int, steps: set[int]
) -> dict[str, object]:
    clients = []
    for i in range(n):
        url = urls[i % len(urls)]
        ws = await websockets.connect(url, subprotocols=[MIRROR], max_size=None)
        clients.append((url, ws, [], set()))

    async def read(ws: websockets.ClientConnection, got: list[str], probes: set[str]) -> None:
        try:
            async for msg in ws:
                if str(msg).startswith("probe"):
                    probes.add(str(msg))
                else:
                    got.append(str(msg))
        except websockets.ConnectionClosed:
            pass

    tasks = [asyncio.ensure_future(read(ws, got, pr)) for _, ws, got, pr in clients]
    # linked: a probe from a client of each server reaches every client
    deadline = time.monotonic() + 30
    for u in urls:
        src = next(ws for url, ws, _, _ in clients if url == u)
        k = 0
        while True:
            probe = f"probe-{u}-{k}"
            await src.send(probe)
            await asyncio.sleep(0.3)
            if all(probe in pr for _, _, _, pr in clients):
                break
            k += 1
            if time.monotonic() > deadline:
                return {"error": f"not linked: {u}"}
    senders = [next(ws for url, ws, _, _ in clients if url == u) for u in urls[:publishers]]
    loop = asyncio.get_running_loop()
    for k in range(count):
        if k in steps:
            # the test does something (kills or restarts Redis) and says go
            print(f"STEP {k}", flush=True)
            await loop.run_in_executor(None, sys.stdin.readline)
        for p, ws in enumerate(senders):
            await ws.send(f"P{p}:{k}")
        if k % 20 == 0:
            await asyncio.sleep(0.01)
    want = count * len(senders)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(len(got) < want for _, _, got, _ in clients):
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # a duplicate would show up now
    for _, ws, _, _ in clients:
        await ws.close()
    await asyncio.gather(*tasks)
    return {"clients": [{"url": url, "got": got} for url, _, got, _ in clients]}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--urls", required=True)
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--publishers", type=int, default=1)
    ap.add_argument("--steps", default="", help="message numbers to stop at: STEP k, wait a line")
    a = ap.parse_args()
    steps = {int(x) for x in a.steps.split(",") if x}
    result = asyncio.run(main(a.urls.split(","), a.n, a.count, a.publishers, steps))
    print(json.dumps(result), flush=True)

#!/usr/bin/env python3
"""TLS beside plain, for the C echo server (examples/echo_server.c, release build).

    python bench/tls_bench.py                       # everything, best of 3
    python bench/tls_bench.py --repeat 1 --duration 2
    python bench/tls_bench.py --skip-throughput     # handshakes only

Throughput: bench/pylws_client_load.c (pylws's own client, linked with the
release libpylws.a; client_load.py builds it) with --ssl 2 against the server
started with --ssl, and with --ssl 0 against the same server without it, in
the scenarios 64B-100x10 and 1M-1x1 of run.py.

Handshakes per second: Python ``ssl`` clients (threads of one process; the
handshake releases the GIL) opening connections one after the other, each
closed at once: TCP + TLS handshake; TCP + TLS + the WebSocket upgrade; and
TCP + the upgrade without TLS.  The Python client is slower than the server
here, so the table also gives the server's CPU time per connection (from
/proc/PID/stat), and the rate that CPU time allows (1 / CPU per connection):
what one server core could take.

The server uses the certificate its --ssl makes on first use (a self-signed
EC P-256 one for localhost, examples/example-tls.h), here in a temporary
$XDG_CACHE_HOME.  Server pinned to CPU 0, load to CPU 1, 127.0.0.1 only,
every process stopped by PID (run.py's helpers).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import client_load  # noqa: E402  (builds bench/pylws_client_load)
import run  # noqa: E402  (servers, builds, stopping by PID)

IGNORE_SIGPIPE: list[str] = []  # the core never raises SIGPIPE (MSG_NOSIGNAL BIO)
THROUGHPUT_SCENARIOS = ["64B-100x10", "1M-1x1"]
UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


# ---------------------------------------------------------------- handshakes (worker)


def one_connection(port: int, ctx: ssl.SSLContext | None, upgrade: bool) -> None:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ctx is not None:
            s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
        if upgrade:
            s.sendall(UPGRADE)
            got = b""
            while b"\r\n\r\n" not in got:
                chunk = s.recv(4096)
                if not chunk:
                    raise ConnectionError("closed during the upgrade")
                got += chunk
            if not got.startswith(b"HTTP/1.1 101"):
                raise ConnectionError(got[:100])
    finally:
        s.close()


def worker(port: int, cafile: str, mode: str, seconds: float, threads: int) -> dict:
    """Connections for ``seconds`` from ``threads`` threads: mode is tls,
    tls+ws or ws."""
    ctx = None
    if mode.startswith("tls"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cafile)
    upgrade = mode.endswith("ws")
    counts = [0] * threads
    errors: list[str] = []
    stop = time.monotonic() + seconds

    def loop(k: int) -> None:
        while time.monotonic() < stop:
            try:
                one_connection(port, ctx, upgrade)
                counts[k] += 1
            except Exception as e:  # counted, the first ones reported
                errors.append(repr(e))
                if len(errors) > 20:
                    return

    t0 = time.monotonic()
    pool = [threading.Thread(target=loop, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    secs = time.monotonic() - t0
    return {"connections": sum(counts), "secs": secs, "errors": len(errors),
            "first_errors": errors[:3]}  # fmt: skip


# ---------------------------------------------------------------- driver


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_handshakes(srv, cafile: str, mode: str, args, lcpu) -> dict | None:
    argv = [sys.executable, os.path.abspath(__file__), "--worker", str(srv.port), cafile, mode,
            str(args.duration), str(args.threads)]  # fmt: skip
    if lcpu is not None:
        argv = ["taskset", "-c", str(lcpu), *argv]
    cpu0 = cpu_seconds(srv.proc.pid)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=args.duration + 60)
    cpu1 = cpu_seconds(srv.proc.pid)
    if p.returncode != 0:
        run.log(f"handshake worker failed: {p.stderr.strip()[-500:]}")
        return None
    r = json.loads(p.stdout)
    if r["errors"]:
        run.log(f"{mode}: {r['errors']} errors, e.g. {r['first_errors']}")
    n = r["connections"]
    r["rate"] = n / r["secs"] if r["secs"] else 0.0
    r["server_cpu_us"] = (cpu1 - cpu0) / n * 1e6 if n else 0.0
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3, help="runs per cell; the best is shown")
    ap.add_argument("--threads", type=int, default=4, help="handshake client threads")
    ap.add_argument("--builddir", default=os.path.join(HERE, "build-release"))
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--load-cpu", default="1")
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--cc", default=os.environ.get("CC", "gcc"))
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-handshakes", action="store_true")
    ap.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        port, cafile, mode, secs, threads = args.worker
        print(json.dumps(worker(int(port), cafile, mode, float(secs), int(threads))))
        return 0

    pin = not args.no_pin and shutil.which("taskset") and (os.cpu_count() or 1) >= 2
    scpu = args.server_cpu if pin else None
    lcpu = args.load_cpu if pin else None
    atexit.register(run.stop_all)
    signal.signal(signal.SIGTERM, run._on_signal)
    signal.signal(signal.SIGINT, run._on_signal)

    c_server, why = run.build_c_server(args.builddir)
    if c_server is None:
        sys.exit("cannot build the C echo server: " + why)
    cache = tempfile.mkdtemp(prefix="pylws-tls-bench-")
    atexit.register(shutil.rmtree, cache, True)
    os.environ["XDG_CACHE_HOME"] = cache  # the server's --ssl makes its certificate here
    cafile = os.path.join(cache, "pylws", "localhost-cert.pem")
    servers = {
        "plain": run.Server("c-plain", [*IGNORE_SIGPIPE, c_server, "--port", "{port}"]),
        "tls": run.Server("c-tls", [*IGNORE_SIGPIPE, c_server, "--port", "{port}", "--ssl"]),
    }
    busy = run.cpu_busy()
    if any(v > 0.25 for v in busy.values()):
        run.log(f"warning: CPUs busy before the start ({busy}): the figures will be noisy")

    throughput: dict[tuple[str, str], dict | None] = {}
    handshakes: dict[str, dict | None] = {}
    exe = None
    if not args.skip_throughput:
        # the load client is on the core too: SIGPIPE ignored as well (a script
        # that execs it, since run.run_load starts exe as given)
        built = client_load.build_client_load(args.cc, args.builddir)
        exe = os.path.join(cache, "pylws_client_load")
        with open(exe, "w") as f:
            f.write(f'#!/bin/sh\ntrap "" PIPE\nexec {shlex.quote(built)} "$@"\n')
        os.chmod(exe, 0o755)
    for kind, srv in servers.items():
        srv.start(scpu, 20)
        try:
            for scenario in [] if exe is None else THROUGHPUT_SCENARIOS:
                conns, inflight, size, text = run.SCENARIOS[scenario]
                best = None
                for _ in range(args.repeat):
                    fields, err = run.run_load(
                        exe, srv.port, lcpu, conns, inflight, size, text, args.duration,
                        args.warmup, extra=["--ssl", "2" if kind == "tls" else "0"],
                    )  # fmt: skip
                    if err:
                        run.log(f"{kind} {scenario}: {err}")
                    if fields and (best is None or fields["msg_per_s"] > best["msg_per_s"]):
                        best = fields
                throughput[(kind, scenario)] = best
                shown = run.fmt_rate(best["msg_per_s"]) if best else "failed"
                run.log(f"{kind:6} {scenario:12} {shown}")
            modes = ["tls", "tls+ws"] if kind == "tls" else ["ws"]
            for mode in [] if args.skip_handshakes else modes:
                best = None
                for _ in range(args.repeat):
                    r = measure_handshakes(srv, cafile, mode, args, lcpu)
                    if r and (best is None or r["rate"] > best["rate"]):
                        best = r
                handshakes[mode] = best
                if best:
                    run.log(f"{mode:7} {best['rate']:.0f}/s, server {best['server_cpu_us']:.0f} µs")
            if not srv.alive():
                run.log(f"warning: the {kind} server died: see {srv.logpath}")
        finally:
            srv.stop()

    if throughput:
        print("\n| scenario | plain msg/s (MB/s) | TLS msg/s (MB/s) | TLS / plain |")
        print("| --- | --- | --- | --- |")
        for scenario in THROUGHPUT_SCENARIOS:
            p, t = throughput.get(("plain", scenario)), throughput.get(("tls", scenario))

            def cell(f):
                return f"{run.fmt_rate(f['msg_per_s'])} ({f['MB_per_s']:.1f})" if f else "failed"

            ratio = f"{t['msg_per_s'] / p['msg_per_s']:.2f}" if p and t else ""
            print(f"| {scenario} | {cell(p)} | {cell(t)} | {ratio} |")
    if handshakes:
        print("\n| connection | per second (client-bound) | server CPU each | one server core |")
        print("| --- | --- | --- | --- |")
        names = {"ws": "TCP + WebSocket upgrade (plain)", "tls": "TCP + TLS handshake",
                 "tls+ws": "TCP + TLS + WebSocket upgrade"}  # fmt: skip
        for mode in ["ws", "tls", "tls+ws"]:
            r = handshakes.get(mode)
            if r:
                cap = 1e6 / r["server_cpu_us"] if r["server_cpu_us"] else 0
                print(f"| {names[mode]} | {r['rate']:.0f} | {r['server_cpu_us']:.0f} µs "
                      f"| {cap:.0f}/s |")  # fmt: skip
    ok = all(throughput.values()) and all(handshakes.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

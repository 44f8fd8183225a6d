#!/usr/bin/env python3
"""Compressed echo benchmark: permessage-deflate, our servers vs `websockets`.

    python bench/deflate_bench.py                    # every server x scenario, best of 2
    python bench/deflate_bench.py --quick            # 1 s windows, best of 1
    python bench/deflate_bench.py --servers c --scenarios json-1K-100x10

bench/deflate_load.c (an echo load generator on pylws's own client with the
built-in permessage-deflate, linked with the release build's libpylws.a)
runs pinned to CPU 1 against each server pinned to CPU 0: the C echo server
(examples/echo_server.c, release build), the Python one
(examples/echo_server.py) and the `websockets` library's
(bench/websockets_echo.py --compression deflate).  The messages are JSON-like
text (64 different records of words, numbers and tags, the same every run).
Each server is first checked with a short run comparing every echoed byte;
every cell runs with compression ("deflate") and, for comparison, without
("plain": the client offers nothing).  Printed: messages/s, MB/s of payload
one way, the wire ratio: TCP bytes both ways / payload bytes both ways
(frame headers included; 1.00 = no compression), and the server's CPU: its
time per echoed message and its share of its CPU during the run (below
100 % the load generator, which compresses and inflates as much as the
server does, is the limit, and the CPU time per message is the figure that
compares the servers).  Servers are started and
stopped by PID as bench/run.py does (whose helpers this uses).
"""

from __future__ import annotations

import argparse
import atexit
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  (bench/run.py: servers, builds, stopping by PID)

ROOT = run.ROOT

# name: (connections, in flight each, message bytes)
SCENARIOS = {
    "json-1K-100x10": (100, 10, 1024),
    "json-64K-10x1": (10, 1, 64 * 1024),
    "json-1K-1x1": (1, 1, 1024),
}
DEFAULT_SCENARIOS = ["json-1K-100x10", "json-64K-10x1"]


def build_load(cc: str, builddir: str) -> str:
    """Link deflate_load.c with the release build's static library."""
    p = subprocess.run(
        ["meson", "compile", "-C", builddir, "pylws:static_library"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if p.returncode != 0:
        sys.exit("meson compile of libpylws.a failed:\n" + (p.stdout + p.stderr)[-2000:])
    libs = ["-lz", "-lm", "-pthread"]
    pc_dir = os.path.join(builddir, "meson-uninstalled")
    if shutil.which("pkg-config") and os.path.isdir(pc_dir):
        q = subprocess.run(
            ["pkg-config", "--static", "--libs", "pylws"],
            env=dict(os.environ, PKG_CONFIG_PATH=pc_dir),
            capture_output=True,
            text=True,
        )
        if q.returncode == 0:
            libs = [a for a in shlex.split(q.stdout) if a != "-lpylws" and not a.startswith("-L")]
    src = os.path.join(HERE, "deflate_load.c")
    exe = os.path.join(HERE, "deflate_load")
    include = os.path.join(ROOT, "native", "include")
    static = os.path.join(builddir, "libpylws.a")
    cmd = [cc, "-O2", "-march=native", "-std=c11", "-Wall", "-I", include, "-o", exe, src, static]
    run.log("building deflate_load: " + shlex.join(cmd + libs))
    subprocess.check_call(cmd + libs)
    return exe


def cpu_seconds(pid):
    """User + system CPU time of a process so far, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(exe, port, cpu, conns, inflight, size, deflate, duration, warmup, extra=(), pid=None):
    argv = [exe, "-q", "-p", str(port), "-c", str(conns), "-i", str(inflight), "-s", str(size)]
    argv += ["-d", str(duration), "-w", str(warmup), *extra]
    if not deflate:
        argv.append("--no-deflate")
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu)] + argv
    limit = warmup + duration + 40
    cpu0, t0 = cpu_seconds(pid) if pid else None, time.monotonic()
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return None, f"deflate_load timed out after {limit:.0f} s"
    cpu1, t1 = cpu_seconds(pid) if pid else None, time.monotonic()
    m = run.RESULT_RE.search(p.stdout)
    if p.returncode != 0 or not m:
        err = p.stderr.strip().splitlines() or [f"exit {p.returncode}, no output"]
        return None, " | ".join(err[:3])
    fields = {}
    for kv in m.group(1).split():
        k, _, v = kv.partition("=")
        try:
            fields[k] = float(v) if "." in v else int(v)
        except ValueError:
            fields[k] = v
    if cpu0 is not None and cpu1 is not None and fields.get("total_msgs"):
        fields["server_us_per_msg"] = (cpu1 - cpu0) / fields["total_msgs"] * 1e6
        fields["server_cpu_pct"] = (cpu1 - cpu0) / (t1 - t0) * 100
    return fields, None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--servers", default="c,python,websockets")
    ap.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS),
                    help="comma list of " + ", ".join(SCENARIOS))  # fmt: skip
    ap.add_argument("--modes", default="deflate,plain")
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=2, help="runs per cell; the best is shown")
    ap.add_argument("--quick", action="store_true", help="1 s windows, 0.3 s warm-up, best of 1")
    ap.add_argument("--builddir", default=os.path.join(HERE, "build-release"))
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--load-cpu", default="1")
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--cc", default=os.environ.get("CC", "gcc"))
    args = ap.parse_args()
    if args.quick:
        args.duration, args.warmup, args.repeat = 1.0, 0.3, 1

    scenarios = [s for s in args.scenarios.split(",") if s]
    for s in scenarios:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario {s!r} (have: {', '.join(SCENARIOS)})")
    modes = [m for m in args.modes.split(",") if m]
    pin = not args.no_pin and shutil.which("taskset") and (os.cpu_count() or 1) >= 2
    scpu = args.server_cpu if pin else None
    lcpu = args.load_cpu if pin else None

    atexit.register(run.stop_all)
    signal.signal(signal.SIGTERM, run._on_signal)
    signal.signal(signal.SIGINT, run._on_signal)

    c_server, why = run.build_c_server(args.builddir)
    if c_server is None:
        sys.exit("cannot build the C echo server: " + why)
    exe = build_load(args.cc, args.builddir)
    servers = {
        "c": run.Server("c", [c_server, "--port", "{port}"]),
        "python": run.Server(
            "python",
            [sys.executable, os.path.join(ROOT, "examples", "echo_server.py"), "--port", "{port}"],
        ),
        "websockets": run.Server(
            "websockets",
            [
                sys.executable,
                os.path.join(HERE, "websockets_echo.py"),
                "--port",
                "{port}",
                "--compression",
                "deflate",
                "--max-queue",
                "0",
            ],
        ),
    }
    busy = run.cpu_busy()
    if any(v > 0.25 for v in busy.values()):
        run.log(f"warning: CPUs busy before the start ({busy}): the figures will be noisy")

    rows = []
    for name in [s for s in args.servers.split(",") if s]:
        srv = servers[name]
        srv.start(scpu, 20)
        try:
            # every echoed byte compared, compressed and not, before measuring
            for deflate in (True, False):
                _, err = load(exe, srv.port, lcpu, 4, 4, 3000, deflate, 0.5, 0, ["-V"])
                if err:
                    run.log(f"{name}: verification failed ({'deflate' if deflate else 'plain'}):"
                            f" {err}")  # fmt: skip
            for scenario in scenarios:
                conns, inflight, size = SCENARIOS[scenario]
                for mode in modes:
                    best, err = None, None
                    for _ in range(args.repeat):
                        deflate = mode == "deflate"
                        fields, err = load(
                            exe, srv.port, lcpu, conns, inflight, size, deflate,
                            args.duration, args.warmup, pid=srv.proc.pid,
                        )  # fmt: skip
                        if fields and (best is None or fields["msg_per_s"] > best["msg_per_s"]):
                            best = fields
                    rows.append((name, scenario, mode, best, err))
                    shown = (
                        f"{run.fmt_rate(best['msg_per_s'])} msg/s, ratio {best['ratio']:.3f}"
                        if best
                        else f"failed: {err}"
                    )
                    run.log(f"{name:10} {scenario:15} {mode:8} {shown}")
        finally:
            srv.stop()

    print()
    print(
        "| server | scenario | mode | msg/s | MB/s | wire ratio | server CPU per msg | server CPU |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, scenario, mode, best, err in rows:
        if best:
            us = best.get("server_us_per_msg")
            pct = best.get("server_cpu_pct")
            print(
                f"| {name} | {scenario} | {mode} | {run.fmt_rate(best['msg_per_s'])} "
                f"| {run.fmt_mb(best['MB_per_s'])} | {best['ratio']:.3f} "
                f"| {'-' if us is None else f'{us:.1f} µs'} "
                f"| {'-' if pct is None else f'{pct:.0f} %'} |"
            )
        else:
            print(f"| {name} | {scenario} | {mode} | failed: {err} | | | | |")
    return 0 if all(best for *_, best, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

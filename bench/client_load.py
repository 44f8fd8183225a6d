#!/usr/bin/env python3
"""Client-side figure: pylws's own C client driving echo servers.

    python bench/client_load.py                     # 64B-100x10, best of 3
    python bench/client_load.py --scenarios 64B-100x10,64B-1x1,64K-1x1,1M-1x1
    python bench/client_load.py --servers c --duration 2 --repeat 1

bench/pylws_client_load.c (an echo load generator written on
libwebsocket_client_connect and the CLIENT_* callbacks, linked with the
release build's libpylws.a) runs pinned to CPU 1 against each server pinned
to CPU 0: the project's C echo server and the ``websockets`` baseline
(bench/websockets_echo.py).  For comparison the same scenarios also run with
bench/echo_load.c, the hand-written epoll client run.py uses, so the table
shows what the library's client costs next to a minimal one.  Servers are
started and stopped by PID exactly as run.py does (whose helpers this uses).
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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  (bench/run.py: servers, builds, stopping by PID)

ROOT = run.ROOT


def build_client_load(cc: str, builddir: str) -> str:
    """Link pylws_client_load.c with the release build's static library."""
    p = subprocess.run(
        ["meson", "compile", "-C", builddir, "pylws:static_library"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if p.returncode != 0:
        sys.exit("meson compile of libpylws.a failed:\n" + (p.stdout + p.stderr)[-2000:])
    static = os.path.join(builddir, "libpylws.a")
    # the library's own dependencies, as its uninstalled pkg-config file says
    libs = ["-lm", "-pthread"]
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
    src = os.path.join(HERE, "pylws_client_load.c")
    exe = os.path.join(HERE, "pylws_client_load")
    include = os.path.join(ROOT, "native", "include")
    cmd = [cc, "-O2", "-march=native", "-std=c11", "-Wall", "-I", include, "-o", exe, src, static]
    cmd += libs
    run.log("building pylws_client_load: " + shlex.join(cmd))
    subprocess.check_call(cmd)
    return exe


def load(exe: str, port: int, cpu: str | None, scenario: str, duration: float, warmup: float):
    conns, inflight, size, text = run.SCENARIOS[scenario]
    return run.run_load(exe, port, cpu, conns, inflight, size, text, duration, warmup)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--servers", default="c,websockets", help="comma list of c, websockets")
    ap.add_argument("--scenarios", default="64B-100x10", help="names from bench/run.py")
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3, help="runs per cell; the best is shown")
    ap.add_argument("--builddir", default=os.path.join(HERE, "build-release"))
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--load-cpu", default="1")
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--cc", default=os.environ.get("CC", "gcc"))
    args = ap.parse_args()

    scenarios = [s for s in args.scenarios.split(",") if s]
    for s in scenarios:
        if s not in run.SCENARIOS:
            ap.error(f"unknown scenario {s!r} (have: {', '.join(run.SCENARIOS)})")
    pin = not args.no_pin and shutil.which("taskset") and (os.cpu_count() or 1) >= 2
    scpu = args.server_cpu if pin else None
    lcpu = args.load_cpu if pin else None

    atexit.register(run.stop_all)
    signal.signal(signal.SIGTERM, run._on_signal)
    signal.signal(signal.SIGINT, run._on_signal)

    c_server, why = run.build_c_server(args.builddir)
    if c_server is None:
        sys.exit("cannot build the C echo server: " + why)
    clients = {
        "pylws client": build_client_load(args.cc, args.builddir),
        "echo_load": run.build_echo_load(args.cc),
    }
    servers = {
        "c": run.Server("c", [c_server, "--port", "{port}"]),
        "websockets": run.Server(
            "websockets",
            [sys.executable, os.path.join(HERE, "websockets_echo.py"), "--port", "{port}"],
        ),
    }
    wanted = [s for s in args.servers.split(",") if s]
    busy = run.cpu_busy()
    if any(v > 0.25 for v in busy.values()):
        run.log(f"warning: CPUs busy before the start ({busy}): the figures will be noisy")

    rows = []
    for name in wanted:
        srv = servers[name]
        srv.start(scpu, 20)
        try:
            for scenario in scenarios:
                for client, exe in clients.items():
                    best, err = None, None
                    for _ in range(args.repeat):
                        fields, err = load(
                            exe, srv.port, lcpu, scenario, args.duration, args.warmup
                        )
                        if fields and (best is None or fields["msg_per_s"] > best["msg_per_s"]):
                            best = fields
                    rows.append((name, scenario, client, best, err))
                    shown = run.fmt_rate(best["msg_per_s"]) if best else f"failed: {err}"
                    run.log(f"{name:10} {scenario:12} {client:13} {shown}")
        finally:
            srv.stop()

    print()
    print("| server | scenario | load generator | msg/s | MB/s |")
    print("| --- | --- | --- | --- | --- |")
    for name, scenario, client, best, err in rows:
        if best:
            print(
                f"| {name} | {scenario} | {client} | {run.fmt_rate(best['msg_per_s'])} "
                f"| {best['MB_per_s']:.1f} |"
            )
        else:
            print(f"| {name} | {scenario} | {client} | failed: {err} | |")
    return 0 if all(best for *_, best, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

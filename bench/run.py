#!/usr/bin/env python3
"""Echo benchmark: every server x every scenario -> msg/s and MB/s.

    python bench/run.py                      # all servers found, default scenarios
    python bench/run.py --quick              # < 1 minute
    python bench/run.py --servers c,min --scenarios 64B-100x10 --repeat 3
    python bench/run.py --server lws=/opt/lws-echo --json out.json --plot out.png

Each server runs pinned to CPU 0 (taskset -c 0) and the load generator
(bench/echo_load.c, built here with gcc) pinned to CPU 1, on 127.0.0.1 only.
Servers are started one at a time, checked with a short payload-verifying run,
measured on each scenario, and stopped by PID (SIGTERM, then SIGKILL after a
timeout), also on errors and Ctrl-C.  See bench/README.md.
"""

import argparse
import atexit
import contextlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
KIB, MIB = 1024, 1024 * 1024

# name: (connections, in flight per connection, payload bytes, text?)
SCENARIOS = {
    "64B-1x1": (1, 1, 64, False),
    "64B-1x10": (1, 10, 64, False),
    "64B-100x10": (100, 10, 64, False),
    "64K-1x1": (1, 1, 64 * KIB, False),
    "64K-100x1": (100, 1, 64 * KIB, False),
    "1M-1x1": (1, 1, MIB, False),
    # extras
    "1K-100x10": (100, 10, KIB, False),
    "64B-100x10-text": (100, 10, 64, True),
    "64K-1x1-text": (1, 1, 64 * KIB, True),
    "1M-1x4": (1, 4, MIB, False),
    # the load generator pinned to the server's CPU: no cross-CPU wake-up per
    # round trip, so the figure is each server's own cost per message
    "64B-1x1-1cpu": (1, 1, 64, False),
}
SAME_CPU = {"64B-1x1-1cpu"}
CORE = ["64B-1x1", "64B-1x10", "64B-100x10", "64K-1x1", "64K-100x1", "1M-1x1"]
DEFAULT_SCENARIOS = CORE + ["1K-100x10", "64B-100x10-text", "64K-1x1-text"]
# --scenarios peers: the issue-15 comparison (the table of --report)
PEER_SCENARIOS = ["64B-100x10", "64B-1x1", "64B-1x1-1cpu", "64K-1x1", "1M-1x1"]
# built-in servers: ours, then the peers users would pick instead, then baselines
ALL_SERVERS = ["c", "python", "whole", "aio", "picows", "websockets", "lws4", "tcp", "min"]
DEFAULT_SERVERS = ALL_SERVERS

_live = {}  # pid -> Popen, servers to stop at exit


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes


def stop_server(proc, timeout=5.0):
    """Stop one server by its PID: SIGTERM, then SIGKILL after timeout."""
    if proc is None:
        return
    _live.pop(proc.pid, None)
    if proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)


def stop_all():
    for proc in list(_live.values()):
        stop_server(proc, 2.0)


def _on_signal(signum, frame):
    stop_all()
    sys.exit(128 + signum)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(proc, port, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


# ---------------------------------------------------------------- builds


def build_echo_load(cc):
    src = os.path.join(HERE, "echo_load.c")
    exe = os.path.join(HERE, "echo_load")
    if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
        cmd = [cc, "-O3", "-march=native", "-std=c11", "-Wall", "-o", exe, src]
        log("building echo_load: " + " ".join(cmd))
        subprocess.check_call(cmd)
    out = subprocess.run([exe, "--selftest"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("echo_load --selftest failed:\n" + out.stdout + out.stderr)
    return exe


def build_min_echo(cc):
    src = os.path.join(HERE, "min_echo.c")
    exe = os.path.join(HERE, "min_echo")
    if os.path.exists(exe) and os.path.getmtime(exe) >= os.path.getmtime(src):
        return exe, None
    cmd = [cc, "-O2", "-march=native", "-std=c11", "-o", exe, src, "-lcrypto"]
    log("building min_echo: " + " ".join(cmd))
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        return None, "build failed (needs libssl-dev): " + p.stderr.strip()[-300:]
    return exe, None


def build_tcp_echo(cc):
    src = os.path.join(HERE, "tcp_echo.c")
    exe = os.path.join(HERE, "tcp_echo")
    if os.path.exists(exe) and os.path.getmtime(exe) >= os.path.getmtime(src):
        return exe, None
    cmd = [cc, "-O2", "-march=native", "-std=c11", "-o", exe, src]
    log("building tcp_echo: " + " ".join(cmd))
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        return None, "build failed: " + p.stderr.strip()[-300:]
    return exe, None


def build_lws4_echo(cc):
    """bench/lws4_echo.c against the system's libwebsockets 4.x (pkg-config).

    Only pkg-config's flags are given (never this repo's native/include), so
    <libwebsockets.h> is the system's header."""
    src = os.path.join(HERE, "lws4_echo.c")
    exe = os.path.join(HERE, "lws4_echo")
    if not shutil.which("pkg-config"):
        return None, "pkg-config not found"
    info = []
    for what in ("--modversion", "--cflags", "--libs"):
        p = subprocess.run(["pkg-config", what, "libwebsockets"], capture_output=True, text=True)
        if p.returncode != 0:
            return None, "libwebsockets 4.x is not installed (apt-get install libwebsockets-dev)"
        info.append(p.stdout.strip())
    version, flags = info[0], info[1] + " " + info[2]
    if not version.startswith("4."):
        return None, "pkg-config's libwebsockets is %s, not 4.x" % version
    if os.path.exists(exe) and os.path.getmtime(exe) >= os.path.getmtime(src):
        return exe, None
    cmd = [cc, "-O2", "-std=c11", "-o", exe, src] + shlex.split(flags)
    log("building lws4_echo: " + " ".join(cmd))
    p = subprocess.run(cmd, cwd=HERE, capture_output=True, text=True)
    if p.returncode != 0:
        return None, "build failed: " + p.stderr.strip()[-300:]
    return exe, None


def python_module_ok(python, *modules):
    """None when every module imports with this interpreter, else why not."""
    p = subprocess.run(
        [python, "-c", "import " + ", ".join(modules)], cwd="/", capture_output=True, text=True
    )
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["?"])[-1]
        return "%s: %s (pip install '.[bench]')" % (" + ".join(modules), last)
    return None


# name: (script in bench/, modules it needs, note)
PY_SERVERS = {
    "whole": (
        "echo_server_whole.py",
        ("pylws_ffi",),
        "bench/echo_server_whole.py, C-style Python callbacks, whole messages",
    ),
    "aio": ("aio_echo.py", ("pylws_ffi", "uvloop"), "bench/aio_echo.py, pylws asyncio + uvloop"),
    "picows": ("picows_echo.py", ("picows", "uvloop"), "bench/picows_echo.py, picows + uvloop"),
}


def build_c_server(builddir):
    """meson build of examples/echo_server.c; returns (path, None) or (None, why)."""
    if not shutil.which("meson"):
        return None, "meson not found"
    if not os.path.exists(os.path.join(ROOT, "examples", "echo_server.c")):
        return None, "examples/echo_server.c does not exist yet"
    if not os.path.exists(os.path.join(builddir, "build.ninja")):
        cmd = ["meson", "setup", builddir, "--buildtype=release", "-Dpython=false"]
        log("configuring the C server: " + " ".join(cmd))
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if p.returncode != 0:
            shutil.rmtree(builddir, ignore_errors=True)
            return None, "meson setup failed: " + (p.stdout + p.stderr).strip()[-600:]
    log("building the C server: meson compile -C %s echo_server" % os.path.relpath(builddir, ROOT))
    p = subprocess.run(
        ["meson", "compile", "-C", builddir, "echo_server"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if p.returncode != 0:
        return None, "meson compile failed: " + (p.stdout + p.stderr).strip()[-800:]
    for dirpath, _, files in os.walk(builddir):
        for f in files:
            if f == "echo_server" and os.access(os.path.join(dirpath, f), os.X_OK):
                return os.path.join(dirpath, f), None
    return None, "echo_server binary not found under " + builddir


def python_package_ok(python):
    p = subprocess.run(
        [python, "-c", "import pylws_ffi, pylws_ffi._pylws_cffi"],
        cwd="/",
        capture_output=True,
        text=True,
    )
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["?"])[-1]
        return "pylws_ffi is not importable (pip install . in the repo): " + last
    if not os.path.exists(os.path.join(HERE, "echo_server_tuned.py")):
        return "bench/echo_server_tuned.py is missing"
    return None


# ---------------------------------------------------------------- servers


class Server:
    def __init__(self, name, argv, note="", raw=False):
        self.name, self.argv, self.note = name, argv, note  # argv has {port}
        self.raw = raw  # a raw TCP echo: echo_load --raw
        self.proc, self.port, self.logpath = None, None, None

    def start(self, cpu, startup_timeout):
        self.port = free_port()
        argv = [a.replace("{port}", str(self.port)) for a in self.argv]
        if cpu is not None:
            argv = ["taskset", "-c", str(cpu)] + argv
        os.makedirs(RESULTS, exist_ok=True)
        self.logpath = os.path.join(RESULTS, "server-%s.log" % re.sub(r"\W", "_", self.name))
        with open(self.logpath, "ab") as logf:
            logf.write(("\n=== %s: %s\n" % (time.strftime("%H:%M:%S"), shlex.join(argv))).encode())
            logf.flush()
            self.proc = subprocess.Popen(
                argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT
            )
        _live[self.proc.pid] = self.proc
        if not wait_listening(self.proc, self.port, startup_timeout):
            rc = self.proc.poll()
            self.stop()
            raise RuntimeError(
                "%s did not start listening on port %d%s\n%s"
                % (
                    self.name,
                    self.port,
                    "" if rc is None else " (exit %s)" % rc,
                    tail(self.logpath),
                )
            )

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        stop_server(self.proc)
        self.proc = None


# ---------------------------------------------------------------- load

RESULT_RE = re.compile(r"^result (.*)$", re.M)


def load_cpu_for(sc, scpu, lcpu):
    """The CPU echo_load is pinned to in scenario sc: the server's own for the
    SAME_CPU scenarios."""
    return scpu if sc in SAME_CPU else lcpu


def same_cpu_note(scenarios):
    """What the reports add after "echo_load on CPU n" when some scenarios put
    it on the server's CPU."""
    same = [sc for sc in scenarios if sc in SAME_CPU]
    return " (the server's CPU in %s)" % ", ".join(same) if same else ""


def run_load(
    exe,
    port,
    cpu,
    conns,
    inflight,
    size,
    text,
    duration=None,
    warmup=0.0,
    count=None,
    extra=(),
    timeout=None,
):
    argv = [
        exe,
        "-q",
        "-p",
        str(port),
        "-c",
        str(conns),
        "-i",
        str(inflight),
        "-s",
        str(size),
        "-w",
        str(warmup),
    ]
    argv += ["-n", str(count)] if count else ["-d", str(duration)]
    if text:
        argv.append("-t")
    argv += list(extra)
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu)] + argv
    limit = timeout or (warmup + (duration or 0) + 40)
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return None, "echo_load timed out after %.0f s" % limit
    m = RESULT_RE.search(p.stdout)
    fields = {}
    if m:
        for kv in m.group(1).split():
            k, _, v = kv.partition("=")
            try:
                fields[k] = float(v) if "." in v else int(v)
            except ValueError:
                fields[k] = v
    if p.returncode != 0 or not m:
        err = p.stderr.strip().splitlines() or ["exit %d, no output" % p.returncode]
        return None, " | ".join(err[:3])
    return fields, None


def verify_server(exe, srv, cpu):
    """Short runs that check every echoed byte: binary, text, fragmented, large."""
    if srv.raw:
        checks = [
            dict(conns=2, inflight=4, size=1000, text=False, count=400, extra=["--raw", "-V"]),
            dict(conns=1, inflight=2, size=200000, text=False, count=20, extra=["--raw", "-V"]),
        ]
    else:
        checks = [
            dict(conns=2, inflight=4, size=1000, text=False, count=400),
            dict(conns=2, inflight=4, size=1000, text=True, count=400, extra=["-V", "-f", "300"]),
            dict(
                conns=1, inflight=2, size=200000, text=False, count=20, extra=["-V", "-f", "65536"]
            ),
            dict(conns=1, inflight=1, size=0, text=False, count=10),
        ]
    for c in checks:
        extra = c.pop("extra", ["-V"])
        r, err = run_load(exe, srv.port, cpu, warmup=0, extra=extra, timeout=60, **c)
        if err:
            return "verification failed (%s): %s" % (
                ", ".join("%s=%s" % kv for kv in c.items()),
                err,
            )
    return None


# ---------------------------------------------------------------- output


def fmt_rate(v):
    if v is None:
        return "-"
    if v >= 1e6:
        return "%.2fM" % (v / 1e6)
    if v >= 1e4:
        return "%.0fk" % (v / 1e3)
    if v >= 1e3:
        return "%.1fk" % (v / 1e3)
    return "%.0f" % v


def fmt_mb(v):
    if v is None:
        return "-"
    return "%.0f" % v if v >= 100 else "%.1f" % v if v >= 1 else "%.2f" % v


def print_table(results, servers, scenarios, key, title, fmt):
    names = [s.name for s in servers]
    w0 = max([len("scenario")] + [len(s) for s in scenarios]) + 2
    ws = [max(9, len(n) + 2) for n in names]
    print()
    print(title)
    print("scenario".ljust(w0) + "".join(n.rjust(w) for n, w in zip(names, ws)))
    for sc in scenarios:
        row = sc.ljust(w0)
        for n, w in zip(names, ws):
            r = results.get((n, sc))
            if r is None:
                cell = "-"
            elif r.get("error"):
                cell = "ERR"
            else:
                cell = fmt(r["best"][key])
            row += cell.rjust(w)
        print(row)


def cpu_busy(interval=0.5):
    """Busy share of each CPU over interval seconds, from /proc/stat."""

    def sample():
        out = {}
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("cpu") and line[3].isdigit():
                    parts = line.split()
                    vals = [int(x) for x in parts[1:]]
                    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
                    out[parts[0]] = (sum(vals[:8]), idle)
        return out

    try:
        a = sample()
        time.sleep(interval)
        b = sample()
    except OSError:
        return {}
    busy = {}
    for k in b:
        tot = b[k][0] - a[k][0]
        busy[k] = round(1.0 - (b[k][1] - a[k][1]) / tot, 3) if tot > 0 else 0.0
    return busy


def machine_info():
    info = {
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    with contextlib.suppress(OSError):
        info["loadavg"] = os.getloadavg()[0]
    return info


def plot(results, servers, scenarios, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("--plot: matplotlib is not installed, skipped")
        return
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    n = len(servers)
    width = 0.8 / max(n, 1)
    for ax, key, label in ((axes[0], "msg_per_s", "messages / s"), (axes[1], "MB_per_s", "MB / s")):
        for i, s in enumerate(servers):
            ys = []
            for sc in scenarios:
                r = results.get((s.name, sc))
                ys.append(r["best"][key] if r and not r.get("error") else 0)
            ax.bar([j + i * width for j in range(len(scenarios))], ys, width, label=s.name)
        ax.set_xticks([j + width * (n - 1) / 2 for j in range(len(scenarios))])
        ax.set_xticklabels(scenarios, rotation=30, ha="right")
        ax.set_yscale("log")
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend()
    note = same_cpu_note(scenarios)
    fig.suptitle("WebSocket echo (server on CPU 0, echo_load on CPU 1%s)" % note)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    log("plot written to " + path)


def headline(sc):
    """The figure a scenario is judged by: msg/s for small messages, MB/s for large."""
    return "MB_per_s" if SCENARIOS[sc][2] >= 64 * KIB else "msg_per_s"


def best_value(results, name, sc):
    r = results.get((name, sc))
    if not r or r.get("error"):
        return None
    return r["best"][headline(sc)]


def markdown_report(doc, servers, scenarios, results, skipped):
    """echo.md: servers x scenarios, then the same as ratios to picows and raw TCP."""
    names = [s.name for s in servers]
    cfg = doc["config"]
    out = ["# WebSocket echo: pylws beside its peers", ""]
    if doc.get("label"):
        out += ["**%s**" % doc["label"], ""]
    m = doc["machine"]
    out += [
        "Measured %s by `bench/run.py` (%s). Server pinned to CPU %s, echo_load to CPU %s%s, "
        "127.0.0.1; %.1f s measured after %.1f s warm-up, best of %d%s. Machine: %s, %s CPUs, "
        "Linux %s, Python %s; load average %.2f at the start."
        % (
            doc.get("date", "?"),
            " ".join(["--servers", ",".join(names), "--scenarios", ",".join(scenarios)]),
            cfg["server_cpu"],
            cfg["load_cpu"],
            same_cpu_note(scenarios),
            cfg["duration"],
            cfg["warmup"],
            cfg["repeat"],
            " (rounds interleaved: every server measured in turn each round)"
            if cfg.get("interleave")
            else "",
            m.get("cpu", "?"),
            m.get("cpus"),
            m.get("kernel"),
            m.get("python"),
            m.get("loadavg", 0.0),
        ),
        "",
        "64 B scenarios in messages per second, 64 KiB and 1 MiB in MB/s (payload, one "
        "direction, 10^6 B). Scenario `CxI`: C connections, I messages in flight on each.",
        "",
        "| server | what it is |",
        "| --- | --- |",
    ]
    out += ["| %s | %s |" % (s.name, s.note or shlex.join(s.argv)) for s in servers]
    for name, why in skipped:
        out.append("| %s | skipped: %s |" % (name, " ".join(why.split()).replace("|", "/")))
    out.append("")

    def table(title, cell):
        rows = ["**%s**" % title, "", "| scenario | " + " | ".join(names) + " |"]
        rows.append("| --- |" + " --- |" * len(names))
        for sc in scenarios:
            unit = "MB/s" if headline(sc) == "MB_per_s" else "msg/s"
            rows.append("| %s (%s) | " % (sc, unit) + " | ".join(cell(n, sc) for n in names) + " |")
        return rows + [""]

    def value(n, sc):
        r = results.get((n, sc))
        if r is None:
            return "-"
        if r.get("error"):
            return "error"
        v = r["best"][headline(sc)]
        return fmt_mb(v) if headline(sc) == "MB_per_s" else fmt_rate(v)

    def ratio_to(ref):
        def cell(n, sc):
            v, b = best_value(results, n, sc), best_value(results, ref, sc)
            return "-" if v is None or not b else "%.2f" % (v / b)

        return cell

    out += table("Throughput", value)
    for ref, what in (("picows", "picows + uvloop"), ("tcp", "raw TCP echo")):
        if ref in names:
            out += table("Ratio to %s (`%s` = 1.00)" % (what, ref), ratio_to(ref))
    if doc.get("problems"):
        out += ["Problems:", ""] + ["- " + p.splitlines()[0] for p in doc["problems"]] + [""]
    return "\n".join(out)


def plot_ratios(results, servers, scenarios, path, label=""):
    """Grouped bars, one group per scenario, each bar the server's figure divided
    by the raw TCP echo's (or the best server's when there is no `tcp`), with the
    absolute figure written on it: readable whatever the scale of each scenario."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("--report: matplotlib is not installed, no plot")
        return
    names = [s.name for s in servers]
    have_tcp = "tcp" in names
    fig, ax = plt.subplots(figsize=(max(8, 1.0 + 0.45 * len(names) * len(scenarios)), 5.2))
    width = 0.85 / max(len(names), 1)
    top = 1.0
    for i, n in enumerate(names):
        xs, ys, texts = [], [], []
        for j, sc in enumerate(scenarios):
            v = best_value(results, n, sc)
            if have_tcp:
                ref = best_value(results, "tcp", sc)
            else:
                ref = max((best_value(results, m, sc) or 0) for m in names)
            if v is None or not ref:
                continue
            xs.append(j + i * width)
            ys.append(v / ref)
            texts.append(fmt_mb(v) if headline(sc) == "MB_per_s" else fmt_rate(v))
        bars = ax.bar(xs, ys, width, label=n)
        for b, t in zip(bars, texts):
            ax.text(
                b.get_x() + b.get_width() / 2,
                b.get_height(),
                t,
                ha="center",
                va="bottom",
                fontsize=6.5,
                rotation=90,
            )
        top = max([top] + ys)
    ax.set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(scenarios))])
    ax.set_xticklabels(
        ["%s\n(%s)" % (sc, "MB/s" if headline(sc) == "MB_per_s" else "msg/s") for sc in scenarios]
    )
    ax.set_ylim(0, top * 1.3)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_ylabel("÷ raw TCP echo" if have_tcp else "÷ best server")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(ncol=min(len(names), 5), fontsize=8, loc="upper right")
    title = "WebSocket echo, server on CPU 0, echo_load on CPU 1%s (figures on the bars)" % (
        same_cpu_note(scenarios)
    )
    ax.set_title(title + ("\n" + label if label else ""), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    log("plot written to " + path)


def summarise(runs):
    best = max(runs, key=lambda r: r["msg_per_s"])
    return {
        "runs": runs,
        "best": best,
        "median_msg_per_s": statistics.median(r["msg_per_s"] for r in runs),
    }


def measure_interleaved(
    args, exe, servers, scenarios, scpu, lcpu, duration, warmup, results, problems
):
    """--interleave: every server runs at once (idle ones cost nothing), and each
    round measures every scenario on every server in turn, so a burst of load
    from elsewhere on a shared machine hits all servers alike, not one."""
    live = []
    try:
        for srv in servers:
            try:
                srv.start(scpu, 20.0)
            except RuntimeError as e:
                problems.append(str(e))
                log(str(e))
                for sc in scenarios:
                    results[(srv.name, sc)] = {"error": "did not start"}
                continue
            log("server %s (%s) pid %d on port %d" % (srv.name, srv.note, srv.proc.pid, srv.port))
            if not args.no_verify:
                why = verify_server(exe, srv, lcpu)
                if why:
                    problems.append("%s: %s" % (srv.name, why))
                    log("  %s" % why)
                else:
                    log("  payload verification ok")
            live.append(srv)
        runs = {(srv.name, sc): [] for srv in live for sc in scenarios}
        failed = set()
        for rnd in range(args.repeat):
            log("round %d of %d" % (rnd + 1, args.repeat))
            for sc in scenarios:
                conns, inflight, size, text = SCENARIOS[sc]
                for srv in live:
                    key = (srv.name, sc)
                    if key in failed:
                        continue
                    if not srv.alive():
                        log("  %s died; restarting\n%s" % (srv.name, tail(srv.logpath, 5)))
                        srv.start(scpu, 20.0)
                    r, err = run_load(
                        exe,
                        srv.port,
                        load_cpu_for(sc, scpu, lcpu),
                        conns,
                        inflight,
                        size,
                        text,
                        duration=duration,
                        warmup=warmup,
                        extra=(["--raw"] if srv.raw else []) + shlex.split(args.load_args),
                    )
                    if err:
                        failed.add(key)
                        problems.append("%s %s: %s" % (srv.name, sc, err))
                        log("  %-10s %-16s ERROR %s" % (srv.name, sc, err))
                        results[key] = {"error": err, "runs": runs[key]}
                        continue
                    r["loadavg"] = round(os.getloadavg()[0], 2)
                    runs[key].append(r)
                    log(
                        "  %-10s %-16s %10s msg/s %9s MB/s"
                        % (srv.name, sc, fmt_rate(r["msg_per_s"]), fmt_mb(r["MB_per_s"]))
                    )
        for key, rs in runs.items():
            if key not in failed and rs:
                results[key] = summarise(rs)
    except RuntimeError as e:
        problems.append(str(e))
        log(str(e))
    finally:
        for srv in live:
            srv.stop()
        stop_all()


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="scenarios: "
        + ", ".join(
            "%s (%d conn x %d in flight, %d B%s)" % (k, *v[:3], " text" if v[3] else "")
            for k, v in SCENARIOS.items()
        ),
    )
    ap.add_argument(
        "--servers",
        default=",".join(DEFAULT_SERVERS),
        help="comma list of " + ", ".join(ALL_SERVERS) + " and --server names "
        "(default: %(default)s; unavailable ones are skipped)",
    )
    ap.add_argument(
        "--server",
        action="append",
        default=[],
        metavar="NAME=COMMAND",
        help="an extra server; {port} in COMMAND is replaced, else --port N is appended",
    )
    ap.add_argument(
        "--scenarios",
        default=None,
        help="comma list, or 'peers' for %s (default: all but 1M-1x4)" % ",".join(PEER_SCENARIOS),
    )
    ap.add_argument(
        "--quick", action="store_true", help="core scenarios, short runs: under a minute"
    )
    ap.add_argument(
        "--duration", type=float, default=None, help="seconds measured per run (default 3)"
    )
    ap.add_argument(
        "--warmup", type=float, default=None, help="seconds of load before measuring (default 1)"
    )
    ap.add_argument("--repeat", type=int, default=1, help="runs per cell; the table shows the best")
    ap.add_argument(
        "--interleave",
        action="store_true",
        help="start every server at once and measure them in turn, round by round "
        "(fairer ratios on a shared machine)",
    )
    ap.add_argument(
        "--c-server", metavar="PATH", help="C echo server binary (skip the meson build)"
    )
    ap.add_argument("--builddir", default=os.path.join(HERE, "build-release"))
    ap.add_argument("--python", default=sys.executable, help="interpreter for the Python servers")
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--load-cpu", default="1")
    ap.add_argument("--no-pin", action="store_true", help="do not use taskset")
    ap.add_argument(
        "--no-verify", action="store_true", help="skip the payload check of each server"
    )
    ap.add_argument(
        "--load-args",
        default="",
        metavar="ARGS",
        help="extra echo_load options for every measured run, e.g. '--busy-poll'",
    )
    ap.add_argument("--cc", default=os.environ.get("CC", "gcc"))
    ap.add_argument("--json", metavar="FILE", help="write all runs as JSON")
    ap.add_argument("--plot", metavar="PNG", help="bar chart (needs matplotlib)")
    ap.add_argument(
        "--report",
        metavar="DIR",
        help="write DIR/echo.md (Markdown table with ratios to picows and raw TCP), "
        "DIR/echo.json and DIR/echo.png",
    )
    ap.add_argument("--label", default="", help="a line for the report's heading")
    args = ap.parse_args()

    duration = args.duration if args.duration is not None else (0.5 if args.quick else 3.0)
    warmup = args.warmup if args.warmup is not None else (0.2 if args.quick else 1.0)
    if args.scenarios == "peers":
        scenarios = list(PEER_SCENARIOS)
    elif args.scenarios:
        scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    else:
        scenarios = CORE if args.quick else DEFAULT_SCENARIOS
    for s in scenarios:
        if s not in SCENARIOS:
            ap.error("unknown scenario %r (have: %s)" % (s, ", ".join(SCENARIOS)))
    pin = not args.no_pin and shutil.which("taskset") and (os.cpu_count() or 1) >= 2
    scpu = args.server_cpu if pin else None
    lcpu = args.load_cpu if pin else None
    if not pin:
        log("warning: not pinning (no taskset, fewer than 2 CPUs, or --no-pin)")

    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    exe = build_echo_load(args.cc)

    # ---- which servers
    extra = {}
    for spec in args.server:
        name, eq, cmd = spec.partition("=")
        if not eq or not name or not cmd:
            ap.error("--server wants NAME=COMMAND, got %r" % spec)
        argv = shlex.split(cmd)
        if not any("{port}" in a for a in argv):
            argv += ["--port", "{port}"]
        extra[name] = argv
    wanted = [s.strip() for s in args.servers.split(",") if s.strip()]
    wanted += [n for n in extra if n not in wanted]
    servers, skipped = [], []
    for name in wanted:
        if name in extra:
            servers.append(Server(name, extra[name], shlex.join(extra[name])))
        elif name == "c":
            path, why = (args.c_server, None) if args.c_server else build_c_server(args.builddir)
            if path:
                servers.append(
                    Server(
                        "c", [os.path.abspath(path), "--port", "{port}"], "examples/echo_server.c"
                    )
                )
            else:
                skipped.append((name, why))
        elif name == "python":
            why = python_package_ok(args.python)
            if why:
                skipped.append((name, why))
            else:
                servers.append(
                    Server(
                        "python",
                        [
                            args.python,
                            os.path.join(HERE, "echo_server_tuned.py"),
                            "--port",
                            "{port}",
                        ],
                        "bench/echo_server_tuned.py",
                    )
                )
        elif name == "websockets":
            servers.append(
                Server(
                    "websockets",
                    [args.python, os.path.join(HERE, "websockets_echo.py"), "--port", "{port}"],
                    "bench/websockets_echo.py",
                )
            )
        elif name == "min":
            path, why = build_min_echo(args.cc)
            if path:
                servers.append(Server("min", [path, "--port", "{port}"], "bench/min_echo.c"))
            else:
                skipped.append((name, why))
        elif name == "tcp":
            path, why = build_tcp_echo(args.cc)
            if path:
                servers.append(
                    Server("tcp", [path, "--port", "{port}"], "bench/tcp_echo.c, raw TCP", raw=True)
                )
            else:
                skipped.append((name, why))
        elif name == "lws4":
            path, why = build_lws4_echo(args.cc)
            if path:
                servers.append(
                    Server("lws4", [path, "--port", "{port}"], "bench/lws4_echo.c, libwebsockets 4")
                )
            else:
                skipped.append((name, why))
        elif name in PY_SERVERS:
            script, modules, note = PY_SERVERS[name]
            path = os.path.join(HERE, script)
            why = None
            if not os.path.exists(path):
                why = "bench/%s does not exist (yet)" % script
            elif "pylws_ffi" in modules:
                why = python_package_ok(args.python)
            why = why or python_module_ok(args.python, *modules)
            if why:
                skipped.append((name, why))
            else:
                servers.append(Server(name, [args.python, path, "--port", "{port}"], note))
        else:
            ap.error("unknown server %r (use --server NAME=COMMAND)" % name)
    for name, why in skipped:
        log("skipping server %s: %s" % (name, why))
    if not servers:
        sys.exit("no server to measure")

    info = machine_info()
    info["busy_before"] = cpu_busy()
    log(
        "machine: %s, %s CPUs; server on CPU %s, load on CPU %s%s; "
        "%.1f s warm-up + %.1f s per run, %d run(s) per cell"
        % (
            info.get("cpu", "?"),
            info["cpus"],
            scpu,
            lcpu,
            same_cpu_note(scenarios),
            warmup,
            duration,
            args.repeat,
        )
    )
    busy = max(info["busy_before"].values(), default=0.0)
    if busy > 0.1:
        log(
            "warning: the machine is not idle (%s busy before the start): figures will be noisy"
            % ", ".join("%s %.0f%%" % (k, v * 100) for k, v in sorted(info["busy_before"].items()))
        )

    results = {}
    problems = []
    started = time.time()
    if args.interleave:
        measure_interleaved(
            args, exe, servers, scenarios, scpu, lcpu, duration, warmup, results, problems
        )
    try:
        for srv in [] if args.interleave else servers:
            try:
                srv.start(scpu, 20.0)
            except RuntimeError as e:
                problems.append(str(e))
                log(str(e))
                for sc in scenarios:
                    results[(srv.name, sc)] = {"error": "did not start"}
                continue
            log("server %s (%s) pid %d on port %d" % (srv.name, srv.note, srv.proc.pid, srv.port))
            try:
                if not args.no_verify:
                    why = verify_server(exe, srv, lcpu)
                    if why:
                        problems.append("%s: %s" % (srv.name, why))
                        log("  %s" % why)
                    else:
                        log("  payload verification ok")
                    if not srv.alive():
                        srv.start(scpu, 20.0)
                for sc in scenarios:
                    conns, inflight, size, text = SCENARIOS[sc]
                    runs, err = [], None
                    for _ in range(args.repeat):
                        if not srv.alive():
                            log("  %s died; restarting\n%s" % (srv.name, tail(srv.logpath, 5)))
                            srv.start(scpu, 20.0)
                        r, err = run_load(
                            exe,
                            srv.port,
                            load_cpu_for(sc, scpu, lcpu),
                            conns,
                            inflight,
                            size,
                            text,
                            duration=duration,
                            warmup=warmup,
                            extra=(["--raw"] if srv.raw else []) + shlex.split(args.load_args),
                        )
                        if err:
                            break
                        r["loadavg"] = round(os.getloadavg()[0], 2)
                        runs.append(r)
                    if err:
                        problems.append("%s %s: %s" % (srv.name, sc, err))
                        log("  %-16s ERROR %s" % (sc, err))
                        results[(srv.name, sc)] = {"error": err, "runs": runs}
                        continue
                    best = max(runs, key=lambda r: r["msg_per_s"])
                    results[(srv.name, sc)] = {
                        "runs": runs,
                        "best": best,
                        "median_msg_per_s": statistics.median(r["msg_per_s"] for r in runs),
                    }
                    log(
                        "  %-16s %10s msg/s %9s MB/s   p50 %.0f us  p99 %.0f us"
                        % (
                            sc,
                            fmt_rate(best["msg_per_s"]),
                            fmt_mb(best["MB_per_s"]),
                            best["p50_us"],
                            best["p99_us"],
                        )
                    )
            except RuntimeError as e:
                problems.append(str(e))
                log(str(e))
            finally:
                srv.stop()
    finally:
        stop_all()

    print(
        "\nWebSocket echo benchmark: server pinned to CPU %s, echo_load to CPU %s%s, 127.0.0.1; "
        "%.1f s measured after %.1f s warm-up, best of %d"
        % (scpu, lcpu, same_cpu_note(scenarios), duration, warmup, args.repeat)
    )
    print("machine: %s, %s CPUs, Linux %s" % (info.get("cpu", "?"), info["cpus"], info["kernel"]))
    print(
        "servers: " + "; ".join("%s = %s" % (s.name, s.note or shlex.join(s.argv)) for s in servers)
    )
    print_table(
        results, servers, scenarios, "msg_per_s", "messages per second (echoes completed)", fmt_rate
    )
    print_table(
        results,
        servers,
        scenarios,
        "MB_per_s",
        "MB/s (payload echoed, one direction, 10^6 B)",
        fmt_mb,
    )
    print_table(
        results,
        servers,
        scenarios,
        "p50_us",
        "median round trip, microseconds",
        lambda v: "%.0f" % v,
    )
    for name, why in skipped:
        print("skipped %s: %s" % (name, why))
    for p in problems:
        print("problem: " + p.splitlines()[0])
    print("total time %.0f s" % (time.time() - started))

    if args.json or args.report:
        doc = {
            "machine": info,
            "config": {
                "duration": duration,
                "warmup": warmup,
                "repeat": args.repeat,
                "server_cpu": scpu,
                "load_cpu": lcpu,
                "load_args": args.load_args,
                "interleave": args.interleave,
            },
            "servers": {s.name: s.note or shlex.join(s.argv) for s in servers},
            "skipped": dict(skipped),
            "problems": problems,
            "results": [
                dict(
                    server=n,
                    scenario=sc,
                    conns=SCENARIOS[sc][0],
                    inflight=SCENARIOS[sc][1],
                    size=SCENARIOS[sc][2],
                    text=SCENARIOS[sc][3],
                    **r,
                )
                for (n, sc), r in results.items()
            ],
        }
        doc["label"] = args.label
        doc["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        for path in [args.json] + ([os.path.join(args.report, "echo.json")] if args.report else []):
            if path:
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
                with open(path, "w") as f:
                    json.dump(doc, f, indent=1)
                log("JSON written to " + path)
    if args.plot:
        plot(results, servers, scenarios, args.plot)
    if args.report:
        with open(os.path.join(args.report, "echo.md"), "w") as f:
            f.write(markdown_report(doc, servers, scenarios, results, skipped))
        log("table written to " + os.path.join(args.report, "echo.md"))
        plot_ratios(results, servers, scenarios, os.path.join(args.report, "echo.png"), args.label)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

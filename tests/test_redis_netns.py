"""Several hosts on one machine: network namespaces made by the test (and
removed after it), linked by veth pairs to a bridge in the clients' namespace.
Redis in its own namespace, three "hosts" each running the demo server with 2
workers (SO_REUSEPORT) attached to it, the clients in a fourth: every message
from publishers on two hosts reaches every client once, in publisher order."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redisproc import REDIS_SERVER
from servers import ROOT, asan_build

IP = shutil.which("ip")


def _can_make_namespaces() -> str | None:
    if REDIS_SERVER is None:
        return "redis-server is not installed (Debian package redis-server)"
    if IP is None:
        return "iproute2 (ip) is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root"
    name = f"lwsprobe{os.getpid()}"
    r = subprocess.run([IP, "netns", "add", name], capture_output=True)
    if r.returncode:
        return f"cannot make a network namespace: {r.stderr.decode().strip()}"
    subprocess.run([IP, "netns", "del", name], capture_output=True)
    return None


WHY_NOT = _can_make_namespaces()
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")


def sh(*args: str) -> None:
    subprocess.run([IP, *args], check=True, capture_output=True)  # type: ignore[list-item]


class Net:
    """Namespaces <tag>-c (clients, with the bridge), <tag>-r (Redis) and a
    host namespace per server, on 10.77.<k>.0/24."""

    def __init__(self, hosts: list[str]) -> None:
        self.tag = f"lws{os.getpid() % 100000}"
        self.subnet = f"10.{77 + os.getpid() % 50}.{os.getpid() % 200}"
        self.names = ["c", "r", *hosts]
        self.ips: dict[str, str] = {}
        self.made: list[str] = []

    def ns(self, name: str) -> str:
        return f"{self.tag}-{name}"

    def up(self) -> None:
        for name in self.names:
            sh("netns", "add", self.ns(name))
            self.made.append(self.ns(name))
            sh("-n", self.ns(name), "link", "set", "lo", "up")
        c = self.ns("c")
        sh("-n", c, "link", "add", "br0", "type", "bridge")
        sh("-n", c, "addr", "add", f"{self.subnet}.1/24", "dev", "br0")
        sh("-n", c, "link", "set", "br0", "up")
        self.ips["c"] = f"{self.subnet}.1"
        for i, name in enumerate(self.names[1:], start=2):
            ns = self.ns(name)
            # created inside the host's namespace, the peer moved to the clients'
            sh("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", f"v{name}")
            sh("-n", ns, "link", "set", f"v{name}", "netns", c)
            sh("-n", ns, "addr", "add", f"{self.subnet}.{i}/24", "dev", "eth0")
            sh("-n", ns, "link", "set", "eth0", "up")
            sh("-n", c, "link", "set", f"v{name}", "master", "br0")
            sh("-n", c, "link", "set", f"v{name}", "up")
            self.ips[name] = f"{self.subnet}.{i}"

    def down(self) -> None:
        for ns in reversed(self.made):
            subprocess.run([IP, "netns", "del", ns], capture_output=True)  # type: ignore[list-item]

    def exec(self, name: str, argv: list[str]) -> list[str]:
        return [IP, "netns", "exec", self.ns(name), *argv]  # type: ignore[list-item]


@pytest.fixture
def net() -> Iterator[Net]:
    n = Net(["a", "b", "d"])
    try:
        n.up()
        yield n
    finally:
        n.down()


def _wait_port(net: Net, name: str, port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    probe = f"import socket; socket.create_connection(('{net.ips[name]}', {port}), timeout=0.5)"
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server on {name} exited with {proc.returncode}"
        if not subprocess.run(net.exec("c", [sys.executable, "-c", probe])).returncode:
            return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on {name}:{port}")


def _redis_argv(net: Net, tmp_path: Path) -> list[str]:
    return net.exec(
        "r",
        [
            REDIS_SERVER or "redis-server",
            "--port", "6379", "--bind", net.ips["r"], "--dir", str(tmp_path),
            "--save", "", "--appendonly", "yes", "--appendfsync", "always",
            "--protected-mode", "no",
        ],
    )  # fmt: skip


def _run(net: Net, tmp_path: Path, clients: int, count: int, publishers: int, outage: bool) -> None:
    exe = asan_build() / "test-server"
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=99"
    procs: list[tuple[str, subprocess.Popen[bytes], Path]] = []
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    redis = subprocess.Popen(_redis_argv(net, tmp_path), **quiet)  # type: ignore[call-overload]
    client = None
    try:
        url = f"redis://{net.ips['r']}:6379/0"
        for host in ("a", "b", "d"):
            log = tmp_path / f"server-{host}.log"
            with open(log, "wb") as out:
                p = subprocess.Popen(
                    net.exec(host, [str(exe), "--port", "7681", "--workers", "2", "--redis", url]),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            procs.append((host, p, log))
        for host, p, _ in procs:
            _wait_port(net, host, 7681, p)
        urls = ",".join(f"ws://{net.ips[h]}:7681" for h in ("a", "b", "d"))
        script = ROOT / "tests" / "netns_clients.py"
        steps = f"{count // 3},{2 * count // 3}" if outage else ""
        argv = [sys.executable, str(script), "--urls", urls, "-n", str(clients)]
        argv += ["--count", str(count), "--publishers", str(publishers), "--steps", steps]
        client = subprocess.Popen(
            net.exec("c", argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert client.stdin is not None and client.stdout is not None
        deadline = time.monotonic() + 180
        result = None
        for line in client.stdout:
            assert time.monotonic() < deadline
            if line.startswith("STEP "):
                if redis.poll() is None:
                    redis.kill()  # SIGKILL mid-stream
                    redis.wait(10)
                else:
                    time.sleep(1.0)  # broadcasts made meanwhile wait in the outboxes
                    redis = subprocess.Popen(_redis_argv(net, tmp_path), **quiet)  # type: ignore[call-overload]
                client.stdin.write("go\n")
                client.stdin.flush()
            elif line.startswith("{"):
                result = json.loads(line)
        assert client.wait(30) == 0
        assert result is not None and "error" not in result, result
        want = {p: [f"P{p}:{k}" for k in range(count)] for p in range(publishers)}
        for i, c in enumerate(result["clients"]):
            got = c["got"]
            for p, expected in want.items():
                mine = [m for m in got if m.startswith(f"P{p}:")]
                assert mine == expected, (
                    f"client {i} ({c['url']}): {len(mine)} of {count} from P{p}"
                )
            assert len(got) == count * publishers, f"client {i}: {len(got)} messages"
    finally:
        if client is not None and client.poll() is None:
            client.kill()
            client.wait(5)
        for _, p, _ in procs:
            if p.poll() is None:
                p.terminate()
        outs = []
        for host, p, log in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
            outs.append((host, p.returncode, log.read_text(errors="replace")))
        redis.terminate()
        redis.wait(10)
    for host, rc, out in outs:
        assert rc == 0 and "ERROR: AddressSanitizer" not in out, f"{host}: {rc}\n{out[-3000:]}"
        # each worker said the outage once, and that it was back
        assert out.count("redis: lost the") == (2 if outage else 0), out
        assert out.count("redis: connected") == (4 if outage else 2), out


def test_three_hosts_two_workers_each_one_redis(net: Net, tmp_path: Path) -> None:
    _run(net, tmp_path, clients=60, count=150, publishers=2, outage=False)


def test_three_hosts_redis_killed_and_restarted_mid_stream(net: Net, tmp_path: Path) -> None:
    """The issue's figures: 100 clients over 3 hosts x 2 workers, 1,000
    broadcasts, Redis SIGKILLed after a third and restarted after two thirds."""
    _run(net, tmp_path, clients=100, count=1000, publishers=1, outage=True)

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


def test_three_hosts_two_workers_each_one_redis(net: Net, tmp_path: Path) -> None:
    exe = asan_build() / "test-server"
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=99"
    procs: list[tuple[str, subprocess.Popen[bytes], Path]] = []
    redis_ip = net.ips["r"]
    redis = subprocess.Popen(
        net.exec(
            "r",
            [
                REDIS_SERVER or "redis-server",
                "--port",
                "6379",
                "--bind",
                redis_ip,
                "--dir",
                str(tmp_path),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ],
        ),  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"redis://{redis_ip}:6379/0"
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
        r = subprocess.run(
            net.exec(
                "c",
                [
                    sys.executable,
                    str(script),
                    "--urls",
                    urls,
                    "-n",
                    "60",
                    "--count",
                    "150",
                    "--publishers",
                    "2",
                ],
            ),  # fmt: skip
            capture_output=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr.decode()[-3000:]
        result = json.loads(r.stdout)
        assert "error" not in result, result
        want = {p: [f"P{p}:{k}" for k in range(150)] for p in range(2)}
        for i, c in enumerate(result["clients"]):
            got = c["got"]
            for p, expected in want.items():
                mine = [m for m in got if m.startswith(f"P{p}:")]
                assert mine == expected, f"client {i} ({c['url']}): {len(mine)} of 150 from P{p}"
            assert len(got) == 300, f"client {i}: {len(got)} messages"
    finally:
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

"""The demo's mirror across servers in headless Chromium: page A on one
demo server, page B on another, both attached to one Redis; what is drawn on
A appears on B (tests/test_browser.py's checks).  On loopback, and across
network namespaces (hosts) where they can be made."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redisproc import REDIS_SERVER, RedisServer
from servers import ROOT, asan_build, start_demo
from test_browser import exercise_demo, find_chromium, start_chromium

pytestmark = pytest.mark.skipif(
    REDIS_SERVER is None, reason="redis-server is not installed (Debian package redis-server)"
)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    yield server
    server.stop()


def test_mirror_across_two_servers_in_chromium(tmp_path_factory: Any, redis: RedisServer) -> None:
    redis.start()
    chromium = start_chromium(tmp_path_factory)
    s1 = start_demo("c", "--redis", redis.url)
    s2 = start_demo("python", "--redis", redis.url)
    try:
        png = exercise_demo(
            chromium, f"http://127.0.0.1:{s1.port}/", f"http://127.0.0.1:{s2.port}/"
        )
        (ROOT / "build-asan" / "demo-redis.png").write_bytes(png)
    finally:
        chromium.stop()
        s1.stop()
        s2.stop()


# ---- across hosts: Chromium in the clients' namespace ----

DRIVER = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from test_browser import Chromium, exercise_demo
browser = Chromium({exe!r}, Path({profile!r}))
try:
    png = exercise_demo(browser, sys.argv[1], sys.argv[2])
    Path({shot!r}).write_bytes(png)
finally:
    browser.stop()
"""


def test_mirror_across_hosts_in_chromium(tmp_path: Path) -> None:
    from test_redis_netns import WHY_NOT, Net, _redis_argv, _wait_port

    if WHY_NOT:
        pytest.skip(WHY_NOT)
    exe = find_chromium()
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install --no-install-recommends chromium)")
    net = Net(["a", "d"])
    procs: list[subprocess.Popen[bytes]] = []
    try:
        net.up()
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        procs.append(subprocess.Popen(_redis_argv(net, tmp_path), **quiet))  # type: ignore[call-overload]
        url = f"redis://{net.ips['r']}:6379/0"
        server = asan_build() / "test-server"
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:exitcode=99")
        for host in ("a", "d"):
            argv = net.exec(host, [str(server), "--port", "7681", "--redis", url])
            with open(tmp_path / f"{host}.log", "wb") as out:
                procs.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env))
            _wait_port(net, host, 7681, procs[-1])
        shot = tmp_path / "b.png"
        driver = DRIVER.format(
            tests=str(ROOT / "tests"), exe=exe, profile=str(tmp_path / "profile"), shot=str(shot)
        )
        pages = [f"http://{net.ips[h]}:7681/" for h in ("a", "d")]
        r = subprocess.run(
            net.exec("c", [sys.executable, "-c", driver, *pages]), capture_output=True, timeout=150
        )
        assert r.returncode == 0, r.stderr.decode()[-4000:]
        assert shot.read_bytes().startswith(b"\x89PNG")
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        net.down()
    for p in procs[1:]:
        assert p.returncode == 0, (tmp_path / "a.log").read_text() + (
            tmp_path / "d.log"
        ).read_text()

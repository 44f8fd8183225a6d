"""The demo's clients against the demo server: examples/test-client and
examples/test-ping, the C builds (under ASan/UBSan) and the Python ones,
against the C demo (examples/test-server.c, under ASan/UBSan) and the Python
one (test-server.py).

test-client must get its dumb-increment numbers, and the circles it sends on
lws-mirror-protocol must come back to it and reach a `websockets` client
listening on the same protocol; test-ping must get pongs, print a line with
the round-trip time for each, and its statistics on Ctrl-C (SIGINT).  The
examples are run with the helpers of test_client.py (which also tests them
against other peers), and every run is bounded in time.
"""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterator

import pytest
from servers import SANITIZER_MARKERS, Server, start_demo
from test_client import CIRCLE, KINDS, LOCAL, example_argv, read_until, run_example, sanitizer_env
from websockets.sync.client import connect

DUMB = "dumb-increment-protocol"
MIRROR = "lws-mirror-protocol"


@pytest.fixture(scope="module", params=KINDS)
def demo(request: pytest.FixtureRequest) -> Iterator[Server]:
    """The demo server, C or Python; stopping it checks it ended cleanly
    (exit status 0, nothing from the sanitizers)."""
    server = start_demo(request.param)
    yield server
    server.stop()


def interrupt(argv: list[str], pattern: str, timeout: float = 30) -> tuple[int, str, str]:
    """Run argv until its stdout shows pattern, then SIGINT (Ctrl-C) it;
    returns its exit status, stdout and stderr."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=sanitizer_env()
    )
    try:
        out = read_until(proc, pattern, timeout)
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    out += rest.decode(errors="replace")
    err_text = err.decode(errors="replace")
    bad = [m for m in SANITIZER_MARKERS if m in err_text]
    assert not bad, f"{argv[0]}: sanitizer report:\n{err_text[-6000:]}"
    return proc.returncode, out, err_text


def numbers_of(out: str) -> list[int]:
    return [int(n) for n in re.findall(r"^dumb-increment: (\d+)$", out, re.M)]


# ---- test-client ----


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", KINDS)
def test_test_client_against_the_demo(demo: Server, kind: str) -> None:
    count = 5
    # a watcher on the mirror: what test-client draws, every page sees
    with connect(demo.url, subprotocols=[MIRROR], compression=None, open_timeout=10) as watcher:
        r = run_example(
            kind, "test-client", LOCAL, "--port", str(demo.port), "--count", str(count),
            "--interval", "0.02", timeout=60,
        )  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        assert "dumb-increment connection established" in r.stderr
        assert "mirror connection established" in r.stderr

        # its own counter, from 0 (the demo counts per connection)
        numbers = numbers_of(r.stdout)
        assert len(numbers) >= count and numbers == list(range(len(numbers))), numbers

        # it sent `count` circles, and they all came back to it
        printed = re.findall(r"^mirror: (.*)$", r.stdout, re.M)
        assert all(re.fullmatch(CIRCLE, c) for c in printed), printed
        summary = re.search(r"test-client: (\d+) numbers, (\d+) circles sent, (\d+) came back",
                            r.stderr)  # fmt: skip
        assert summary, r.stderr
        assert [int(g) for g in summary.groups()] == [len(numbers), count, count], summary[0]
        assert len(printed) == count

        # ... and to the watcher, in the same order, and nothing else did
        seen = [watcher.recv(timeout=10) for _ in range(count)]
        assert seen == printed
        with pytest.raises(TimeoutError):
            watcher.recv(timeout=0.3)
    assert demo.alive()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", KINDS)
def test_test_client_until_ctrl_c(demo: Server, kind: str) -> None:
    argv = example_argv(kind, "test-client", LOCAL, "--port", str(demo.port), "-i", "0.02")
    # some numbers and some circles back, in whichever order they come
    rc, out, err = interrupt(argv, r"(?sm)\A(?=.*^dumb-increment: 3$)(?=.*^mirror: c )")
    assert rc == 0, out + err
    numbers = numbers_of(out)
    assert len(numbers) >= 4 and numbers == list(range(len(numbers))), numbers
    printed = re.findall(r"^mirror: (.*)$", out, re.M)
    assert printed and all(re.fullmatch(CIRCLE, c) for c in printed), printed
    summary = re.search(r"test-client: (\d+) numbers, (\d+) circles sent, (\d+) came back", err)
    assert summary, err
    n_numbers, sent, back = (int(g) for g in summary.groups())
    assert n_numbers == len(numbers) and back == len(printed) and back <= sent, summary[0]
    assert "connection closed" not in err  # Ctrl-C closed them, not the server
    assert demo.alive()


# ---- test-ping ----


@pytest.mark.timeout(120)
@pytest.mark.parametrize("protocol", [None, DUMB])
@pytest.mark.parametrize("kind", KINDS)
def test_test_ping_against_the_demo(demo: Server, kind: str, protocol: str | None) -> None:
    """Pongs, a line with the round trip for each, the statistics on Ctrl-C:
    with no subprotocol, and on dumb-increment-protocol, whose numbers arrive
    between the pongs (and are not pongs)."""
    args = ["--protocol", protocol] if protocol else []
    argv = example_argv(kind, "test-ping", LOCAL, "--port", str(demo.port), "-i", "0.05", *args)
    rc, out, err = interrupt(argv, r"req=4 ")
    assert rc == 0, out + err
    assert out.startswith(f"PING 127.0.0.1:{demo.port}/: 64 bytes of payload, 1 connection\n")
    lines = re.findall(r"^64 bytes from 127\.0\.0\.1: req=(\d+) time=(\d+\.\d{3}) ms$", out, re.M)
    assert [int(seq) for seq, _ in lines] == list(range(1, len(lines) + 1)), out
    assert len(lines) >= 4
    times = [float(ms) for _, ms in lines]
    assert "not ours" not in err and "answers no ping" not in err, err

    assert "\n--- 127.0.0.1 websocket ping statistics ---\n" in out
    stats = re.search(r"^(\d+) pings transmitted, (\d+) received, (\d+)% loss, time \d+ ms$",
                      out, re.M)  # fmt: skip
    assert stats, out
    transmitted, received, _ = (int(g) for g in stats.groups())
    assert received == len(lines)
    assert transmitted - received in (0, 1), out  # a ping may be on its way at Ctrl-C
    rtt = re.search(r"^rtt min/avg/max/mdev = ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms$", out, re.M)
    assert rtt, out
    lo, avg, hi, mdev = (float(g) for g in rtt.groups())
    assert (lo, hi) == (min(times), max(times)), out
    assert lo <= avg <= hi and mdev >= 0
    assert demo.alive()

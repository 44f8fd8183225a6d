"""README.md's Python code blocks run as tests.

Every ```python block runs in a subprocess, its example port numbers (7681,
8765, 8443) replaced by a free one; a block defining ``async def main()`` has
``asyncio.run(main())`` run after it.  A block serving forever (it calls
``libwebsocket_service``) is checked as the echo server it is, with the
`websockets` client: a 1,000,000-byte text message (2-byte characters, so a
split in the wrong place is invalid UTF-8) that reaches the server in many
reads, a binary one, and one sent in fragments, each echoed whole, then the
process is stopped by its PID.  Blocks marked with ``<!-- not-a-test -->`` on
the line before are fragments: they only have to compile.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from servers import wait_listening
from support.net import free_port

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^(<!-- not-a-test -->\n)?```python\n(.*?)^```", re.S | re.M)
PORTS = re.compile(r"\b(7681|8765|8443)\b")


def blocks() -> list[tuple[int, bool, str]]:
    """(line number, is a fragment, code) of each Python block of README.md."""
    text = (ROOT / "README.md").read_text()
    found = []
    for m in BLOCK.finditer(text):
        line = text.count("\n", 0, m.start(2)) + 1
        found.append((line, bool(m.group(1)), m.group(2)))
    return found


BLOCKS = blocks()
RUN = [(line, code) for line, fragment, code in BLOCKS if not fragment]
FRAGMENTS = [(line, code) for line, fragment, code in BLOCKS if fragment]


def test_there_are_blocks_to_run() -> None:
    assert len(RUN) >= 2, "README.md lost its runnable Python blocks (or the markers are wrong)"
    assert any("libwebsocket_service(" in code for _, code in RUN)


@pytest.mark.parametrize("line, code", FRAGMENTS, ids=[f"line{n}" for n, _ in FRAGMENTS])
def test_fragment_compiles(line: int, code: str) -> None:
    compile(code, f"README.md:{line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def echo_check(port: int) -> None:
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{port}/", subprotocols=None, max_size=2**21) as ws:
        text = "é" * 500_000  # 1,000,000 bytes of UTF-8
        ws.send(text)
        assert ws.recv(timeout=30) == text
        data = os.urandom(300_000)
        ws.send(data)
        assert ws.recv(timeout=30) == data
        ws.send(["first piece, ", "é" * 1000, " last"])  # one message, three frames
        assert ws.recv(timeout=30) == "first piece, " + "é" * 1000 + " last"
        ws.send("short")
        assert ws.recv(timeout=30) == "short"


@pytest.mark.parametrize("line, code", RUN, ids=[f"line{n}" for n, _ in RUN])
def test_block_runs(line: int, code: str) -> None:
    port = free_port()
    code = PORTS.sub(str(port), code)
    if re.search(r"^async def main\(", code, re.M):
        code += "\n\nimport asyncio\n\nasyncio.run(main())\n"
    proc = subprocess.Popen(
        [sys.executable, "-X", "dev", "-c", code],
        cwd=ROOT / "examples",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if "libwebsocket_service(" in code:  # a server: serves until stopped
            wait_listening(port, proc)
            echo_check(port)
            assert proc.poll() is None, "the server exited"
            return
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, f"README.md:{line} exited {proc.returncode}\n{out}\n{err}"
    finally:
        if proc.poll() is None:
            proc.kill()
        out, err = proc.communicate(timeout=10)
        assert "Traceback" not in err, f"README.md:{line}\n{err}"

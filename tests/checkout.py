"""Helpers for the tests that follow the README literally in a clean clone
(tests/test_packaging.py, tests/test_readme_c.py).

A clean clone is ``git clone`` of this checkout: it holds what is committed
(CI runs on a fresh clone, so there the two are the same).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def clean_clone(dest: Path) -> Path:
    """``git clone`` this checkout into ``dest`` (a new folder); return it."""
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(dest)],
        check=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    return dest


def readme_code_block(first_line: str) -> list[str]:
    """The lines of the README's fenced or indented code block that starts
    with ``first_line`` (exactly), up to the end of that block."""
    lines = README.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.strip() == first_line and (
            line.startswith("    ") or lines[i - 1].startswith("```")
        ):
            fenced = lines[i - 1].startswith("```")
            block = []
            for rest in lines[i:]:
                if fenced and rest.startswith("```"):
                    return block
                if not fenced and not rest.startswith("    "):
                    return block
                block.append(rest.strip())
            return block
    raise AssertionError(f"README.md has no code block starting with {first_line!r}")


def venv_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a shell in this test run's venv (its bin first on
    PATH, as `. .venv/bin/activate` does), without what the test run set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("VIRTUAL_ENV", None)
    env.update(extra or {})
    return env


def wait_port(port: int, proc: subprocess.Popen, timeout: float) -> None:
    """Wait until something listens on 127.0.0.1:port; fail if ``proc`` ends
    first or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listened on {port} within {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    """Stop a process we started, by its PID (then its group), bounded."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def with_port(command: str, port: int) -> str:
    """``command`` with its ``--port N`` set to ``port`` (or added)."""
    if re.search(r"--port \d+", command):
        return re.sub(r"--port \d+", f"--port {port}", command)
    return f"{command} --port {port}"

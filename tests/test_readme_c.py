"""The README's "From C" lines, run as written in a clean clone: meson installs
the C library into a prefix of its own, pkg-config (through PKG_CONFIG_PATH)
gives the compile line of a classic program, and the program runs (through
LD_LIBRARY_PATH) and echoes.

The only changes to the README's text: the prefix is a temporary folder
instead of ``$HOME/.local/pylws``, and the port a free one.  meson and ninja
are the ones this test run's venv has (``pip install '.[test]'``)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from checkout import clean_clone, readme_code_block, stop, venv_env, wait_port, with_port
from support.net import free_port
from websockets.sync.client import connect

pytestmark = pytest.mark.timeout(600)

FIRST_LINE = "prefix=$HOME/.local/pylws"


def test_readme_c_lines_are_the_ones_tested():
    lines = readme_code_block(FIRST_LINE)
    assert lines[0] == FIRST_LINE
    assert any("PKG_CONFIG_PATH" in line and "LD_LIBRARY_PATH" in line for line in lines)
    assert any("pkg-config --cflags --libs pylws" in line for line in lines)
    assert lines[-1].startswith("./"), "the block ends by running the program"


def test_meson_install_to_a_prefix_then_a_program_through_pkg_config(tmp_path: Path):
    clone = clean_clone(tmp_path / "clone")
    prefix = tmp_path / "prefix"
    lines = readme_code_block(FIRST_LINE)
    *setup, run = lines
    setup = [f"prefix={prefix}" if line == FIRST_LINE else line for line in setup]
    port = free_port()
    script = "\n".join(["set -euo pipefail", *setup, "exec " + with_port(run, port)])
    log = tmp_path / "log.txt"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["bash", "-c", script],
            cwd=clone,
            env=venv_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        try:
            wait_port(port, proc, timeout=420)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{log.read_text(errors='replace')[-4000:]}") from None
        # what was installed where the README says
        assert (prefix / "lib" / "pkgconfig" / "pylws.pc").is_file()
        assert (prefix / "include" / "pylws" / "libwebsockets.h").is_file()
        assert list((prefix / "lib").glob("libpylws.so.0*"))
        # the program is linked with the installed library, not one in the clone
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        libs = set(re.findall(r"(/\S*libpylws\.so\S*)", maps))
        assert libs and all(lib.startswith(str(prefix / "lib")) for lib in libs), libs
        with connect(f"ws://127.0.0.1:{port}/", open_timeout=10, close_timeout=5) as ws:
            ws.send("hello from the README")
            assert ws.recv(timeout=10) == "hello from the README"
            ws.send(b"\x00\x01binary")
            assert ws.recv(timeout=10) == b"\x00\x01binary"
    finally:
        stop(proc)
    assert proc.returncode == 0, log.read_text(errors="replace")[-4000:]

"""Packaging and set-up, as a new user meets them:

- the README's set-up commands (the venv part; the apt-get line is what this
  machine already has), run literally in a clean clone, give a demo that
  answers on its port;
- the README's test commands are the ones .ci/run runs;
- ``python -m build`` in the repository root (where build.py, the cffi
  builder, would shadow the pypa tool) makes the sdist and the wheel, both
  with the LICENSE; the sdist installs into a fresh venv outside the checkout
  without git, and the installed package echoes.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import urllib.request
import venv
import zipfile
from pathlib import Path

import pytest
from checkout import ROOT, clean_clone, readme_code_block, stop, venv_env, wait_port, with_port
from support.net import free_port
from websockets.sync.client import connect

pytestmark = pytest.mark.timeout(600)

SETUP_FIRST = (
    "sudo apt-get install -y python3-venv python3-dev gcc libssl-dev zlib1g-dev libhiredis-dev"
    " pkg-config git openssl chromium redis-server"
)


def run_logged(args: list[str], cwd: Path, env: dict[str, str], log: Path, timeout: float) -> None:
    with open(log, "ab") as out:
        proc = subprocess.run(
            args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, timeout=timeout,
        )  # fmt: skip
    if proc.returncode != 0:
        raise AssertionError(
            f"{args} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-4000:]}"
        )


def test_readme_test_commands_are_what_ci_runs():
    block = readme_code_block("pip install '.[test]'")
    assert block == ["pip install '.[test]'", "python -m pytest"]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    for command in block:
        assert any(line.strip().startswith(command + " ||") for line in ci), command


def test_readme_setup_in_a_clean_clone_then_the_demo_answers(tmp_path: Path):
    setup = readme_code_block(SETUP_FIRST)
    assert setup[0] == SETUP_FIRST  # the system packages: this machine has them
    demo = readme_code_block("pip install .")
    assert demo[-1].startswith("python examples/test-server.py")
    clone = clean_clone(tmp_path / "clone")
    port = free_port()
    script = "\n".join(
        ["set -euo pipefail", *setup[1:], *demo[:-1], "exec " + with_port(demo[-1], port)]
    )
    log = tmp_path / "log.txt"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["bash", "-c", script], cwd=clone, env=venv_env(), stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        try:
            wait_port(port, proc, timeout=420)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{log.read_text(errors='replace')[-4000:]}") from None
        # the demo runs on the clone's own venv
        assert (clone / ".venv" / "bin" / "python").exists()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert page.status == 200
            assert b"dumb-increment-protocol" in page.read()
        with connect(
            f"ws://127.0.0.1:{port}/", subprotocols=["dumb-increment-protocol"], open_timeout=10
        ) as ws:
            first, second = int(ws.recv(timeout=10)), int(ws.recv(timeout=10))
            assert second > first
    finally:
        stop(proc)


def test_build_sdist_and_wheel_then_install_the_sdist_without_git(tmp_path: Path):
    clone = clean_clone(tmp_path / "clone")
    log = tmp_path / "log.txt"
    # the one command RELEASING.md names, in the repository root (build.py there)
    assert (clone / "build.py").exists()
    run_logged(["python", "-m", "build"], clone, venv_env(), log, timeout=480)
    sdists = list((clone / "dist").glob("pylws_ffi-*.tar.gz"))
    wheels = list((clone / "dist").glob("pylws_ffi-*.whl"))
    assert len(sdists) == 1 and len(wheels) == 1, list((clone / "dist").iterdir())
    # the version is meson.build's (pyproject.toml has none of its own)
    version = re.search(
        r"project\('pylws',.*?version: '([^']+)'", (ROOT / "meson.build").read_text(), re.S
    )
    assert version, "no version in meson.build's project()"
    assert sdists[0].name == f"pylws_ffi-{version.group(1)}.tar.gz"
    assert wheels[0].name.startswith(f"pylws_ffi-{version.group(1)}-")
    assert re.search(r"(?m)^dynamic = \[\"version\"\]", (ROOT / "pyproject.toml").read_text())
    assert not re.search(r"(?m)^version\s*=", (ROOT / "pyproject.toml").read_text())
    license_text = (ROOT / "LICENSE").read_text()
    assert "MIT License" in license_text
    with tarfile.open(sdists[0]) as sdist:
        top = sdists[0].name[: -len(".tar.gz")]
        member = sdist.extractfile(f"{top}/LICENSE")
        assert member is not None and member.read().decode() == license_text
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = wheel.namelist()
        licenses = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert licenses, names
        assert wheel.read(licenses[0]).decode() == license_text
        metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
        assert b"License-File: LICENSE" in metadata

    # a fresh venv outside the checkout, and a `git` that fails loudly if called
    fresh = tmp_path / "fresh-venv"
    venv.create(fresh, with_pip=True)
    nogit = tmp_path / "nogit"
    nogit.mkdir()
    marker = tmp_path / "git-was-called"
    (nogit / "git").write_text(f'#!/bin/sh\necho "$@" >> {marker}\nexit 1\n')
    (nogit / "git").chmod(0o755)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = venv_env()
    env["PATH"] = f"{nogit}:{fresh / 'bin'}:/usr/local/bin:/usr/bin:/bin"
    run_logged([str(fresh / "bin" / "pip"), "install", str(sdists[0])], outside, env, log, 480)
    assert not marker.exists(), f"installing the sdist ran git: {marker.read_text()}"

    where = subprocess.run(
        [str(fresh / "bin" / "python"), "-c", "import pylws_ffi; print(pylws_ffi.__file__)"],
        cwd=outside, env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    assert where.startswith(str(fresh)), where
    # a tiny echo: the example server on the installed package
    port = free_port()
    proc = subprocess.Popen(
        [str(fresh / "bin" / "python"), str(ROOT / "examples" / "echo_server.py"),
         "--port", str(port)],
        cwd=outside, env=env, stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_port(port, proc, timeout=30)
        with connect(f"ws://127.0.0.1:{port}/", open_timeout=10) as ws:
            ws.send("echo from the sdist")
            assert ws.recv(timeout=10) == "echo from the sdist"
    finally:
        stop(proc)
    assert proc.returncode == 0


def test_python_m_build_hands_over_only_when_run_as_a_module():
    """build.py as a script (meson's way) is the cffi builder; as ``-m build``
    from the root it hands over to the pypa tool (its --help names it)."""
    out = subprocess.run(
        [sys.executable, "-m", "build", "--help"],
        cwd=ROOT, env=venv_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "--sdist" in out.stdout and "--wheel" in out.stdout
    out = subprocess.run(
        [sys.executable, "build.py"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2 and "usage:" in out.stderr and "--sdist" not in out.stderr

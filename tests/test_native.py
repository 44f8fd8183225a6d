"""The C unit tests (native/tests/test_*.c), built under ASan/UBSan by meson
in the repository's ignored build-asan/ folder and run with `meson test`."""

from __future__ import annotations

import re
import subprocess

import pytest
from servers import asan_build, meson_command


def _meson_available() -> bool:
    try:
        subprocess.run(meson_command() + ["--version"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


@pytest.mark.timeout(900)
def test_c_unit_tests_pass_under_sanitizers() -> None:
    if not _meson_available():
        pytest.skip("meson is not installed (pip install '.[test]')")
    try:
        build = asan_build()
    except subprocess.CalledProcessError as e:
        pytest.fail(f"meson setup/compile failed:\n{(e.stdout or b'').decode(errors='replace')}")
    result = subprocess.run(
        meson_command() + ["test", "-C", str(build), "--suite", "unit", "--print-errorlogs"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"C unit tests failed:\n{result.stdout[-20000:]}"
    ok = re.search(r"^Ok:\s+(\d+)", result.stdout, flags=re.M)
    assert ok and int(ok.group(1)) > 0, f"no C unit test ran:\n{result.stdout}"

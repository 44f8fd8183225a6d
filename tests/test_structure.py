"""The C core has no file-level call cycle: `tools/callgraph.py --check` on
native/src (each .c file compiled on its own, its objects' symbols linked by
name) finds no two files that call each other and no longer loop.  A new call
that closes a cycle fails here with the files and the names behind each edge;
break it the way the core does elsewhere (README, Layout): move the shared
piece down, or let the lower file call the upper one through a function
pointer the upper one sets (a descriptor's ready handler, a read layer,
context->client_ops, context->backplane_due)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys

import pytest
from servers import ROOT

TOOL = ROOT / "tools" / "callgraph.py"


def _compiler() -> str | None:
    cc = os.environ.get("CC", "cc")
    return cc if shutil.which(shlex.split(cc)[0]) else None


@pytest.mark.timeout(300)
def test_native_src_has_no_call_cycle() -> None:
    if not _compiler():
        pytest.skip("no C compiler (CI always has one)")
    r = subprocess.run(
        [sys.executable, str(TOOL), "--check", "-v"],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert r.returncode != 2, r.stderr  # a file that does not compile
    assert r.returncode == 0, (
        "native/src has a file-level call cycle:\n" + r.stderr + "\n" + r.stdout
    )
    assert "== 0 pairs of files that call each other" in r.stdout, r.stdout

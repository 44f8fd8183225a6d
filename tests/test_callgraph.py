"""tools/callgraph.py: the file-level call graph of native/src from the
objects' symbols, its cycles and layers, and --check (exit 1 on a cycle).
Checked on small made-up trees whose graph is known, and run on native/src
(test_structure.py runs --check on it: no cycle)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from servers import ROOT

TOOL = ROOT / "tools" / "callgraph.py"


def run(src: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), "--src", str(src), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def section(out: str, title: str) -> list[str]:
    """The lines of one '== title' section of the report."""
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("== ") and title in ln)
    body = []
    for ln in lines[start + 1 :]:
        if ln.startswith("== ") or not ln.strip():
            break
        body.append(ln.strip())
    return body


def test_acyclic_tree_is_layered_and_passes_the_check(tmp_path: Path) -> None:
    src = tree(
        tmp_path,
        {
            "top.c": "int mid(void); int bottom(void);\n"
            "int top(void) { return mid() + bottom(); }\n",
            "mid.c": "int bottom(void);\nint mid(void) { return bottom(); }\n",
            "bottom.c": "#include <string.h>\n"
            'int bottom(void) { return (int)strlen("x"); }\n',  # libc: no edge
            "alone.c": "static int helper(void) { return 1; }\n"
            "int alone(void) { return helper(); }\n",  # a call inside the file: no edge
        },
    )
    r = run(src, "--check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert section(r.stdout, "calls") == [
        "alone.c  -> (none)",
        "bottom.c -> (none)",
        "mid.c    -> bottom.c",
        "top.c    -> bottom.c mid.c",
    ]
    assert section(r.stdout, "pairs") == []
    assert section(r.stdout, "cycles") == []
    assert section(r.stdout, "layers") == ["2: top.c", "1: mid.c", "0: alone.c bottom.c"]


def test_cycles_fail_the_check_and_are_named(tmp_path: Path) -> None:
    src = tree(
        tmp_path,
        {
            # a pair: a.c and b.c call each other
            "a.c": "int b(int);\nint a(int n) { return n ? b(n - 1) : 0; }\n",
            "b.c": "int a(int);\nint b(int n) { return a(n); }\n",
            # a loop of three without a pair: x -> y -> z -> x, y reached
            # only through a table of function pointers (still an edge)
            "x.c": "int y(void);\nint (*const x_table[])(void) = { y };\n"
            "int x(void) { return 1; }\n",
            "y.c": "int z(void);\nint y(void) { return z(); }\n",
            "z.c": "extern int (*const x_table[])(void);\n"
            "int z(void) { return x_table[0] != 0; }\n",
            # above the pair; a name in a comment or a macro is no call
            "top.c": "int a(int);\n/* z() */\n#define CALL_Y y()\nint top(void) { return a(3); }\n",
        },
    )
    r = run(src)
    assert r.returncode == 0, r.stderr  # without --check a cycle is only reported
    assert section(r.stdout, "pairs") == ["a.c <-> b.c"]
    assert section(r.stdout, "cycles") == ["3 files: x.c y.c z.c", "2 files: a.c b.c"]
    assert section(r.stdout, "layers") == ["1: top.c", "0: [a.c b.c] [x.c y.c z.c]"]
    r = run(src, "--check", "-v")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "2 cycle(s)" in r.stderr
    assert "y.c: y" in r.stdout  # -v: x.c -> y.c because of the name y


def test_a_file_that_does_not_compile_is_an_error(tmp_path: Path) -> None:
    src = tree(tmp_path, {"ok.c": "int ok(void) { return 0; }\n", "bad.c": "int bad( {\n"})
    r = run(src, "--check")
    assert r.returncode == 2
    assert "cannot compile" in r.stderr and "bad.c" in r.stderr


@pytest.mark.timeout(300)
def test_runs_on_native_src() -> None:
    """The real tree compiles file by file and every file is in the graph
    (that it has no cycle: test_structure.py)."""
    r = run(ROOT / "native" / "src")
    assert r.returncode == 0, r.stderr
    listed = {ln.split()[0] for ln in section(r.stdout, "calls")}
    assert listed == {p.name for p in (ROOT / "native" / "src").glob("*.c")}

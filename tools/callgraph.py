#!/usr/bin/env python3
"""The file-level call graph of native/src: which .c file uses a function (or
object) defined in which other .c file, its cycles, and the files in layers.

    python tools/callgraph.py            # the graph, the cycles, the layers
    python tools/callgraph.py -v         # ... and the names behind each edge
    python tools/callgraph.py --check    # exit 1 if there is any cycle

How: each .c file is compiled on its own (``cc -c``, into a temporary folder)
and ``nm`` lists the external symbols its object defines and the ones it
leaves undefined.  File A calls file B when A's object needs a symbol B's
defines: the linker's own view, so macros, calls through tables of function
pointers and names in comments cannot mislead it.  Calls inside a file and
calls to the C library or OpenSSL/zlib play no part.

A cycle is a strongly connected component of more than one file (two files
that call each other, or a longer loop).  The layers put every file below all
the files that call it: layer 0 calls no other file; a file in layer n calls
files of lower layers only (a cycle counts as one node, in brackets).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "native" / "src"
INCLUDES = [ROOT / "native" / "include", SRC]
# nm -P type letters of symbols an object defines for other objects
DEFINED = set("ABCDGRSTVW")


def pkg_config_cflags(packages: Iterable[str]) -> list[str]:
    if not shutil.which("pkg-config"):
        return []
    r = subprocess.run(
        ["pkg-config", "--cflags", *packages], capture_output=True, text=True, check=False
    )
    return shlex.split(r.stdout) if r.returncode == 0 else []


def symbols(cc: list[str], cflags: list[str], source: Path, out: Path) -> tuple[set[str], set[str]]:
    """Compile one file; return (the external symbols it defines, the ones it needs)."""
    obj = out / (source.stem + ".o")
    r = subprocess.run(
        [*cc, *cflags, "-c", str(source), "-o", str(obj)], capture_output=True, text=True
    )
    if r.returncode != 0:
        raise RuntimeError(f"cannot compile {source}:\n{r.stderr}")
    r = subprocess.run(["nm", "-P", "-g", str(obj)], capture_output=True, text=True, check=True)
    defined, needed = set(), set()
    for line in r.stdout.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        name, kind = fields[0], fields[1]
        if kind == "U":
            needed.add(name)
        elif kind.upper() in DEFINED:
            defined.add(name)
    return defined, needed


def call_graph(
    src: Path, cc: list[str], cflags: list[str], jobs: int = 2
) -> dict[str, dict[str, set[str]]]:
    """{file: {file it calls: {the names}}}, for every .c file of src."""
    sources = sorted(src.glob("*.c"))
    if not sources:
        raise RuntimeError(f"no .c files in {src}")
    with tempfile.TemporaryDirectory(prefix="callgraph-") as tmp:
        pool = ThreadPoolExecutor(max_workers=max(1, jobs))
        try:
            found = list(pool.map(lambda s: symbols(cc, cflags, s, Path(tmp)), sources))
        finally:
            pool.shutdown(cancel_futures=True)
    owner: dict[str, str] = {}
    for source, (defined, _) in zip(sources, found):
        for name in defined:
            if name in owner:
                raise RuntimeError(f"{name} is defined in {owner[name]} and {source.name}")
            owner[name] = source.name
    graph: dict[str, dict[str, set[str]]] = {s.name: {} for s in sources}
    for source, (_, needed) in zip(sources, found):
        for name in needed:
            callee = owner.get(name)
            if callee and callee != source.name:
                graph[source.name].setdefault(callee, set()).add(name)
    return graph


def components(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """The strongly connected components (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                scc = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    scc.append(member)
                    if member == node:
                        break
                result.append(sorted(scc))
    return result


def mutual_pairs(graph: dict[str, dict[str, set[str]]]) -> list[tuple[str, str]]:
    return sorted((a, b) for a in graph for b in graph[a] if a < b and a in graph[b])


def layers(graph: dict[str, dict[str, set[str]]], sccs: list[list[str]]) -> list[list[list[str]]]:
    """The components by layer, bottom (calls no other file) first."""
    comp_of = {f: i for i, scc in enumerate(sccs) for f in scc}
    calls = {
        i: {comp_of[c] for f in scc for c in graph[f] if comp_of[c] != i}
        for i, scc in enumerate(sccs)
    }
    level: dict[int, int] = {}

    def depth(i: int) -> int:
        # Tarjan emits components callees first, so this recursion is shallow
        if i not in level:
            level[i] = 1 + max((depth(c) for c in calls[i]), default=-1)
        return level[i]

    for i in range(len(sccs)):
        depth(i)
    out: list[list[list[str]]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for i, scc in enumerate(sccs):
        out[level[i]].append(scc)
    for row in out:
        row.sort()
    return out


def report(graph: dict[str, dict[str, set[str]]], verbose: bool) -> int:
    """Print the graph, the cycles and the layers; return the number of cycles."""
    print("== calls (file -> the files whose functions it uses)")
    width = max(len(f) for f in graph)
    for f in sorted(graph):
        callees = sorted(graph[f])
        print(f"{f:<{width}} -> {' '.join(callees) if callees else '(none)'}")
        if verbose:
            for c in callees:
                print(f"{'':<{width}}      {c}: {', '.join(sorted(graph[f][c]))}")
    sccs = components(graph)
    cycles = sorted((s for s in sccs if len(s) > 1), key=lambda s: (-len(s), s))
    pairs = mutual_pairs(graph)
    edges = sum(len(v) for v in graph.values())
    print(f"\n== {len(graph)} files, {edges} file-to-file edges")
    print(f"== {len(pairs)} pairs of files that call each other")
    for a, b in pairs:
        print(f"  {a} <-> {b}")
    print(f"== {len(cycles)} cycles (strongly connected components of more than one file)")
    for scc in cycles:
        print(f"  {len(scc)} files: {' '.join(scc)}")
    print("== layers, top first (a file calls only files of lower layers; [a cycle])")
    rows = layers(graph, sccs)
    for n in range(len(rows) - 1, -1, -1):
        names = [f"[{' '.join(s)}]" if len(s) > 1 else s[0] for s in rows[n]]
        print(f"  {n:>2}: {' '.join(names)}")
    return len(cycles)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=SRC, help="the folder of .c files (native/src)")
    ap.add_argument(
        "-I", dest="includes", action="append", type=Path, default=None,
        help="include folder (default: native/include and the --src folder)",
    )  # fmt: skip
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"), help="the C compiler ($CC, cc)")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="compilers run at once (2)")
    ap.add_argument("-v", "--verbose", action="store_true", help="the names behind each edge")
    ap.add_argument("--check", action="store_true", help="exit 1 if the files form any cycle")
    args = ap.parse_args(argv)

    includes = args.includes or [*INCLUDES[:1], args.src]
    cflags = ["-std=c11", "-O0", "-w", *(f"-I{d}" for d in includes)]
    cflags += pkg_config_cflags(["openssl", "zlib"])
    try:
        graph = call_graph(args.src, shlex.split(args.cc), cflags, args.jobs)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
        print(f"callgraph: {e}", file=sys.stderr)
        return 2
    cycles = report(graph, args.verbose)
    if args.check and cycles:
        print(f"callgraph: {cycles} cycle(s) among the files of {args.src}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

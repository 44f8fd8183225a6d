"""The documentation site (docs/): the C-style reference misses no function or
callback reason, the limits page no limit of the core, the benchmark page
matches the README, and the getting-started programs do what the page says.

The site itself is built by ``bash docs/build.sh`` (Sphinx, warnings as errors).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from servers import wait_listening
from support.net import free_port

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
HEADER = ROOT / "native" / "include" / "libwebsockets.h"


def spec_html() -> Path | None:
    """The classic API document (the specification), kept beside the repository:
    $PYLWS_SPEC_HTML, else shared/reference/ next to the checkout or its parent."""
    env = os.environ.get("PYLWS_SPEC_HTML")
    candidates = [Path(env)] if env else []
    for up in (ROOT.parent, ROOT.parent.parent):
        candidates.append(up / "shared" / "reference" / "libwebsockets-api-doc.html")
    return next((p for p in candidates if p.is_file()), None)


# ---- what the reference documents ----

ENTRY = re.compile(
    r"^```\{(function|type|struct|var|enumerator)\} (.+?)\n(.*?)^```\s*$", re.M | re.S
)


def entry_name(kind: str, signature: str) -> str:
    if kind in ("function", "type"):
        return re.search(r"(\w+)\s*\(", signature).group(1)
    if kind == "var":
        return re.search(r"(\w+)\s*\[", signature).group(1)
    return signature.split()[-1]


def reference_entries(text: str) -> dict[str, str]:
    """Name -> body of every C-domain entry of a MyST page."""
    return {entry_name(kind, sig): body for kind, sig, body in ENTRY.findall(text)}


def missing_from(entries: dict[str, str], names: set[str]) -> list[str]:
    """Names without an entry, or whose entry says (next to) nothing."""
    return sorted(n for n in names if len(entries.get(n, "").strip()) < 20)


def reference_text() -> str:
    return (DOCS / "c-api.md").read_text()


# ---- what must be documented ----


def header_functions() -> set[str]:
    text = HEADER.read_text()
    names = set(re.findall(r"^LWS_EXTERN\s+[^;(]*?(\w+)\s*\(", text, re.M))
    names |= set(re.findall(r"^LWS_EXTERN\s+[^;(]*?(\w+)\[\];", text, re.M))
    names |= set(re.findall(r"typedef\s+int\s+\((\w+)\)", text))
    return {n for n in names if not n.startswith("_")}  # _lws_log backs the lwsl_* macros


def header_enum(name: str) -> set[str]:
    body = re.search(r"enum " + name + r" \{(.*?)\};", HEADER.read_text(), re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    return set(re.findall(r"^\s*(\w+)", body, re.M))


def header_reasons() -> set[str]:
    return header_enum("libwebsocket_callback_reasons") | header_enum(
        "libwebsocket_extension_callback_reasons"
    )


def spec_names(html: str) -> tuple[set[str], set[str]]:
    """Function names (the entries' titles; the two callback prototypes as their
    typedefs) and callback reason names of the specification."""
    functions = set(re.findall(r"<h2>(\w+) - ", html))
    typedefs = {"callback", "extension_callback"}
    functions = {f + "_function" if f in typedefs else f for f in functions}
    reasons = set(re.findall(r"\bLWS_(?:EXT_)?CALLBACK_[A-Z0-9_]+", html))
    return functions, reasons


def test_the_header_parse_finds_the_api():
    # the header is the contract: a parse that found little would check little
    functions, reasons = header_functions(), header_reasons()
    assert {"libwebsocket_create_context", "libwebsocket_write", "lws_b64_decode_string",
            "libwebsocket_internal_extensions", "callback_function"} <= functions  # fmt: skip
    assert len(functions) >= 40
    assert len(header_enum("libwebsocket_callback_reasons")) == 24
    assert len(header_enum("libwebsocket_extension_callback_reasons")) == 23
    assert "LWS_CALLBACK_CLEAR_MODE_POLL_FD" in reasons and "LWS_EXT_CALLBACK_1HZ" in reasons


def test_reference_documents_every_function_and_reason_of_the_header():
    entries = reference_entries(reference_text())
    assert not missing_from(entries, header_functions()), "functions without an entry"
    assert not missing_from(entries, header_reasons()), "callback reasons without an entry"


def test_reference_documents_every_function_and_reason_of_the_specification():
    path = spec_html()
    if path is None:
        pytest.skip("the specification (libwebsockets-api-doc.html) is not beside the checkout")
    functions, reasons = spec_names(path.read_text())
    assert len(functions) == 23 and len(reasons) >= 28, (functions, reasons)
    entries = reference_entries(reference_text())
    assert not missing_from(entries, functions), "functions of the specification without an entry"
    assert not missing_from(entries, reasons), "reasons of the specification without an entry"
    # and the header declares all of them (so the header check above covers the spec)
    assert functions <= header_functions() and reasons <= header_reasons()


def test_the_check_fails_when_an_entry_is_deleted():
    text = reference_text()
    entries = reference_entries(text)
    names = header_functions() | header_reasons()
    assert not missing_from(entries, names)
    for victim in ("libwebsocket_service", "LWS_CALLBACK_RECEIVE", "LWS_EXT_CALLBACK_1HZ"):
        block = next(m.group(0) for m in ENTRY.finditer(text) if entry_name(m[1], m[2]) == victim)
        assert missing_from(reference_entries(text.replace(block, "")), names) == [victim]
    # an entry emptied of its text counts as missing too
    emptied = re.sub(r"(\{enumerator\} LWS_CALLBACK_CLOSED\n).*?(^```)", r"\1\2", text,
                     flags=re.M | re.S)  # fmt: skip
    assert missing_from(reference_entries(emptied), names) == ["LWS_CALLBACK_CLOSED"]


# ---- limits, benchmarks ----


def test_limits_page_names_every_limit_of_private_h():
    private = (ROOT / "native" / "src" / "private.h").read_text()
    limits = {
        name
        for name, value in re.findall(r"^#define (LWS_\w+)\s+(.+)$", private, re.M)
        if re.search(r"\d", value) and not name.startswith("LWS_EXTF_")
    }
    assert {"LWS_RX_BUFFER_SIZE", "LWS_MAX_QUEUED_OUTPUT", "LWS_DEFAULT_MAX_MESSAGE"} <= limits
    page = (DOCS / "limits.md").read_text()
    assert not sorted(n for n in limits if n not in page), "limits of private.h not on the page"


def readme_benchmark_rows() -> list[str]:
    section = (ROOT / "README.md").read_text().split("\n## Benchmarks", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ")]


def test_benchmark_page_has_the_readme_table():
    rows = readme_benchmark_rows()
    assert len(rows) >= 4
    page = (DOCS / "benchmarks.md").read_text()
    assert not [row for row in rows if row not in page], "the README's table changed: copy it"
    assert (DOCS / "_static" / "bench.png").stat().st_size > 10_000


def test_plot_script_reads_the_readme_table():
    spec = importlib.util.spec_from_file_location("plot_bench", DOCS / "plot_bench.py")
    plot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plot)
    servers, table = plot.read_table(ROOT / "README.md")
    assert len(servers) == 4 and len(table) == 3
    first = next(iter(table.values()))
    assert first[0][0] == pytest.approx((2.07e6, 2.07e6))  # C core, 64 B echo, day 1
    assert plot.parse_value("664k-695k") == pytest.approx((664e3, 695e3))
    assert plot.parse_value("—") is None


# ---- the getting-started programs ----


async def _exchange(url: str, compression: str | None) -> None:
    import websockets

    async with websockets.connect(url, compression=compression, max_size=None) as ws:
        # fragmented by the client: the server must answer each message whole
        await ws.send(["frag", "mented ", "téxt"])
        assert await asyncio.wait_for(ws.recv(), 10) == "fragmented téxt"
        big = bytes(range(256)) * 1200  # 300 KiB: more than one read of the server
        await ws.send([big[:7], big[7:200_000], big[200_000:]])
        assert await asyncio.wait_for(ws.recv(), 10) == big
        await ws.send("whole")
        assert await asyncio.wait_for(ws.recv(), 10) == "whole"


@pytest.mark.parametrize("compression", [None, "deflate"])
def test_getting_started_python_echo_reassembles_fragments(compression):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(DOCS / "examples" / "echo_whole.py"), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_listening(port, proc)
        asyncio.run(asyncio.wait_for(_exchange(f"ws://127.0.0.1:{port}/", compression), 30))
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    assert b"Traceback" not in err, err.decode(errors="replace")


def test_getting_started_aio_echo_reassembles_fragments():
    spec = importlib.util.spec_from_file_location("echo_aio", DOCS / "examples" / "echo_aio.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    from pylws_ffi import aio

    async def main() -> None:
        port = free_port()
        async with aio.serve(example.echo, "127.0.0.1", port):
            await _exchange(f"ws://127.0.0.1:{port}/", None)

    asyncio.run(asyncio.wait_for(main(), 30))


def test_getting_started_c_program_compiles_cleanly():
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    subprocess.run(
        [cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
         "-I", str(HEADER.parent), str(DOCS / "examples" / "echo_min.c")],
        check=True, timeout=60,
    )  # fmt: skip

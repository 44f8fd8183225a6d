"""The installed libpylws.so exports exactly the public API: the functions and
objects native/include/libwebsockets.h declares (LWS_EXTERN), nothing of the
internals (the library is compiled with hidden visibility; LWS_EXTERN marks the
API visible).  The Python extension, which links the core statically, exports
only its module entry point."""

from __future__ import annotations

import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from servers import ROOT, install_c_library

from pylws_ffi import _pylws_cffi

HEADER = ROOT / "native" / "include" / "libwebsockets.h"

# Defined dynamic symbols the toolchain adds to every shared object (none of
# them a name of the library's own): the linker's section markers and the
# sanitizer runtime's per-library bookkeeping.
TOOLCHAIN = re.compile(r"^(_init|_fini|_edata|_end|__bss_start|__odr_asan[._].*)$")


def header_declarations(text: str) -> set[str]:
    """The names of the functions and objects declared with LWS_EXTERN: each
    declaration runs from LWS_EXTERN at the start of a line to its ';'."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    names = set()
    for decl in re.findall(r"^LWS_EXTERN\b([^;]*);", text, flags=re.M):
        function = re.search(r"(\w+)\s*\(", decl)
        obj = re.search(r"(\w+)\s*(?:\[[^\]]*\])?\s*$", decl)
        match = function or obj
        assert match, f"cannot read the declaration: LWS_EXTERN{decl};"
        names.add(match.group(1))
    return names


def exported(library: Path) -> set[str]:
    """The defined symbols of a shared object's dynamic symbol table."""
    out = subprocess.run(
        ["nm", "-D", "--defined-only", str(library)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    names = {line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip()}
    return {n for n in names if not TOOLCHAIN.match(n)}


def test_header_parser_reads_every_declaration_form() -> None:
    sample = textwrap.dedent("""
    LWS_EXTERN void plain(int a);
    LWS_EXTERN struct s *
    split_over_lines(int a,
                     void (*cb)(const char *line));
    LWS_EXTERN void attributed(int f, const char *fmt, ...) ATTR(2, 3);
    LWS_EXTERN struct t table[];
    LWS_EXTERN int counter;
    /* LWS_EXTERN int commented_out(void); */
    #define LWS_EXTERN extern LWS_VISIBLE
    """)
    assert header_declarations(sample) == {
        "plain",
        "split_over_lines",
        "attributed",
        "table",
        "counter",
    }


@pytest.fixture(scope="module")
def public_api() -> set[str]:
    names = header_declarations(HEADER.read_text())
    # the header's known landmarks: a sanity check of the parser on the real file
    assert {
        "libwebsocket_create_context",
        "libwebsockets_serve_http_file",
        "libwebsocket_internal_extensions",
        "_lws_log",
    } <= names
    return names


@pytest.mark.timeout(600)
def test_installed_library_exports_exactly_the_header(public_api: set[str]) -> None:
    if not shutil.which("nm"):
        pytest.skip("nm (binutils) is missing")
    prefix = install_c_library()
    library = prefix / "lib" / "libpylws.so"
    assert library.exists(), sorted(p.name for p in (prefix / "lib").iterdir())
    names = exported(library)
    internal = sorted(names - public_api)
    missing = sorted(public_api - names)
    assert not internal, f"libpylws.so exports {len(internal)} undeclared names: {internal}"
    assert not missing, f"declared in the header but not exported by libpylws.so: {missing}"


def test_extension_exports_only_its_entry_point() -> None:
    if not shutil.which("nm"):
        pytest.skip("nm (binutils) is missing")
    assert exported(Path(_pylws_cffi.__file__)) == {"PyInit__pylws_cffi"}

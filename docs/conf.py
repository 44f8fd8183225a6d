"""Sphinx configuration of the pylws_ffi documentation (``bash docs/build.sh``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# autodoc must import the *installed* package (it holds the compiled cffi
# module); the checkout's pylws_ffi/ has none, so keep the checkout off the path.
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != ROOT]

project = "pylws_ffi"
author = "the pylws_ffi authors"
copyright = "the pylws_ffi authors, MIT licence"
try:
    from importlib.metadata import version as _version

    release = version = _version("pylws_ffi")
except Exception:  # not installed: autodoc fails below with the reason
    release = version = ""

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "README.md"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# The C reference uses Sphinx's C domain; references to types it does not
# declare (struct pollfd, size_t...) stay plain text rather than warnings.
nitpicky = False

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True}

# no network access while building: intersphinx stays empty
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}

html_theme = "alabaster"
html_static_path = ["_static"]
html_title = "pylws_ffi"
html_theme_options = {
    "description": "The classic libwebsockets C API, a fast C core, and Python on top",
    "page_width": "1100px",
    "sidebar_width": "230px",
    "fixed_sidebar": True,
}
html_show_sourcelink = False

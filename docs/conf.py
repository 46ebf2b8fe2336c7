"""Sphinx configuration of smat's documentation.

Build it (warnings are errors, broken references too; tests/test_docs.py does this in CI):

    sphinx-build -W --keep-going -n -b html docs docs/_build/html

Why Sphinx with MyST-Parser: it is the toolchain of the JAX libraries smat's users know (flax,
optax and orbax build their documentation with Sphinx, MyST Markdown pages and
sphinx-book-theme), so the pages look and navigate like theirs; the pages stay Markdown, which
GitHub renders too; and `sphinx.ext.autodoc` with `napoleon` turns the Google-style docstrings
smat already has into the API reference, while a strict build (`-W -n`) fails on a broken link,
a missing reference or a malformed docstring. mkdocs-material with mkdocstrings was the other
candidate: good, but not what that ecosystem uses.

Generated at build time, so they cannot drift from the code: the configuration reference (every
field of smat/config/schema.py, docs/_ext/smat_docs.py), the flags of `python -m smat.main`, and
every other command's options (sphinx-argparse, from the parser each command builds:
docs/_ext/smat_cli_parsers.py).
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "_ext"))
sys.path.insert(0, os.path.dirname(HERE))  # smat itself, also without an installed package

project = "smat"
author = "smat contributors"
copyright = "smat contributors"  # noqa: A001 (Sphinx's name)
release = version = "0.1.0"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinxarg.ext",
    "smat_docs",
]

source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]
root_doc = "index"
# No typographic quotes and dashes: `--flag` in prose and help texts must stay two hyphens.
smartquotes = False
# `text` in docstrings is code (Google style as smat writes it), not reST's italic title.
default_role = "code"

# MyST: ```{directive}``` and ::: fences, $math$, definition lists, heading anchors for
# `page.md#section` links.
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3

# API reference from docstrings (Google style).
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "fully-qualified"
autodoc_preserve_defaults = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = False  # (their types split at ", " into broken references)

# Strict: every reference must resolve (`-n`). The types of other libraries have no inventory
# here (the build runs offline, without intersphinx), so references to them are not checked.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(jax|jnp|flax|nn|nnx|optax|orbax|ml_collections|np|numpy|tokenizers)(\..*)?"),
    (r"py:.*", r"(Any|Callable|Sequence|Mapping|Iterable|Iterator|Path|T)"),
    (r"py:.*", r"(collections\.abc|typing|pathlib|os)\..*"),
]

html_theme = "sphinx_book_theme"
html_title = "smat"
html_theme_options = {
    "show_toc_level": 2,
    "home_page_in_toc": True,
}
# The light/dark default (a template variable, not a theme option): without it the theme's
# script logs "Got invalid theme mode" to the console on a first visit.
html_context = {"default_mode": "auto"}
html_static_path: list[str] = []

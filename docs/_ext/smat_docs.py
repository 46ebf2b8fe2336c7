"""Pages generated from the code at build time, so they cannot drift from it.

- ``smat-config-fields``: every field of smat's config, its default and its meaning, read from
  `smat/config/schema.py` (the values from `smat.config.base()` / `student_base()`, the
  meanings from the comments beside each field). A field without a comment fails the build.
- ``smat-main-flags``: the absl flags of `python -m smat.main`, from the flags themselves.
- Links to files of the repository outside docs/ (reports under experiments/results/, for one)
  are written as ordinary relative Markdown links, which GitHub follows; for Sphinx they are
  turned into download links (the file is copied into the built site), so they resolve in both.
"""

from __future__ import annotations

import ast
import io
import os
import re
import tokenize
from collections.abc import Iterator
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = os.path.join(REPO, "docs")

# The functions of schema.py that define fields, and the variable each assigns them on.
SECTION_FUNCTIONS = {
    "base": "c",
    "student_base": "c",
    "optim_section": "o",
    "explainer_section": "e",
}
# Config sections built by a helper: their fields are documented once, in the helper.
OPTIM_SECTIONS = ("optim", "meta.optim", "explainer_optim")
EXPLAINER_SECTIONS = ("teacher_explainer", "student_explainer")


# ---------------------------------------------------------------------------------------------
# Config fields from smat/config/schema.py


def _comments(source: str) -> dict[int, str]:
    """Line number -> the comment text on that line (without '#')."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string.lstrip("#").strip()
    return out


def _dotted(target: ast.expr, root: str) -> str | None:
    parts = []
    while isinstance(target, ast.Attribute):
        parts.append(target.attr)
        target = target.value
    if isinstance(target, ast.Name) and target.id == root and parts:
        return ".".join(reversed(parts))
    return None


def schema_meanings(path: str) -> dict[str, dict[str, str]]:
    """{function: {dotted field: meaning}} from the comments of schema.py, and under
    "function:own" the fields documented by a comment of their own (not a shared block).

    A comment at the end of an assignment's line documents that field. A block of comment lines
    documents the assignments that follow it without a blank line between, up to one with a
    comment of its own (`c.model.hidden_size`, `num_heads`, ... share one). A section's own
    assignment (`c.explainer_optim = optim_section(...)`) is documented the same way.
    """
    with open(path) as f:
        source = f.read()
    lines = source.splitlines()
    comments = _comments(source)
    out: dict[str, dict[str, str]] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.FunctionDef) or node.name not in SECTION_FUNCTIONS:
            continue
        root, fields, own = SECTION_FUNCTIONS[node.name], {}, {}
        block: list[str] = []  # the comment block in force
        last = node.body[0].lineno - 1
        for stmt in node.body:
            # comment lines between the previous statement and this one
            between = range(last + 1, stmt.lineno)
            if any(not lines[i - 1].strip() for i in between):
                block = []  # a blank line ends a block's reach
            own_block = [comments[i] for i in between if i in comments]
            if own_block:
                block = own_block
            last = stmt.end_lineno
            if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1:
                continue
            name = _dotted(stmt.targets[0], root)
            if name is None:
                continue
            trailing = comments.get(stmt.lineno) or comments.get(stmt.end_lineno)
            if trailing and not own_block:
                fields[name] = trailing
                block = []  # a field with its own comment ends the block's reach
            else:
                fields[name] = " ".join(block + ([trailing] if trailing else []))
            if own_block or trailing:
                own[name] = fields[name]
        out[node.name] = fields
        out[f"{node.name}:own"] = own
    return out


def _leaves(d: dict, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in d.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def config_rows() -> list[tuple[str, str, str, str]]:
    """(field, teacher default, student default, meaning) of every field, in schema order.

    `teacher.*` (a student's teacher section: the whole teacher config) is left out: its fields
    are the top-level ones.
    """
    from smat import config as config_lib

    meanings = schema_meanings(os.path.join(REPO, "smat", "config", "schema.py"))
    teacher = dict(_leaves(config_lib.to_dict(config_lib.base())))
    student = dict(_leaves(config_lib.defaults()))
    rows, missing, sections = [], [], set()
    for field, value in student.items():
        if field.startswith("teacher."):
            continue
        section, _, leaf = field.rpartition(".")
        if section and section not in sections:
            sections.add(section)
            about = meanings["student_base:own"].get(section) or meanings["base:own"].get(section)
            if about:  # the section's own comment, e.g. what explainer_optim is for
                rows.append((f"{section}.*", "", "", about))
        if section in OPTIM_SECTIONS:
            meaning = meanings["optim_section"].get(leaf)
        elif section in EXPLAINER_SECTIONS:
            meaning = meanings["explainer_section"].get(leaf)
        else:
            meaning = meanings["base"].get(field) or meanings["student_base"].get(field)
        if not meaning:
            missing.append(field)
        teacher_default = _show(teacher[field]) if field in teacher else "–"
        rows.append((field, teacher_default, _show(value), meaning or ""))
    if missing:
        raise ExtensionError(
            "config fields without a comment in smat/config/schema.py (document them there): "
            + ", ".join(missing)
        )
    return rows


def _show(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list):
        return repr(tuple(value))
    return repr(value)


def _code(text: str) -> str:
    """`text` as a code span in a Markdown table cell."""
    return text.replace("|", "\\|")


def _cell(text: str) -> str:
    """`text` as a Markdown table cell: pipes, HTML-like `<workdir>` and globs kept literal."""
    for char, escaped in (("|", "\\|"), ("<", "&lt;"), (">", "&gt;"), ("*", "\\*")):
        text = text.replace(char, escaped)
    return text


class ConfigFields(SphinxDirective):
    """Every config field, one table per section (see the module docstring)."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(os.path.join(REPO, "smat", "config", "schema.py"))
        out, section = [], None
        for field, teacher, student, meaning in config_rows():
            group = field.split(".")[0] if "." in field else ""
            if group != section:
                section = group
                title = f"`{group}`: `--config.{group}.*`" if group else "top level"
                out += ["", f"**{title}**", "", "| field: default | meaning |", "|---|---|"]
            if field.endswith(".*"):
                out.append(f"| `{field}` | {_cell(meaning)} |")
                continue
            if teacher == "–":
                default = f"`{_code(student)}` (students only)"
            elif teacher == student:
                default = f"`{_code(teacher)}`"
            else:
                default = f"`{_code(teacher)}`; students: `{_code(student)}`"
            out.append(f"| `{field}`: {default} | {_cell(meaning)} |")
        return self.parse_lines(out)

    def parse_lines(self, lines: list[str]) -> list[nodes.Node]:
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source="smat/config/schema.py"), 0, container)
        return container.children


class MainFlags(SphinxDirective):
    """A table of `python -m smat.main`'s own flags, from absl's flag registry."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from absl import flags

        import smat.main  # noqa: F401  (defines the flags)

        self.env.note_dependency(os.path.join(REPO, "smat", "main.py"))
        out = ["| flag | default | meaning |", "|---|---|---|"]
        for flag in flags.FLAGS.get_flags_for_module("smat.main"):
            default = "required" if flag.name == "config" else repr(flag.default)
            help_text = " ".join(flag.help.split())
            out.append(f"| `--{flag.name}` | `{_code(default)}` | {_cell(help_text)} |")
        container = nodes.container()
        self.state.nested_parse(StringList(out, source="smat/main.py"), 0, container)
        return container.children


# ---------------------------------------------------------------------------------------------
# Links to repository files outside docs/

# [text](target) or ![alt](target), target without a scheme or a leading '#'.
_LINK = re.compile(r"(!?\[[^\]\n]*\]\()([^)\s]+)(\))")


def rewrite_links(text: str, file_dir: str, doc_dir: str) -> str:
    """Links of a Markdown file in `file_dir`, read for a page in `doc_dir`: a link to a file
    outside docs/ becomes a MyST `path:` (download) link relative to the page; a link to a page
    of docs/ is made relative to the page. Images are left to MyST (`:relative-images:`)."""

    def fix(match: re.Match) -> str:
        opening, target, closing = match.groups()
        if opening.startswith("!") or re.match(r"^[a-z][a-z0-9+.-]*:", target) or target[0] in "#/":
            return match.group(0)
        path, _, anchor = target.partition("#")
        absolute = os.path.normpath(os.path.join(file_dir, path))
        if not os.path.exists(absolute):
            return match.group(0)  # left for Sphinx to report
        relative = os.path.relpath(absolute, doc_dir)
        if absolute.startswith(DOCS + os.sep):
            return f"{opening}{relative}{'#' + anchor if anchor else ''}{closing}"
        if os.path.isdir(absolute):
            raise ExtensionError(f"a link to the folder {target!r} cannot be in the built site")
        return f"{opening}path:{relative}{closing}"

    return _LINK.sub(fix, text)


def _on_source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    doc_dir = os.path.dirname(app.env.doc2path(docname))
    source[0] = rewrite_links(source[0], doc_dir, doc_dir)


def _on_include_read(
    app: Sphinx, relative_path: Any, parent_docname: str, content: list[str]
) -> None:
    doc_dir = os.path.dirname(app.env.doc2path(parent_docname))
    file_dir = os.path.dirname(os.path.normpath(os.path.join(doc_dir, str(relative_path))))
    content[0] = rewrite_links(content[0], file_dir, doc_dir)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("smat-config-fields", ConfigFields)
    app.add_directive("smat-main-flags", MainFlags)
    app.connect("source-read", _on_source_read)
    app.connect("include-read", _on_include_read)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

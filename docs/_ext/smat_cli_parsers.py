"""The argparse parser of each `python -m smat.*` command, for sphinx-argparse's `argparse`
directive (`:module: smat_cli_parsers`, `:func: <command>`).

The commands build their parser inside `main()`, so the parser is taken from there: `main([])`
runs with `ArgumentParser.parse_args` replaced by a function that hands the parser back before
anything else happens. The pages therefore show exactly the options and help each command has.
"""

from __future__ import annotations

import argparse
import importlib


class _Parser(Exception):
    def __init__(self, parser: argparse.ArgumentParser):
        super().__init__(parser.prog)
        self.parser = parser


def _rst_safe(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """sphinx-argparse reads help texts as reStructuredText: a glob's `*` ('n500/*') would open
    an emphasis. Escapes it in this parser's (and its subcommands') texts, which are fresh
    objects built for the page: the command's own --help is untouched."""
    parser.description = (parser.description or "").replace("*", "\\*") or None
    for action in parser._actions:
        if action.help and action.help is not argparse.SUPPRESS:
            action.help = action.help.replace("*", "\\*")
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                choice.help = (choice.help or "").replace("*", "\\*")
            for sub in action.choices.values():
                _rst_safe(sub)
    return parser


def parser_of(module: str) -> argparse.ArgumentParser:
    """The parser `module.main()` builds (`module` is e.g. "smat.explain"), its help texts made
    safe for reStructuredText."""

    def hand_back(self, *args, **kwargs):
        raise _Parser(self)

    main = importlib.import_module(module).main
    original = argparse.ArgumentParser.parse_args
    argparse.ArgumentParser.parse_args = hand_back
    try:
        main([])
    except _Parser as found:
        return _rst_safe(found.parser)
    finally:
        argparse.ArgumentParser.parse_args = original
    raise RuntimeError(f"{module}.main() returned without parsing its arguments")


def explain() -> argparse.ArgumentParser:
    return parser_of("smat.explain")


def predict() -> argparse.ArgumentParser:
    return parser_of("smat.predict")


def sweep() -> argparse.ArgumentParser:
    return parser_of("smat.sweep")


def report() -> argparse.ArgumentParser:
    return parser_of("smat.report")


def patch_heatmaps() -> argparse.ArgumentParser:
    return parser_of("smat.patch_heatmaps")


def select_explainer() -> argparse.ArgumentParser:
    return parser_of("smat.select_explainer")


def annotate() -> argparse.ArgumentParser:
    return parser_of("smat.annotate.__main__")

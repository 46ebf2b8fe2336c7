"""Callbacks a user names in the config (`callbacks`, or `python -m smat.main --callbacks`).

A spec is a comma-separated list of import strings, each `package.module:Name` with optional
keyword arguments of literal values (numbers, strings, booleans, None, lists, dicts):

  --config.callbacks="my_lab.hooks:PrintEvery(every=10),my_lab.hooks:make_logger"

`Name` is a `smat.callbacks.Callback` subclass or a factory returning one; it is imported and
called when the trainer is built, so a name that does not resolve or arguments it does not take
are a one-line config error before any work.
"""

from __future__ import annotations

import ast
import importlib
from typing import Any

from smat.callbacks.base import Callback
from smat.errors import ConfigError

_FORM = "give package.module:Name or package.module:Name(key=value, ...)"


def _split(spec: str) -> list[str]:
    """Splits at the commas outside parentheses, brackets and quotes."""
    parts, depth, quote, current = [], 0, "", []
    for ch in spec:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse(spec: str) -> list[tuple[str, str, dict[str, Any]]]:
    """`(module, name, kwargs)` for each import string in `spec`; raises ConfigError."""
    out = []
    for item in _split(spec):
        module, sep, call = item.partition(":")
        if not sep or not module or not call:
            raise ConfigError(f"callbacks: {item!r} names no object; {_FORM}")
        try:
            tree = ast.parse(call.strip(), mode="eval").body
        except SyntaxError:
            raise ConfigError(f"callbacks: {item!r} does not parse; {_FORM}") from None
        if isinstance(tree, ast.Name):
            out.append((module.strip(), tree.id, {}))
            continue
        if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name)) or tree.args:
            raise ConfigError(f"callbacks: {item!r}: arguments go by keyword; {_FORM}")
        kwargs = {}
        for keyword in tree.keywords:
            try:
                kwargs[keyword.arg] = ast.literal_eval(keyword.value)
            except ValueError:
                raise ConfigError(
                    f"callbacks: {item!r}: {keyword.arg}= is not a literal (a number, string, "
                    "boolean, None, list or dict)"
                ) from None
        out.append((module.strip(), tree.func.id, kwargs))
    return out


def build(spec: str) -> list[Callback]:
    """Imports and builds the callbacks `spec` names; raises ConfigError naming the problem."""
    callbacks = []
    for module_name, name, kwargs in parse(spec):
        where = f"{module_name}:{name}"
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            raise ConfigError(
                f"callbacks: cannot import {module_name!r} ({e}); is it installed or on PYTHONPATH?"
            ) from None
        if not hasattr(module, name):
            raise ConfigError(f"callbacks: module {module_name!r} has no {name!r}")
        try:
            callback = getattr(module, name)(**kwargs)
        except TypeError as e:
            raise ConfigError(f"callbacks: {where}({kwargs}) failed: {e}") from None
        if not isinstance(callback, Callback):
            raise ConfigError(
                f"callbacks: {where} gave a {type(callback).__name__}, not a "
                "smat.callbacks.Callback: subclass it and override the hooks you need"
            )
        callbacks.append(callback)
    return callbacks

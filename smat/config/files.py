"""Configs from files and the command line: `path/to/config.py[:variant]`, overrides by dotted
name, and the code config files share."""

from __future__ import annotations

import ml_collections

from smat.errors import ConfigError


def variant(arg: str | None, known: tuple[str, ...]) -> str:
    """Validates the `:variant` suffix of `--config=file.py:variant` (empty = default)."""
    arg = arg or "default"
    if arg not in known:
        raise ValueError(f"unknown config variant {arg!r}; known: {', '.join(known)}")
    return arg


def override(c: ml_collections.ConfigDict, overrides: dict) -> None:
    """Sets fields named by dotted keys ({"optim.learning_rate": 1e-4}), like `--config.x=y`.

    Raises ConfigError for an unknown field or a value of the wrong type.
    """
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = c
        try:
            for p in parents:
                node = node[p]
            if leaf not in node:
                raise KeyError(leaf)
            node[leaf] = value
        except (KeyError, AttributeError):
            raise ConfigError(
                f"config override {dotted!r}: no such field; see smat/config.py for the fields"
            ) from None
        except TypeError as e:
            raise ConfigError(f"config override {dotted}={value!r}: {e}") from None


def sibling_module(config_file: str, name: str):
    """Imports `name` (e.g. "vision.py") from the folder of `config_file` (a config's
    `__file__`): config files share code this way without being a package."""
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(os.path.abspath(config_file)), name)
    spec = importlib.util.spec_from_file_location(f"_smat_config_{name[:-3]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def from_file(spec: str) -> ml_collections.ConfigDict:
    """Loads `path/to/config.py[:variant]` like `--config=` does (for the Python API and tests)."""
    import importlib.util

    path, _, arg = spec.partition(":")
    module_spec = importlib.util.spec_from_file_location("_smat_config", path)
    if module_spec is None:
        raise FileNotFoundError(f"no config file {path!r}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    config = module.get_config(arg or None)
    config.lock()
    return config

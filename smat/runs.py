"""A run's files, read back: its config, its model (model.json + tokenizer copy) and its best
parameters, to rebuild a trained teacher or student without the code that trained it."""

from __future__ import annotations

import os
import shutil
from typing import Any

import ml_collections

from smat.checkpointing import Checkpointer, read_json, write_json
from smat.errors import ConfigError
from smat.models import module_from_description


def run_config(workdir: str) -> ml_collections.ConfigDict:
    """The resolved config a CLI run wrote to its workdir."""
    path = os.path.join(workdir, "config.json")
    if not os.path.isfile(path):
        raise ConfigError(f"{workdir!r} holds no run (no config.json)")
    return ml_collections.ConfigDict(read_json(path))


def save_model_description(workdir: str, description: dict[str, Any], tokenizer_path: str) -> None:
    """Writes model.json and a copy of the tokenizer file (text models; "" for images), so the
    run can be rebuilt alone."""
    name = os.path.basename(tokenizer_path) if tokenizer_path else ""
    if name:
        shutil.copyfile(tokenizer_path, os.path.join(workdir, name))
    write_json(os.path.join(workdir, "model.json"), {"model": description, "tokenizer": name})


def restore_best_of(workdir: str) -> Any:
    """The best checkpoint's params of a run's workdir (ConfigError if it has none)."""
    ckpt = Checkpointer(workdir, async_save=False)
    try:
        params, _ = ckpt.restore_best()
    except FileNotFoundError:
        raise ConfigError(
            f"{workdir!r} has no best checkpoint yet; let the run evaluate once"
        ) from None
    finally:
        ckpt.close()
    return params


def _model_info(workdir: str) -> dict[str, Any]:
    model_json = os.path.join(workdir, "model.json")
    if not os.path.isfile(model_json):
        raise ConfigError(f"{workdir!r} holds no trained model (no model.json); train it first")
    return read_json(model_json)


def tokenizer_file(workdir: str, info: dict[str, Any] | None = None) -> str:
    """The tokenizer file a run saved beside its model ("" for image models)."""
    info = info or _model_info(workdir)
    return os.path.join(workdir, info["tokenizer"]) if info["tokenizer"] else ""


def load_trained_model(workdir: str):
    """Rebuilds a finished (or interrupted) run's model with its best params.

    Returns:
      (flax module, params, tokenizer file path ("" for image models), run config as a dict).
    """
    info = _model_info(workdir)
    params = restore_best_of(workdir)
    module = module_from_description(info["model"])
    config = read_json(os.path.join(workdir, "config.json"))
    return module, params, tokenizer_file(workdir, info), config

"""Explainers read back: folders written by `TrainedExplainer.save`, and the teacher
explainers (and student explanations) of runs trained by the command line.

explainer = smat.load_explainer("my_explainer")            # a saved folder
explainer = smat.load_teacher_explainer("runs/imdb/smat")  # a CLI student run's teacher
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import flax.serialization
import jax
import numpy as np

from smat import checkpointing, explainers, models, runs
from smat.errors import ConfigError
from smat.simulation import Simulation
from smat.trained_explainer import FORMAT, TrainedExplainer


def _rebuild(description: dict[str, Any] | None, path: str):
    if description is None:
        raise ConfigError(
            f"{path!r} cannot rebuild its teacher (an nnx module, or a linen module whose class "
            "is defined in __main__ or has non-JSON fields): pass it, "
            "smat.load_explainer(path, teacher=<your module>)"
        )
    if description["kind"] == "smat":
        return models.module_from_description(description["description"])
    module_name, _, qualname = description["class"].partition(":")
    obj = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj(**description["fields"])


def load_explainer(path: str, teacher: Any = None) -> TrainedExplainer:
    """Reads a folder written by `TrainedExplainer.save`.

    Args:
      path: the folder.
      teacher: the teacher module (linen or nnx), needed when the folder cannot rebuild it;
        its params are read from the folder.
    """
    info_path = os.path.join(path, "explainer.json")
    if not os.path.isfile(info_path):
        raise ConfigError(f"{path!r} holds no saved explainer (no explainer.json)")
    info = checkpointing.read_json(info_path)
    if info.get("format") != FORMAT:
        raise ConfigError(f"{path!r} has explainer format {info.get('format')}, expected {FORMAT}")
    trees = {}
    for name in ("phi", "teacher_params"):
        with open(os.path.join(path, f"{name}.msgpack"), "rb") as f:
            trees[name] = flax.serialization.msgpack_restore(f.read())
    module = teacher if teacher is not None else _rebuild(info["teacher"], path)
    return TrainedExplainer(
        models.BuiltModel(module),
        trees["teacher_params"],
        info["explainer"],
        info["learnable"],
        trees["phi"],
        tokenizer_file=os.path.join(path, info["tokenizer"]) if info["tokenizer"] else None,
        max_length=info["max_length"],
        summary=info["summary"],
    )


def teacher_explainer(
    teacher_dir: str,
    explainer_config: dict[str, Any],
    learnable: bool = False,
    phi: Any = None,
    summary: dict[str, Any] | None = None,
) -> TrainedExplainer:
    """An explainer of a teacher trained by the CLI (`teacher_dir`: its workdir); φ = None: the
    explainer's initial params (a static explainer needs no student run)."""
    module, params, tokenizer_file, teacher_config = runs.load_trained_model(teacher_dir)
    return TrainedExplainer(
        models.BuiltModel(
            module, None, checkpointing.read_json(os.path.join(teacher_dir, "model.json"))["model"]
        ),
        params,
        explainer_config,
        learnable,
        phi,
        tokenizer_file=tokenizer_file,
        max_length=teacher_config["data"]["max_length"],
        summary=summary,
    )


def load_teacher_explainer(workdir: str) -> TrainedExplainer:
    """The teacher explainer of a CLI student run (its best checkpoint's params)."""
    config = runs.run_config(workdir).to_dict()
    if config["setup"] not in ("static_teacher", "learnable_teacher"):
        raise ConfigError(f"{workdir!r} is a {config['setup']!r} run, not a student run")
    if config["teacher_explainer"]["name"] == "none" or config["beta"] == 0:
        raise ConfigError(f"{workdir!r} was trained without a teacher explainer")
    summary_path = os.path.join(workdir, "summary.json")
    explainer = dict(config["teacher_explainer"])
    if explainer.get("from_run"):  # fixed weights, used as they are (smat.transfer)
        explainer["head_norm"] = "none"
    return teacher_explainer(
        config["teacher_workdir"] or os.path.join(workdir, "teacher"),
        explainer,
        config["setup"] == "learnable_teacher",
        runs.restore_best_of(workdir)["phi"],
        summary=checkpointing.read_json(summary_path) if os.path.isfile(summary_path) else None,
    )


def student_explanations(workdir: str, batch: dict[str, np.ndarray]) -> np.ndarray:
    """The explanations [N, positions] of a CLI student run's student (best checkpoint)."""
    config = runs.run_config(workdir)
    explainer = explainers.build(config.student_explainer, learnable=True)
    if explainer is None or config.beta == 0:
        raise ValueError(f"{workdir!r} trained its student without explanations")
    params = runs.restore_best_of(workdir)["params"]
    num_classes = np.asarray(params["model"]["classifier"]["bias"]).shape[-1]
    built = models.build_model(config.model, num_classes, 0)
    sim = Simulation(built.apply, None, explainer, config.beta, config.task)
    return np.asarray(jax.jit(sim.student_explanation)(params, batch))

"""A trained teacher explainer (static or learned by SMAT), applied to new inputs; save / load.

explain = smat.load_teacher_explainer("runs/imdb/smat")     # from a CLI student run
explain(["A gripping, beautifully acted film."])            # [[("[CLS]", 0.01), ("a", 0.02), ...]]
explainer = smat.train_explainer(...)                       # from the Python API
explainer.explain({"input_ids": ids, "attention_mask": mask})   # [batch, tokens]
explainer.save("my_explainer"); smat.load_explainer("my_explainer")
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import shutil
from typing import Any

import flax.linen as nn
import flax.serialization
import jax
import ml_collections
import numpy as np

from smat import checkpointing, explainers, models, runs
from smat.data.pipeline import as_dataset, input_arrays, model_inputs
from smat.data.tokenization import as_arrays, load_tokenizer
from smat.errors import ConfigError
from smat.simulation import Simulation

FORMAT = 1


class TrainedExplainer:
    """A frozen teacher model, its explainer and the explainer's params φ.

    Attributes:
      model: the teacher (`smat.models.BuiltModel`).
      params: the teacher's params.
      explainer: the explainer object (e.g. `smat.explainers.AttentionExplainer`).
      explainer_config: its config section as a dict (rebuilds `explainer`).
      phi: the explainer's params (learned by SMAT); None: its initial (uniform) ones.
      summary: the training run's summary (simulability, ...), if any.
    """

    def __init__(
        self,
        model: models.BuiltModel,
        params: Any,
        explainer_config: dict[str, Any],
        learnable: bool,
        phi: Any,
        *,
        tokenizer_file: str | None = None,
        max_length: int | None = None,
        summary: dict[str, Any] | None = None,
    ):
        self.model, self.params, self.phi = model, params, phi
        self.explainer_config, self.learnable = explainer_config, learnable
        self.explainer = explainers.build(ml_collections.ConfigDict(explainer_config), learnable)
        if self.explainer is None:
            raise ConfigError("explainer 'none' gives no explanations")
        if phi is None:
            out = models.output_shapes(model.adapted, params, models.example_inputs(model.module))
            self.phi = self.explainer.init(*models.attention_grid(out)) or {
                "none": np.zeros((), np.float32)
            }
        self.tokenizer_file, self.max_length = tokenizer_file, max_length
        self.tokenizer = (
            load_tokenizer(tokenizer_file, max_length) if tokenizer_file and max_length else None
        )
        self.summary = summary or {}
        self._explain = jax.jit(self._run)
        self._logits = jax.jit(lambda p, b: model.apply({"params": p}, *model_inputs(b)).logits)

    def _run(self, params, phi, batch):
        apply = self.model.apply
        out = apply({"params": params}, *model_inputs(batch))
        features = self.explainer.compute(apply, params, batch, out)
        return self.explainer.explain(phi, features, batch["attention_mask"])

    def with_explainer(
        self, explainer_config: dict[str, Any], learnable: bool = False, phi: Any = None
    ) -> TrainedExplainer:
        """Another explainer of the same (already loaded) teacher; φ = None: its initial params."""
        return TrainedExplainer(
            self.model,
            self.params,
            explainer_config,
            learnable,
            phi,
            tokenizer_file=self.tokenizer_file,
            max_length=self.max_length,
        )

    @property
    def head_weights(self) -> np.ndarray | None:
        """The normalised [layers, heads] head weights (attention explainer), else None."""
        if not isinstance(self.explainer, explainers.AttentionExplainer):
            return None
        return np.asarray(self.explainer.head_weights(self.phi))

    def explain(self, batch, batch_size: int = 32) -> np.ndarray:
        """Explanations [batch, tokens] (zero on padding, rows sum to 1) of a batch: a dict with
        `input_ids` and `attention_mask` (or a bare input_ids array).

        Computed `batch_size` rows at a time (gradient explainers hold a backward pass per
        integration step in memory); the last chunk is padded so that one compilation serves all.
        """
        arrays = as_dataset(batch, "batch").arrays
        inputs = input_arrays(arrays)
        n = len(inputs["attention_mask"])
        if n <= batch_size:
            return np.asarray(self._explain(self.params, self.phi, inputs))
        out = []
        for start in range(0, n, batch_size):
            rows = np.arange(start, start + batch_size) % n  # wrap: real rows, no empty masks
            chunk = {k: v[rows] for k, v in inputs.items()}
            out.append(np.asarray(self._explain(self.params, self.phi, chunk)))
        return np.concatenate(out)[:n]

    def predict(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """The teacher's outputs (logits, or the score of a regression teacher) on a batch."""
        return np.asarray(self._logits(self.params, input_arrays(batch)))

    def __call__(self, texts: list[str]) -> list[list[tuple[str, float]]]:
        """Per-token (token, score) lists of raw texts, one per text (needs a tokenizer)."""
        if self.tokenizer is None:
            raise ConfigError(
                "this explainer has no tokenizer: call .explain(batch) on token ids instead"
            )
        encodings = self.tokenizer.encode_batch(list(texts))
        scores = self.explain(as_arrays(encodings))
        return [
            [
                (tok, float(s))
                for tok, s, m in zip(e.tokens, row, e.attention_mask, strict=True)
                if m
            ]
            for e, row in zip(encodings, scores, strict=True)
        ]

    def save(self, path: str) -> str:
        """Writes a folder that `smat.load_explainer` reads back; returns its path.

        The teacher's params are saved with it; the teacher's architecture too when it can be
        rebuilt (smat's own models, or a linen module of an importable class with JSON-typed
        fields), otherwise `load_explainer` needs `teacher=` your module.
        """
        os.makedirs(path, exist_ok=True)
        info = {
            "format": FORMAT,
            "explainer": self.explainer_config,
            "learnable": self.learnable,
            "teacher": _describe(self.model),
            "max_length": self.max_length,
            "tokenizer": None,
            "summary": self.summary,
        }
        if self.tokenizer_file:
            info["tokenizer"] = "tokenizer" + os.path.splitext(self.tokenizer_file)[1]
            shutil.copyfile(self.tokenizer_file, os.path.join(path, info["tokenizer"]))
        for name, tree in (("phi", self.phi), ("teacher_params", self.params)):
            with open(os.path.join(path, f"{name}.msgpack"), "wb") as f:
                f.write(flax.serialization.msgpack_serialize(jax.tree.map(np.asarray, tree)))
        checkpointing.write_json(os.path.join(path, "explainer.json"), info)
        return path


def _describe(model: models.BuiltModel) -> dict[str, Any] | None:
    """How to rebuild the teacher's module, or None if it cannot be written down."""
    if model.description:
        return {"kind": "smat", "description": model.description}
    module = model.module
    if not isinstance(module, nn.Module) or type(module).__module__ == "__main__":
        return None
    fields = {
        f.name: getattr(module, f.name)
        for f in dataclasses.fields(module)
        if f.init and f.name not in ("parent", "name")
    }
    try:
        json.dumps(fields)
    except TypeError:
        return None
    cls = type(module)
    return {"kind": "linen", "class": f"{cls.__module__}:{cls.__qualname__}", "fields": fields}


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

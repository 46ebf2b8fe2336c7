"""Apply a trained teacher explainer (static or learned by SMAT) to new text.

explain = smat.load_teacher_explainer("runs/imdb/smat")
explain(["A gripping, beautifully acted film."])  # [[("[CLS]", 0.01), ("a", 0.02), ...]]
"""

from __future__ import annotations

import os

import jax
import ml_collections
import numpy as np

from smat import checkpointing, explainers
from smat.data.tokenization import load_tokenizer
from smat.errors import ConfigError


class TeacherExplainer:
    """A teacher model, its explainer and the explainer's params, applied to raw text."""

    def __init__(self, module, params, explainer, phi, tokenizer_file: str, max_length: int):
        self.module, self.params, self.explainer, self.phi = module, params, explainer, phi
        self.tokenizer = load_tokenizer(tokenizer_file, max_length)
        self._explain = jax.jit(self._run)

    def _run(self, params, phi, batch):
        out = self.module.apply({"params": params}, batch["input_ids"], batch["attention_mask"])
        features = self.explainer.compute(self.module.apply, params, batch, out)
        return self.explainer.explain(phi, features, batch["attention_mask"])

    def __call__(self, texts: list[str]) -> list[list[tuple[str, float]]]:
        """Per-token (token, score) lists, one per text; scores of a text sum to 1."""
        encodings = self.tokenizer.encode_batch(list(texts))
        batch = {
            "input_ids": np.asarray([e.ids for e in encodings], np.int32),
            "attention_mask": np.asarray([e.attention_mask for e in encodings], np.int32),
        }
        scores = np.asarray(self._explain(self.params, self.phi, batch))
        return [
            [
                (tok, float(s))
                for tok, s, m in zip(e.tokens, row, e.attention_mask, strict=True)
                if m
            ]
            for e, row in zip(encodings, scores, strict=True)
        ]


def load_teacher_explainer(workdir: str) -> TeacherExplainer:
    """The teacher explainer of a student run (its best checkpoint's params)."""
    config_path = os.path.join(workdir, "config.json")
    if not os.path.isfile(config_path):
        raise ConfigError(f"{workdir!r} holds no run (no config.json)")
    config = checkpointing.read_json(config_path)
    if config["setup"] not in ("static_teacher", "learnable_teacher"):
        raise ConfigError(f"{workdir!r} is a {config['setup']!r} run, not a student run")
    explainer = explainers.build(
        ml_collections.ConfigDict(config["teacher_explainer"]),
        learnable=config["setup"] == "learnable_teacher",
    )
    if explainer is None:
        raise ConfigError(f"{workdir!r} was trained without a teacher explainer")
    teacher_dir = config["teacher_workdir"] or os.path.join(workdir, "teacher")
    module, params, tokenizer_file, teacher_config = checkpointing.load_trained_model(teacher_dir)
    return TeacherExplainer(
        module,
        params,
        explainer,
        checkpointing.restore_best_of(workdir)["phi"],
        tokenizer_file,
        teacher_config["data"]["max_length"],
    )

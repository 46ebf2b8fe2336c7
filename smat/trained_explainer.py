"""A trained teacher explainer (static or learned by SMAT), applied to new inputs; save / load.

explainer = smat.load_teacher_explainer("runs/imdb/smat")   # from a CLI student run
explainer.explain("A gripping, beautifully acted film.").show()  # an Attribution (smat.attribution)
explainer.scores({"input_ids": ids, "attention_mask": mask})     # [batch, tokens] array
explainer = smat.train_explainer(..., tokenizer="tokenizer.json")  # from the Python API
explainer.save("my_explainer"); smat.load_explainer("my_explainer")
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import flax.serialization
import jax
import ml_collections
import numpy as np

from smat import checkpointing, explainers, models
from smat.attribution import Attribution, Attributions
from smat.data.pipeline import as_dataset, input_arrays, model_inputs
from smat.data.tokenization import as_arrays, load_tokenizer
from smat.data.words import token_words, word_scores
from smat.errors import ConfigError

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
        self._run_jit = jax.jit(self._run, static_argnames=("raw", "gap"))
        self._logits = jax.jit(lambda p, b: model.apply({"params": p}, *model_inputs(b)).logits)
        self._baselines: dict[int, TrainedExplainer] = {}

    def _run(self, params, phi, batch, raw: bool = False, gap: bool = False):
        apply = self.model.apply
        out = apply({"params": params}, *model_inputs(batch))
        features = self.explainer.compute(apply, params, batch, out)
        mask = batch["attention_mask"]
        raw_scores = self.explainer.scores(phi, features, mask) if raw or gap else None
        result = {
            "scores": raw_scores if raw else self.explainer.explain(phi, features, mask),
            "logits": out.logits,
        }
        if gap:
            result["gap"] = self.explainer.completeness_gap(apply, params, batch, out, raw_scores)
        return result

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

    @property
    def name(self) -> str:
        """The explainer's name, e.g. "attention (learned)" or "integrated_gradients"."""
        return self.explainer_config["name"] + (" (learned)" if self.learnable else "")

    @property
    def explains_a_class(self) -> bool:
        """Whether `target=` applies: a gradient explainer (attention explains no class)."""
        return getattr(self.explainer, "method", None) in explainers.CLASS_GRADIENTS

    def scores(
        self,
        batch,
        *,
        target: int | Sequence[int] | None = None,
        normalize: bool = True,
        baseline: str | int | None = None,
        batch_size: int = 32,
    ) -> np.ndarray:
        """Explanations [batch, tokens] of a batch: a dict with `input_ids` and `attention_mask`
        (or a bare input_ids array). Distributions (zero on padding, rows sum to 1), or with
        `normalize=False` the raw scores; `target` and `baseline` as in `explain`."""
        inputs = input_arrays(as_dataset(batch, "batch").arrays)
        return self._outputs(inputs, target, normalize, baseline, batch_size)["scores"]

    def explain(
        self,
        inputs,
        *,
        target: int | Sequence[int] | None = None,
        aggregate: str = "token",
        word_reduce: str = "sum",
        normalize: bool = True,
        baseline: str | int | None = None,
        batch_size: int = 32,
    ) -> Attribution | Attributions:
        """Attributions of texts (or token ids), one `smat.attribution.Attribution` each.

        Args:
          inputs: a text, a sentence pair as a tuple of two texts, a list of them (needs the
            explainer's tokenizer), or a batch of token ids as in `scores` (no words then).
          target: the class to explain (gradient explainers), one for all or one per input;
            None: the class the model predicts. Attention explains no class: leave None.
          aggregate: "token" or "word": the level `.scores`, `.show()` and HTML use; both are
            always computed (words need texts).
          word_reduce: how a word's tokens are pooled: "sum" (its share of the distribution),
            "mean" or "max".
          normalize: True: distributions over tokens; False: the explainer's raw scores
            (signed for gradient × input and integrated gradients; attention: its mixed logits).
          baseline: integrated gradients' baseline: "zero", "pad", "mask" (that token's
            embedding at every non-special position) or a token id; None: the configured one.
          batch_size: rows computed at a time.
        Returns:
          One Attribution for one text (or pair), else an `Attributions` list.
        """
        if aggregate not in ("token", "word"):
            raise ConfigError(f"aggregate={aggregate!r}; choose 'token' or 'word'")
        texts, batch, encodings = self._encode(inputs)
        if encodings is None and aggregate == "word":
            raise ConfigError("aggregate='word' needs texts (words come from their offsets)")
        method = getattr(self._explainer_for(baseline).explainer, "method", None)
        gap = method == "integrated_gradients"
        out = self._outputs(batch, target, normalize, baseline, batch_size, gap=gap)
        result = Attributions()
        for i in range(len(batch["attention_mask"])):
            n = int(batch["attention_mask"][i].sum())
            if encodings is not None:
                pieces = texts[i] if isinstance(texts[i], tuple) else (texts[i],)
                ids, words, shown = token_words(encodings[i], pieces)
                real = [j for j, m in enumerate(encodings[i].attention_mask) if m]
                ids, shown = [ids[j] for j in real], [shown[j] for j in real]
            else:
                ids, words = [None] * n, []
                shown = [self._token(int(t)) for t in batch["input_ids"][i][:n]]
            token_scores = out["scores"][i][np.asarray(batch["attention_mask"][i]).astype(bool)]
            logits = np.asarray(out["logits"][i], np.float64).reshape(-1)
            regression = logits.size == 1
            probs = None if regression else np.exp(logits - logits.max())
            result.append(
                Attribution(
                    tokens=shown,
                    token_scores=token_scores,
                    words=words,
                    word_scores=word_scores(token_scores, ids, len(words), word_reduce)[0],
                    token_words=ids,
                    explainer=self.name,
                    text=texts[i] if texts is not None else None,
                    prediction=float(logits[0]) if regression else int(np.argmax(logits)),
                    probabilities=None if regression else probs / probs.sum(),
                    target=None if out["target"] is None else int(out["target"][i]),
                    normalized=normalize,
                    aggregate=aggregate,
                    word_reduce=word_reduce,
                    completeness_gap=float(out["gap"][i]) if "gap" in out else None,
                )
            )
        single = isinstance(inputs, str | tuple)
        return result[0] if single else result

    __call__ = explain

    def _token(self, token_id: int) -> str:
        return self.tokenizer.id_to_token(token_id) if self.tokenizer else str(token_id)

    def _encode(self, inputs):
        """(texts or None, model input arrays, encodings or None) of explain's `inputs`."""
        if isinstance(inputs, str | tuple) or (
            isinstance(inputs, list) and inputs and isinstance(inputs[0], str | tuple)
        ):
            texts = [inputs] if isinstance(inputs, str | tuple) else list(inputs)
            for t in texts:
                if isinstance(t, tuple) and (len(t) != 2 or not all(isinstance(x, str) for x in t)):
                    raise ConfigError(f"a sentence pair is a tuple of two texts, not {t!r}")
            if self.tokenizer is None:
                raise ConfigError(
                    "this explainer has no tokenizer: pass token ids (a batch), or train it "
                    "with smat.train_explainer(..., tokenizer=...)"
                )
            encodings = self.tokenizer.encode_batch(texts)
            batch = as_arrays(encodings)
            batch["special_tokens_mask"] = np.asarray(
                [e.special_tokens_mask for e in encodings], np.int32
            )
            return texts, batch, encodings
        return None, input_arrays(as_dataset(inputs, "inputs").arrays), None

    def _explainer_for(self, baseline: str | int | None) -> TrainedExplainer:
        """This explainer, or the same one with another integrated-gradients baseline."""
        if baseline is None:
            return self
        if getattr(self.explainer, "method", None) != "integrated_gradients":
            raise ConfigError("baseline= applies to integrated_gradients only")
        if baseline == "zero":
            token_id = None
        elif isinstance(baseline, int):
            token_id = baseline
        elif baseline in ("pad", "mask") and self.tokenizer is not None:
            names = ("[PAD]", "<pad>") if baseline == "pad" else ("[MASK]", "<mask>")
            found = [self.tokenizer.token_to_id(t) for t in names]
            token_id = next((i for i in found if i is not None), None)
            if token_id is None:
                raise ConfigError(f"the tokenizer has no {' or '.join(names)} token: pass its id")
        else:
            raise ConfigError(
                f"baseline={baseline!r}: use 'zero', a token id, or 'pad'/'mask' (with a tokenizer)"
            )
        if token_id == self.explainer.baseline_id:
            return self
        if token_id not in self._baselines:
            config = {**self.explainer_config, "ig_baseline_id": token_id}
            self._baselines[token_id] = self.with_explainer(config, self.learnable, self.phi)
        return self._baselines[token_id]

    def _outputs(self, batch, target, normalize, baseline, batch_size, gap: bool = False):
        """{"scores" [N, tokens], "logits", "target" (None or [N]), "gap" if asked}, computed
        `batch_size` rows at a time (gradient explainers hold a backward pass per integration
        step in memory); the last chunk is padded so that one compilation serves all."""
        runner = self._explainer_for(baseline)
        if not normalize and not hasattr(runner.explainer, "scores"):
            raise ConfigError(f"explainer {self.name!r} has no raw scores: use normalize=True")
        class_dependent = runner.explains_a_class
        n = len(batch["attention_mask"])
        # The output's shape only (no forward pass): the explanation pass gives the logits.
        example = {k: v[:1] for k, v in batch.items()}
        shape = models.output_shapes(runner.model.adapted, runner.params, example).logits.shape
        regression = len(shape) == 1 or shape[-1] == 1
        if target is not None and (not class_dependent or regression):
            raise ConfigError(
                f"target= needs a gradient explainer of a classifier; {self.name!r} explains "
                f"{'a regression output' if regression else 'no particular class'}"
            )
        targets = None
        if target is not None:
            targets = np.asarray(np.broadcast_to(target, n), np.int32)
            if targets.min() < 0 or targets.max() >= shape[-1]:
                raise ConfigError(f"target={target}: the model has {shape[-1]} classes")
            batch = {**batch, "explain_target": targets}
        chunks = []
        for start in range(0, n, batch_size):
            rows = np.arange(start, start + batch_size) % n  # wrap: real rows, no empty masks
            chunk = {k: v[rows] for k, v in batch.items()} if n > batch_size else batch
            result = runner._run_jit(runner.params, runner.phi, chunk, raw=not normalize, gap=gap)
            chunks.append(jax.tree.map(np.asarray, result))
        out = {k: np.concatenate([c[k] for c in chunks])[:n] for k in chunks[0]}
        if targets is None and class_dependent and not regression:
            targets = np.argmax(out["logits"], -1)  # what the explainer explained: the prediction
        out["target"] = targets
        return out

    def predict(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """The teacher's outputs (logits, or the score of a regression teacher) on a batch."""
        return np.asarray(self._logits(self.params, input_arrays(batch)))

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

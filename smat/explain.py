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

from smat import checkpointing, explainers, models
from smat.data.pipeline import as_dataset, input_arrays, model_inputs
from smat.data.tokenization import as_arrays, load_tokenizer
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
    module, params, tokenizer_file, teacher_config = checkpointing.load_trained_model(teacher_dir)
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
    config = checkpointing.run_config(workdir).to_dict()
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
        checkpointing.restore_best_of(workdir)["phi"],
        summary=checkpointing.read_json(summary_path) if os.path.isfile(summary_path) else None,
    )


# ----- viewer: terminal heatmaps and an HTML page comparing explainers -----------------------


def _pieces(tokens: list[str], scores: np.ndarray) -> list[tuple[str, float, bool]]:
    """(text, score, starts a new word) per real token; WordPiece '##' joins the previous."""
    out = []
    for tok, s in zip(tokens, scores, strict=True):
        joined = tok.startswith("##")
        out.append((tok[2:] if joined else tok, float(s), not joined))
    return out


def terminal_heatmap(tokens: list[str], scores: np.ndarray) -> str:
    """Tokens on an ANSI 24-bit background: the darker red, the higher the score."""
    top = float(np.max(scores)) or 1.0
    parts = []
    for text, s, new_word in _pieces(tokens, scores):
        level = s / top
        g = int(255 - 200 * level)
        fg = "38;2;255;255;255" if level > 0.6 else "38;2;0;0;0"
        parts.append(
            (" " if new_word and parts else "") + f"\x1b[48;2;255;{g};{g}m\x1b[{fg}m{text}\x1b[0m"
        )
    return "".join(parts)


def html_heatmap(tokens: list[str], scores: np.ndarray) -> str:
    """Tokens as <span>s whose red background's opacity is the score relative to the max."""
    import html

    top = float(np.max(scores)) or 1.0
    parts = []
    for text, s, new_word in _pieces(tokens, scores):
        title = f"{s:.4f}"
        span = (
            f'<span class="t" style="background:rgba(220,30,30,{s / top:.3f})" '
            f'title="{title}">{html.escape(text)}</span>'
        )
        parts.append((" " if new_word and parts else "") + span)
    return "".join(parts)


_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>smat explanations</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
h1 {{ font-size: 20px; }} .meta {{ color: #555; font-size: 13px; }}
table {{ border-collapse: collapse; width: 100%; margin-bottom: 28px; }}
td {{ border-top: 1px solid #ddd; padding: 8px; vertical-align: top; line-height: 1.9; }}
td.name {{ width: 190px; font-weight: 600; font-size: 13px; }}
.t {{ padding: 1px 0; border-radius: 2px; }}
</style></head><body>
<h1>Teacher explanations, side by side</h1>
<p class="meta">{subtitle}</p>
{examples}
</body></html>
"""


def html_page(
    tokens: list[list[str]],
    scores: dict[str, np.ndarray],
    headers: list[str],
    subtitle: str = "",
) -> str:
    """A self-contained page: per example a header and one heatmap row per explainer."""
    import html

    blocks = []
    for i, toks in enumerate(tokens):
        rows = "".join(
            f'<tr><td class="name">{html.escape(name)}</td>'
            f"<td>{html_heatmap(toks, s[i][: len(toks)])}</td></tr>"
            for name, s in scores.items()
        )
        blocks.append(f"<h3>{html.escape(headers[i])}</h3><table>{rows}</table>")
    return _PAGE.format(subtitle=html.escape(subtitle), examples="\n".join(blocks))


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m smat.explain",
        description="Show a trained teacher explainer's token scores (terminal or HTML).",
    )
    parser.add_argument("--workdir", required=True, help="a student run (static or SMAT)")
    parser.add_argument("--text", action="append", default=[], help="text to explain (repeat)")
    parser.add_argument("--html", help="write an HTML page comparing explainers to this file")
    parser.add_argument("--examples", type=int, default=8, help="test examples on the page")
    parser.add_argument(
        "--compare", action="append", default=[], help="more student runs to put beside it"
    )
    parser.add_argument(
        "--baselines",
        default="attention,gradient_x_input,integrated_gradients",
        help="parameter-free explainers of the same teacher (comma-separated; '' for none)",
    )
    args = parser.parse_args(argv)
    try:
        main_explainer = load_teacher_explainer(args.workdir)
        if main_explainer.tokenizer is None:
            raise ConfigError(
                f"{args.workdir!r} is an image run: draw its explanations with "
                "python -m smat.patch_heatmaps --workdir ... --out patches.png"
            )
        others = {w: load_teacher_explainer(w) for w in args.compare}
    except ConfigError as e:
        print(f"explain error: {e}", file=sys.stderr)
        return 2
    for text in args.text:
        (pairs,) = main_explainer([text])
        tokens, scores = zip(*pairs, strict=True)
        print(terminal_heatmap(list(tokens), np.asarray(scores)))
    if not args.html:
        if not args.text:
            print("nothing to do: give --text and/or --html", file=sys.stderr)
            return 2
        return 0
    from smat import config as config_lib
    from smat import data as data_lib

    config = checkpointing.run_config(args.workdir)
    test = data_lib.load(config, tokenizer_file=main_explainer.tokenizer_file).splits[
        "student_test"
    ]
    take = np.arange(min(args.examples, len(test)))
    batch = data_lib.input_arrays(test.arrays, take)
    label = "learned (SMAT)" if main_explainer.learnable else "static"
    named = {f"{main_explainer.explainer_config['name']} ({label})": main_explainer}
    for w, ex in others.items():
        run_name = "/".join(os.path.normpath(w).split(os.sep)[-2:])
        named[f"{ex.explainer_config['name']} ({run_name})"] = ex
    for name in filter(None, args.baselines.split(",")):
        named[f"{name} (static)" if name == "attention" else name] = main_explainer.with_explainer(
            config_lib.explainer_section(name).to_dict()
        )
    scores = {name: ex.explain(batch) for name, ex in named.items()}
    pred = main_explainer.predict(batch).argmax(-1)
    tok = main_explainer.tokenizer
    tokens, headers = [], []
    for row, i in enumerate(take):
        n = int(batch["attention_mask"][row].sum())
        tokens.append([tok.id_to_token(int(t)) for t in batch["input_ids"][row][:n]])
        headers.append(
            f"test example {int(test.arrays['index'][i])}: teacher predicts "
            f"{int(pred[row])}, gold label {int(test.arrays['label'][i])}"
        )
    with open(args.html, "w") as f:
        f.write(html_page(tokens, scores, headers, subtitle=f"teacher of {args.workdir}"))
    print(f"wrote {args.html} ({len(tokens)} examples, {len(named)} explainers)")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())

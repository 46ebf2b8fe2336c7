"""Explainers by name (`config.*_explainer.name`): distributions over tokens from a model.

Every explainer has `init(num_layers, num_heads) -> params`, `compute(apply_fn, params, batch, out)
-> features` (for a frozen model, from its output `out` on `batch`, so callers that need the
logits too run the forward pass once; cached per example for teachers) and
`explain(params, features, mask) -> [batch, tokens]` distributions (zero on padding); the
built-in ones also have `scores(params, features, mask)`, the raw scores before normalisation.
"""

from __future__ import annotations

from typing import Any

import ml_collections

from smat.errors import ConfigError
from smat.explainers.attention import AttentionExplainer
from smat.explainers.normalizers import entmax15, normalize, sparsemax
from smat.explainers.saliency import CLASS_GRADIENTS, SaliencyExplainer, integrated_gradients
from smat.models.protocol import attention_grid
from smat.registry import Registry

__all__ = [
    "EXPLAINERS",
    "AttentionExplainer",
    "CLASS_GRADIENTS",
    "SaliencyExplainer",
    "build",
    "check_model",
    "register_explainer",
    "entmax15",
    "integrated_gradients",
    "normalize",
    "sparsemax",
]

EXPLAINERS: Registry = Registry("explainer")


def register_explainer(name: str):
    """Decorator registering `factory(cfg, learnable) -> explainer` under `name`.

    `cfg` is an explainer config section (`smat.config.explainer_section`); the explainer has
    `init`, `compute` and `explain` as described in this module's docstring. Configs then
    select it with `--config.teacher_explainer.name=<name>`.
    """
    return EXPLAINERS.register(name)


@register_explainer("attention")
def _attention(cfg, learnable):
    return AttentionExplainer(
        layer=cfg.layer,
        head=cfg.head,
        query=cfg.query,
        head_norm=cfg.head_norm,
        token_norm=cfg.token_norm,
        learnable=learnable,
    )


for _method in ("gradient_x_input", "gradient_norm", "integrated_gradients", "attention_x_value"):
    register_explainer(_method)(
        lambda cfg, learnable, m=_method: SaliencyExplainer(
            m, cfg.temperature, cfg.ig_steps, cfg.get("ig_baseline_id")
        )
    )


def build(cfg: ml_collections.ConfigDict, learnable: bool = False, section: str = "explainer"):
    """The explainer of an explainer config section (named `section` in errors); None for
    name "none" (no explanation)."""
    if cfg.name == "none":
        return None
    try:
        factory = EXPLAINERS.get(cfg.name)
    except KeyError as e:
        raise ConfigError(f"{section}.name: {e.args[0]} (or none)") from None
    if learnable and cfg.name != "attention":
        raise ConfigError(
            f"explainer {cfg.name!r} has no parameters to learn; the learnable teacher needs "
            "name='attention' (or use setup=static_teacher)"
        )
    try:
        return factory(cfg, learnable)
    except ValueError as e:
        raise ConfigError(f"explainer {cfg.name!r}: {e}") from None


def _check_index(index: int | None, size: int, field: str, what: str) -> None:
    """An index into the model's real layers or heads, Python-style (-1: the last); JAX would
    clamp an index beyond the end silently and explain with another layer or head."""
    if index is not None and not -size <= index < size:
        raise ConfigError(
            f"{field}={index}, but the model has {size} {what}: use 0..{size - 1} (or -1 for "
            "the last), or None for all"
        )


def check_model(explainer, out: Any, accepts_embeds: bool, who: str) -> None:
    """Raises ConfigError if a model's output `out` (shapes suffice) lacks what `explainer` needs.

    Args:
      explainer: an explainer (or None: nothing needed).
      out: the model's output, e.g. from `smat.models.output_shapes`.
      accepts_embeds: whether the model takes `inputs_embeds=`.
      who: "teacher" or "student", for the message.
    """
    if explainer is None:
        return
    method = getattr(explainer, "method", "attention")
    if isinstance(explainer, AttentionExplainer) and getattr(out, "attention_logits", None) is None:
        raise ConfigError(
            f"explainer 'attention' needs attention logits, but the {who} model returns none: "
            "return `attention_logits` (pre-softmax; a tuple of per-layer [batch, heads, query, "
            "key] arrays, or one [layers, ...] array) in its output (smat.ModelOutput), or "
            "give the teacher a gradient explainer (gradient_x_input, gradient_norm, "
            "integrated_gradients)"
        )
    if isinstance(explainer, AttentionExplainer):
        _check_index(explainer.layer, attention_grid(out)[0], f"{who}_explainer.layer", "layers")
        _check_index(explainer.head, attention_grid(out)[1], f"{who}_explainer.head", "heads")
    if method == "attention_x_value" and not hasattr(out, "encoder"):
        raise ConfigError(
            f"explainer 'attention_x_value' reads value vectors inside smat's own encoder; the "
            f"{who} model is not a smat TextClassifier: pick another explainer"
        )
    if method in ("gradient_x_input", "gradient_norm", "integrated_gradients") and (
        getattr(out, "input_embeds", None) is None or not accepts_embeds
    ):
        raise ConfigError(
            f"explainer {method!r} differentiates with respect to the input embeddings: the "
            f"{who} model must take `inputs_embeds=None` (used instead of the lookup) and "
            "return `input_embeds` in its output (smat.ModelOutput); or pick 'attention'"
        )

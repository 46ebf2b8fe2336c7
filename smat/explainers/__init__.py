"""Explainers by name (`config.*_explainer.name`): distributions over tokens from a model.

Every explainer has `init(num_layers, num_heads) -> params`, `compute(apply_fn, params, batch, out)
-> features` (for a frozen model, from its output `out` on `batch`, so callers that need the
logits too run the forward pass once; cached per example for teachers) and
`explain(params, features, mask) -> [batch, tokens]` distributions (zero on padding).
"""

from __future__ import annotations

import ml_collections

from smat.errors import ConfigError
from smat.explainers.attention import AttentionExplainer
from smat.explainers.normalizers import entmax15, normalize, sparsemax
from smat.explainers.saliency import SaliencyExplainer, integrated_gradients
from smat.registry import Registry

__all__ = [
    "EXPLAINERS",
    "AttentionExplainer",
    "SaliencyExplainer",
    "build",
    "entmax15",
    "integrated_gradients",
    "normalize",
    "sparsemax",
]

EXPLAINERS: Registry = Registry("explainer")


@EXPLAINERS.register("attention")
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
    EXPLAINERS.register(_method)(
        lambda cfg, learnable, m=_method: SaliencyExplainer(m, cfg.temperature, cfg.ig_steps)
    )


def build(cfg: ml_collections.ConfigDict, learnable: bool = False):
    """The explainer of an explainer config section; None for name "none" (no explanation)."""
    if cfg.name == "none":
        return None
    try:
        factory = EXPLAINERS.get(cfg.name)
    except KeyError as e:
        raise ConfigError(f"explainer: {e.args[0]} (or none)") from None
    if learnable and cfg.name != "attention":
        raise ConfigError(
            f"explainer {cfg.name!r} has no parameters to learn; the learnable teacher needs "
            "name='attention' (or use setup=static_teacher)"
        )
    try:
        return factory(cfg, learnable)
    except ValueError as e:
        raise ConfigError(f"explainer {cfg.name!r}: {e}") from None

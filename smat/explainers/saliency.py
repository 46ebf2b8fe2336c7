"""Parameter-free saliency explainers of a frozen model (static teachers).

Gradients are taken with respect to the input word embeddings, of the logit of one class: the
class the model predicts, or the one a batch names in `explain_target` ([batch] class ids).
Scores become distributions over tokens like in the original SMAT code: a masked softmax of
score / temperature (attention × value-norm scores are non-negative and are normalised by their
sum instead); `scores` gives them raw (signed for gradient × input and integrated gradients).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from smat.data.pipeline import model_inputs
from smat.explainers.normalizers import normalize
from smat.models.protocol import attention_layers

METHODS = ("gradient_x_input", "gradient_norm", "integrated_gradients", "attention_x_value")
# The methods whose explanation depends on the class explained (`explain_target`).
CLASS_GRADIENTS = ("gradient_x_input", "gradient_norm", "integrated_gradients")


def _class_logit_fn(apply_fn, params, batch, out):
    """f(embeds) = per example, the logit of its target class (`batch["explain_target"]`, else
    the predicted one; a regression model's output value): the gradient of Σ f is every
    example's own gradient."""
    inputs, mask = model_inputs(batch)
    regression = out.logits.ndim == 1 or out.logits.shape[-1] == 1
    target = batch.get("explain_target")
    if target is None:
        target = jnp.argmax(out.logits, -1)

    def f(embeds):
        logits = apply_fn({"params": params}, inputs, mask, inputs_embeds=embeds).logits
        if regression:
            return logits.reshape(logits.shape[0])
        return jnp.take_along_axis(logits, jnp.asarray(target)[:, None], -1)[:, 0]

    return f


def integrated_gradients(
    f, embeds: jax.Array, steps: int, baseline: jax.Array | None = None
) -> jax.Array:
    """IG along the straight line from `baseline` (default: zeros) to `embeds`, trapezoid rule
    with `steps` intervals.

    Returns [batch, tokens, dim] attributions whose sum is ≈ f(embeds) - f(baseline) per example
    (completeness; the gap shrinks with `steps`).
    """
    if baseline is None:
        baseline = jnp.zeros_like(embeds)
    alphas = jnp.linspace(0.0, 1.0, steps + 1)
    weights = jnp.full(steps + 1, 1.0 / steps).at[0].set(0.5 / steps).at[-1].set(0.5 / steps)
    delta = embeds - baseline

    def accumulate(total, aw):
        alpha, w = aw
        g = jax.grad(lambda e: jnp.sum(f(e)))(baseline + alpha * delta)
        return total + w * g, None

    avg_grad, _ = jax.lax.scan(accumulate, jnp.zeros_like(embeds), (alphas, weights))
    return delta * avg_grad


@dataclasses.dataclass(frozen=True)
class SaliencyExplainer:
    """Attributes:
    method: gradient_x_input, gradient_norm, integrated_gradients or attention_x_value.
    temperature: scores are divided by it before the softmax over tokens.
    steps: integrated gradients: intervals of the trapezoid rule.
    baseline_id: integrated gradients: the token whose embedding is the baseline at every
      non-special position (e.g. the pad or mask token's id); None: the zero embedding.
    """

    method: str = "gradient_x_input"
    temperature: float = 0.1
    steps: int = 32
    baseline_id: int | None = None
    learnable: bool = False

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method={self.method!r}; choose one of {METHODS}")

    def init(self, num_layers: int, num_heads: int) -> dict:
        return {}

    def compute(self, apply_fn, params, batch, out) -> jax.Array:
        """Per-token scores [batch, tokens] of a frozen model, given its output `out` on `batch`."""
        if self.method == "attention_x_value":
            return _attention_x_value(params, out, batch["attention_mask"])
        f = _class_logit_fn(apply_fn, params, batch, out)
        embeds = out.input_embeds
        if self.method == "integrated_gradients":
            baseline = self._baseline(apply_fn, params, batch)
            return jnp.sum(integrated_gradients(f, embeds, self.steps, baseline), -1)
        grad = jax.grad(lambda e: jnp.sum(f(e)))(embeds)
        if self.method == "gradient_x_input":
            return jnp.sum(grad * embeds, -1)
        return jnp.linalg.norm(grad, axis=-1)

    def _baseline(self, apply_fn, params, batch) -> jax.Array | None:
        """The IG baseline's embeddings: `baseline_id`'s embedding at every position except
        special tokens (`batch["special_tokens_mask"]`, where given), or None (zeros)."""
        if self.baseline_id is None:
            return None
        inputs, mask = model_inputs(batch)
        keep = batch.get("special_tokens_mask")
        keep = jnp.zeros_like(inputs, bool) if keep is None else jnp.asarray(keep).astype(bool)
        ids = jnp.where(keep, inputs, self.baseline_id)
        return apply_fn({"params": params}, ids, mask).input_embeds

    def completeness_gap(self, apply_fn, params, batch, out, scores: jax.Array) -> jax.Array:
        """Integrated gradients: [batch] f(input) - f(baseline) - Σ attributions (0 for an
        exact integral; shrinks as `steps` grows)."""
        if self.method != "integrated_gradients":
            raise ValueError(f"{self.method} has no completeness gap (integrated_gradients has)")
        f = _class_logit_fn(apply_fn, params, batch, out)
        baseline = self._baseline(apply_fn, params, batch)
        at_baseline = f(jnp.zeros_like(out.input_embeds) if baseline is None else baseline)
        real = batch["attention_mask"].astype(bool)
        return f(out.input_embeds) - at_baseline - jnp.sum(jnp.where(real, scores, 0.0), -1)

    def scores(self, params, features: jax.Array, mask: jax.Array) -> jax.Array:
        """Raw per-token scores [batch, tokens] (zero on padding), before normalisation."""
        return jnp.where(mask.astype(bool), features, 0.0)

    def explain(self, params, scores: jax.Array, mask: jax.Array) -> jax.Array:
        if self.method == "attention_x_value":
            s = jnp.where(mask.astype(bool), scores, 0.0)
            return s / jnp.sum(s, -1, keepdims=True)
        return normalize("softmax", scores / self.temperature, mask)


def _attention_x_value(params, out, mask) -> jax.Array:
    """Σ over layers and heads of (mean attention a token receives) × ‖its value vector‖."""
    enc = params["encoder"]
    w = mask.astype(jnp.float32)
    w = w / jnp.sum(w, -1, keepdims=True)
    total = 0.0
    for layer, probs in enumerate(attention_layers(out.encoder.attention_probs)):
        value = enc[f"layer_{layer}"]["attention"]["value"]
        v = out.encoder.hidden_states[layer] @ value["kernel"] + value["bias"]
        v = v.reshape(v.shape[:2] + (probs.shape[1], -1))  # [b, k, heads, dim]
        received = jnp.einsum("bhqk,bq->bhk", probs, w)
        total = total + jnp.einsum("bhk,bkh->bk", received, jnp.linalg.norm(v, axis=-1))
    return total

"""Parameter-free saliency explainers of a frozen model (static teachers).

Gradients are taken with respect to the input word embeddings, of the logit of the class the
model predicts. Scores become distributions over tokens like in the original SMAT code: a
masked softmax of score / temperature (attention × value-norm scores are non-negative and are
normalised by their sum instead).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from smat.data.pipeline import model_inputs
from smat.explainers.normalizers import normalize
from smat.models.protocol import attention_layers

METHODS = ("gradient_x_input", "gradient_norm", "integrated_gradients", "attention_x_value")


def _class_logit_fn(apply_fn, params, batch, out):
    """f(embeds) = Σ_b logit_b[predicted class_b] (a regression model's output value): its
    gradient is every example's own gradient."""
    inputs, mask = model_inputs(batch)
    regression = out.logits.ndim == 1 or out.logits.shape[-1] == 1
    target = jnp.argmax(out.logits, -1)

    def f(embeds):
        logits = apply_fn({"params": params}, inputs, mask, inputs_embeds=embeds).logits
        if regression:
            return logits.reshape(logits.shape[0])
        return jnp.take_along_axis(logits, target[:, None], -1)[:, 0]

    return f


def integrated_gradients(f, embeds: jax.Array, steps: int) -> jax.Array:
    """IG from a zero baseline along the straight line, trapezoid rule with `steps` intervals.

    Returns [batch, tokens, dim] attributions whose sum is ≈ f(embeds) - f(0) per example.
    """
    alphas = jnp.linspace(0.0, 1.0, steps + 1)
    weights = jnp.full(steps + 1, 1.0 / steps).at[0].set(0.5 / steps).at[-1].set(0.5 / steps)

    def accumulate(total, aw):
        alpha, w = aw
        g = jax.grad(lambda e: jnp.sum(f(e)))(alpha * embeds)
        return total + w * g, None

    avg_grad, _ = jax.lax.scan(accumulate, jnp.zeros_like(embeds), (alphas, weights))
    return embeds * avg_grad


@dataclasses.dataclass(frozen=True)
class SaliencyExplainer:
    method: str = "gradient_x_input"
    temperature: float = 0.1
    steps: int = 32  # integrated gradients
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
            return jnp.sum(integrated_gradients(f, embeds, self.steps), -1)
        grad = jax.grad(lambda e: jnp.sum(f(e)))(embeds)
        if self.method == "gradient_x_input":
            return jnp.sum(grad * embeds, -1)
        return jnp.linalg.norm(grad, axis=-1)

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

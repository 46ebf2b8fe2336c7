"""The attention explainer: a (learnable) mix of every head's pre-softmax attention.

features: each head's attention logits averaged over the real query positions (or one query
row such as [CLS]) -> [batch, layers, heads, tokens]; deterministic for a frozen model, so a
teacher's features are computed once per example and cached.
explain: head coefficients λ normalised by `head_norm` (sparsemax by default, uniform at
init) mix the heads; `token_norm` over the mixed logits (padding masked) gives the explanation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from smat.explainers.normalizers import normalize
from smat.models.encoder import upcast
from smat.models.protocol import attention_layers

HEAD_NORMS = ("sparsemax", "softmax", "entmax15", "none")


@dataclasses.dataclass(frozen=True)
class AttentionExplainer:
    """Attributes:
    layer: use only this layer (Python index: -1 is the last); None for all layers.
    head: use only this head (of each used layer); None for all heads.
    query: "mean" (over real query positions) or "cls" (the first query row).
    head_norm: normalizer of the head coefficients: sparsemax, softmax, entmax15 or none.
    token_norm: normalizer over tokens: softmax, sparsemax or entmax15.
    learnable: whether the head coefficients are trained (SMAT) or stay uniform.
    """

    layer: int | None = None
    head: int | None = None
    query: str = "mean"
    head_norm: str = "sparsemax"
    token_norm: str = "softmax"
    learnable: bool = False

    def __post_init__(self):
        if self.query not in ("mean", "cls"):
            raise ValueError(f"query={self.query!r}; choose mean or cls")
        if self.head_norm not in HEAD_NORMS:
            raise ValueError(f"head_norm={self.head_norm!r}; choose one of {HEAD_NORMS}")

    def features(
        self, attention_logits: jax.Array | Sequence[jax.Array], mask: jax.Array
    ) -> jax.Array:
        """Per-layer [batch, heads, q, k] logits (a tuple, or stacked) -> [batch, used layers,
        used heads, k]. Each layer is reduced over queries before the layers are stacked, so
        the full [layers, ..., q, k] scores are never copied into one array."""
        layers = attention_layers(attention_logits)
        if self.layer is not None:
            layers = [layers[self.layer]]
        rows = []
        for logits in layers:
            if self.head is not None:
                logits = logits[:, self.head][:, None]
            if self.query == "cls":
                rows.append(logits[:, :, 0])
            else:
                logits = upcast(logits)
                w = mask.astype(logits.dtype)
                w = w / jnp.sum(w, -1, keepdims=True)
                rows.append(jnp.einsum("bhqk,bq->bhk", logits, w))
        return jnp.stack(rows, axis=1)

    def init(self, num_layers: int, num_heads: int) -> dict[str, jax.Array]:
        """Uniform head weights: equal scores (sparse/soft-max) or 1/n ("none")."""
        layers = 1 if self.layer is not None else num_layers
        heads = 1 if self.head is not None else num_heads
        value = 1.0 / (layers * heads) if self.head_norm == "none" else 0.0
        return {"head_logits": jnp.full((layers, heads), value, jnp.float32)}

    def params_for(self, weights) -> dict[str, jax.Array]:
        """Params whose `head_weights` are the given [layers, heads] simplex weights (for
        softmax, zeros become 1e-8): a learned explainer's weights as a starting point."""
        w = jnp.asarray(weights, jnp.float32)
        if self.head_norm == "softmax":
            w = jnp.log(jnp.maximum(w, 1e-8))
        elif self.head_norm == "entmax15":  # [z/2 - τ]₊² = w at τ = 0
            w = 2 * jnp.sqrt(w)
        # sparsemax projects a point of the simplex onto itself; "none" uses w as it is.
        return {"head_logits": w}

    def head_weights(self, params: dict[str, jax.Array]) -> jax.Array:
        """The normalised [layers, heads] mixing weights."""
        raw = params["head_logits"]
        if self.head_norm == "none":
            return raw
        return normalize(self.head_norm, raw.reshape(-1)).reshape(raw.shape)

    def scores(self, params, features: jax.Array, mask: jax.Array) -> jax.Array:
        """The head-mixed attention logits [batch, tokens] (zero on padding), before
        `token_norm`."""
        mixed = jnp.einsum("lh,blht->bt", self.head_weights(params), features)
        return jnp.where(mask.astype(bool), mixed, 0.0)

    def explain(self, params, features: jax.Array, mask: jax.Array) -> jax.Array:
        """[batch, layers, heads, tokens] features -> [batch, tokens] distributions."""
        return normalize(self.token_norm, self.scores(params, features, mask), mask)

    def compute(self, apply_fn, params, batch, out) -> jax.Array:
        """Features of a frozen model (a teacher) from its output `out` on `batch` (no dropout)."""
        return self.features(out.attention_logits, batch["attention_mask"])

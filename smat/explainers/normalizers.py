"""Maps from scores to distributions: softmax, sparsemax, 1.5-entmax (exact, sort-based).

sparsemax (Martins & Astudillo, 2016) and 1.5-entmax (Peters et al., 2019) return sparse
distributions. Both are computed exactly by sorting, and carry custom JVPs with their closed-form
Jacobians, J = diag(s) - s sᵀ / Σs with s = 1[p > 0] (sparsemax) or s = √p (1.5-entmax), which
are themselves differentiable, as the meta-gradient's second-order pass needs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from smat.models.encoder import upcast

# Masked scores: finite, so that sums and mixes of masked positions never produce inf or NaN.
MASKED = -1e9


@jax.custom_jvp
def sparsemax(z: jax.Array) -> jax.Array:
    """Euclidean projection of `z` onto the probability simplex, along the last axis."""
    z_sorted = -jnp.sort(-z, axis=-1)
    k = jnp.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    cumsum = jnp.cumsum(z_sorted, axis=-1)
    support = jnp.sum(1 + k * z_sorted > cumsum, axis=-1, keepdims=True)
    tau = (jnp.take_along_axis(cumsum, support - 1, axis=-1) - 1) / support.astype(z.dtype)
    return jnp.maximum(z - tau, 0)


@jax.custom_jvp
def entmax15(z: jax.Array) -> jax.Array:
    """1.5-entmax along the last axis: p = [z/2 - τ]₊², Σp = 1 (exact sort-based τ)."""
    z = z / 2
    z_sorted = -jnp.sort(-z, axis=-1)
    k = jnp.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    mean = jnp.cumsum(z_sorted, axis=-1) / k
    mean_sq = jnp.cumsum(z_sorted**2, axis=-1) / k
    delta = (1 - k * (mean_sq - mean**2)) / k
    tau = mean - jnp.sqrt(jnp.maximum(delta, 0))
    support = jnp.sum(tau <= z_sorted, axis=-1, keepdims=True)
    tau_star = jnp.take_along_axis(tau, support - 1, axis=-1)
    return jnp.maximum(z - tau_star, 0) ** 2


def _simplex_jvp(fn, weights):
    def jvp(primals, tangents):
        (z,), (t,) = primals, tangents
        p = fn(z)
        s = weights(p)
        t_out = s * t - s * jnp.sum(s * t, -1, keepdims=True) / jnp.sum(s, -1, keepdims=True)
        return p, t_out

    return jvp


def _safe_sqrt(p: jax.Array) -> jax.Array:
    # √p off the support is 0 with derivative 0 (plain sqrt gives inf · 0 = NaN in second order).
    positive = p > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, p, 1.0)), 0.0)


sparsemax.defjvp(_simplex_jvp(sparsemax, lambda p: (p > 0).astype(p.dtype)))
entmax15.defjvp(_simplex_jvp(entmax15, _safe_sqrt))

NORMALIZERS = {
    "softmax": lambda z: jax.nn.softmax(z, axis=-1),
    "sparsemax": sparsemax,
    "entmax15": entmax15,
}


def normalize(name: str, scores: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """A distribution over the last axis of `scores`; positions where `mask` is 0 get exactly 0."""
    if name not in NORMALIZERS:
        raise ValueError(f"normalizer {name!r} unknown; known: {', '.join(NORMALIZERS)}")
    if mask is not None:
        scores = jnp.where(mask.astype(bool), scores, MASKED)
    p = NORMALIZERS[name](upcast(scores))
    return p if mask is None else jnp.where(mask.astype(bool), p, 0.0)

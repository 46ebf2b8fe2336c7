"""Loss helpers shared by teachers, students and the meta-step."""

import jax
import jax.numpy as jnp
import optax

from smat.models.encoder import upcast


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-example softmax cross-entropy with integer labels (in at least float32)."""
    return optax.softmax_cross_entropy_with_integer_labels(upcast(logits), labels)


def weighted_mean(values: jax.Array, weight: jax.Array) -> jax.Array:
    """Mean over examples with per-example weights (padding rows have weight 0)."""
    return jnp.sum(values * weight) / jnp.sum(weight)

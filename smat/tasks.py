"""What a student simulates, per task type: a teacher's class (classification) or its output
value (regression). Simulability is agreement with the teacher: accuracy for classification,
Pearson r between student and teacher outputs for regression."""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
from clu import metrics as clu_metrics

from smat.losses import cross_entropy
from smat.models.encoder import upcast

TASKS = ("classification", "regression")


def _value(outputs: jax.Array) -> jax.Array:
    """A regression output [batch] or [batch, 1] as [batch], in at least float32."""
    return upcast(outputs.reshape(outputs.shape[0]))


def target(task: str, teacher_outputs: jax.Array) -> jax.Array:
    """What the student learns to predict: the teacher's class, or its output value."""
    if task == "classification":
        return jnp.argmax(teacher_outputs, -1)
    return _value(teacher_outputs)


def prediction(task: str, outputs: jax.Array) -> jax.Array:
    """A model's predicted class, or its output value."""
    return jnp.argmax(outputs, -1) if task == "classification" else _value(outputs)


def loss(task: str, outputs: jax.Array, target_: jax.Array) -> jax.Array:
    """Per-example simulation loss: cross-entropy, or squared error."""
    if task == "classification":
        return cross_entropy(outputs, target_)
    return jnp.square(_value(outputs) - target_)


def pearson_stats(x: jax.Array, y: jax.Array, weight: jax.Array) -> jax.Array:
    """Sufficient statistics [n, Σx, Σy, Σx², Σy², Σxy] (weighted); they add over batches."""
    x, y, w = upcast(x), upcast(y), upcast(weight)
    return jnp.stack(
        [
            jnp.sum(w),
            jnp.sum(w * x),
            jnp.sum(w * y),
            jnp.sum(w * x * x),
            jnp.sum(w * y * y),
            jnp.sum(w * x * y),
        ]
    )


def pearson_from_stats(stats: jax.Array) -> jax.Array:
    """Pearson r from `pearson_stats` (0 when either side is constant)."""
    n, sx, sy, sxx, syy, sxy = stats
    cov = sxy / n - (sx / n) * (sy / n)
    var = jnp.maximum(sxx / n - (sx / n) ** 2, 0.0) * jnp.maximum(syy / n - (sy / n) ** 2, 0.0)
    return jnp.where(var > 0, cov / jnp.sqrt(jnp.where(var > 0, var, 1.0)), 0.0)


def agreement(task: str, outputs: jax.Array, target_: jax.Array, weight: jax.Array) -> jax.Array:
    """Simulability on one batch: accuracy against the teacher, or Pearson r."""
    pred = prediction(task, outputs)
    if task == "classification":
        return jnp.sum((pred == target_) * weight) / jnp.sum(weight)
    return pearson_from_stats(pearson_stats(pred, target_, weight))


def pearson_metric(x: str, y: str):
    """A clu metric: Pearson r between model outputs `x` and `y` over a whole dataset (the
    sufficient statistics add over batches and devices)."""

    @flax.struct.dataclass
    class Pearson(clu_metrics.Metric):
        stats: jax.Array

        @classmethod
        def from_model_output(cls, mask=None, **outputs):
            return cls(pearson_stats(outputs[x], outputs[y], mask))

        def merge(self, other):
            return type(self)(self.stats + other.stats)

        def compute(self):
            return pearson_from_stats(self.stats)

    return Pearson

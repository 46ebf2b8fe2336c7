"""The teacher's steps (setup `no_teacher`): training on gold labels, and evaluation."""

# No `from __future__ import annotations`: flax reads the state's fields from annotations.

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax
from clu import metrics as clu_metrics

from smat import tasks
from smat.losses import cross_entropy
from smat.models.inputs import model_inputs
from smat.steps.metrics import EvalMetrics, RegressionEvalMetrics, TrainMetrics


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: Any
    opt_state: Any
    rng: jax.Array


def train_step(state: TrainState, batch, *, apply_fn, tx, lr_schedule, task="classification"):
    """One AdamW/SGD step on the weighted loss of the gold labels (pure): cross-entropy, or
    squared error for regression (`accuracy` is then the batch's Pearson r)."""
    rng = jax.random.fold_in(state.rng, state.step)
    w = batch["weight"]

    def loss_fn(params):
        out = apply_fn(
            {"params": params},
            *model_inputs(batch),
            deterministic=False,
            rngs={"dropout": rng},
        )
        loss = jnp.sum(tasks.loss(task, out.logits, batch["label"]) * w) / jnp.sum(w)
        return loss, out.logits

    (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = TrainMetrics.single_from_model_output(
        loss=loss,
        accuracy=tasks.agreement(task, logits, batch["label"], w),
        grad_norm=optax.global_norm(grads),
        learning_rate=lr_schedule(state.step),
    )
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
    return new_state, metrics


def eval_metrics(logits, label, weight, task="classification") -> clu_metrics.Collection:
    """Evaluation metrics of logits against gold labels (rows of weight 0 left out)."""
    if task == "regression":
        return RegressionEvalMetrics.single_from_model_output(
            loss=tasks.loss(task, logits, label),
            prediction=tasks.prediction(task, logits),
            label=label,
            mask=weight,
        )
    correct = (jnp.argmax(logits, -1) == label).astype(jnp.float32)
    return EvalMetrics.single_from_model_output(
        loss=cross_entropy(logits, label), accuracy=correct, mask=weight
    )


def eval_step(params, batch, *, apply_fn, task="classification"):
    """Metrics and logits of one padded batch (padding rows have weight 0)."""
    logits = apply_fn({"params": params}, *model_inputs(batch)).logits
    return eval_metrics(logits, batch["label"], batch["weight"], task), logits

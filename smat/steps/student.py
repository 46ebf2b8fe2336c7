"""A student's steps: one update on the inner loss (simulate the teacher, plus the explanation
loss), the static-explainer training step, and evaluation against the teacher and gold labels.
SMAT's step, which adds the meta-step, is in smat/steps/meta.py."""

# No `from __future__ import annotations`: flax reads the state's fields from annotations.

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from smat import tasks
from smat.models.inputs import model_inputs
from smat.simulation import Simulation
from smat.steps.metrics import (
    SimulationEvalMetrics,
    SimulationRegressionMetrics,
    StudentMetrics,
)


@flax.struct.dataclass
class StudentState:
    """params = {"model": θ, "explainer": ψ}; phi = teacher explainer params φ (frozen when
    static); meta_opt_state = the meta optimizer's state (optax.EmptyState when static);
    last_meta_grad = the previous meta-gradient (zeros before the first; a placeholder scalar
    when static), for the cosine between successive meta-gradients."""

    step: jax.Array
    params: Any
    opt_state: Any
    rng: jax.Array
    phi: Any
    meta_opt_state: Any
    last_meta_grad: Any


def distance_from_uniform(weights: jax.Array) -> jax.Array:
    """Total-variation distance of mixing weights (summing to 1) from uniform: 0 = uniform,
    1 - 1/n = all weight on one of n heads."""
    w = weights.reshape(-1)
    return 0.5 * jnp.sum(jnp.abs(w - 1.0 / w.shape[0]))


def psi_distance(sim: Simulation, params) -> jax.Array:
    if sim.student_explainer is None or "explainer" not in params:
        return jnp.zeros(())
    return distance_from_uniform(sim.student_explainer.head_weights(params["explainer"]))


def student_update(sim: Simulation, tx, params, opt_state, phi, batch, rng):
    """One optimizer step of the student on the inner loss; returns (params, opt_state, outputs)."""
    explanation = sim.teacher_explanation(phi, batch) if sim.explains else None
    params, opt_state, outputs, _ = update_given_explanation(
        sim, tx, params, opt_state, explanation, batch, rng
    )
    return params, opt_state, outputs


def update_given_explanation(sim: Simulation, tx, params, opt_state, explanation, batch, rng):
    """`student_update` with the teacher explanation given; also returns the gradients."""
    (loss, aux), grads = jax.value_and_grad(sim.loss_given_explanation, has_aux=True)(
        params, explanation, batch, rng
    )
    updates, new_opt_state = tx.update(grads, opt_state, params)
    outputs = {"loss": loss, "grad_norm": optax.global_norm(grads), **aux}
    outputs.setdefault("explanation_kl", jnp.zeros(()))
    return optax.apply_updates(params, updates), new_opt_state, outputs, grads


def static_step(state: StudentState, batch, *, sim: Simulation, tx, lr_schedule):
    """A student step with a fixed teacher explainer (or none)."""
    rng = jax.random.fold_in(state.rng, state.step)
    params, opt_state, out = student_update(
        sim, tx, state.params, state.opt_state, state.phi, batch, rng
    )
    metrics = StudentMetrics.single_from_model_output(
        learning_rate=lr_schedule(state.step), psi_distance=psi_distance(sim, params), **out
    )
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics


def eval_step(params, batch, *, apply_fn, task: str = "classification"):
    """Simulability (agreement with the teacher: accuracy, or Pearson r for regression), the
    simulation loss, and agreement with the gold labels (accuracy, or Pearson r)."""
    logits = apply_fn({"params": params["model"]}, *model_inputs(batch)).logits
    target = tasks.target(task, batch["teacher_logits"])
    pred = tasks.prediction(task, logits)
    loss = tasks.loss(task, logits, target)
    if task == "regression":
        metrics = SimulationRegressionMetrics.single_from_model_output(
            prediction=pred, target=target, label=batch["label"], loss=loss, mask=batch["weight"]
        )
    else:
        metrics = SimulationEvalMetrics.single_from_model_output(
            simulability=(pred == target).astype(jnp.float32),
            loss=loss,
            accuracy=(pred == batch["label"]).astype(jnp.float32),
            mask=batch["weight"],
        )
    return metrics, logits

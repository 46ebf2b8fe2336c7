"""SMAT's step: the student's update fused with the meta-step that learns the teacher's
explainer φ, one pure jitted function `(state, batches) -> (state, metrics)`.

After the student's update θ₀ → θ₁ on batch x (every `interval` steps):
  1. a hypergradient estimator (smat/steps/hypergradients.py, by `meta.hypergradient`) gives the
     student's simulation loss on a student-validation batch x_v, against the teacher's
     predictions and without explanations, after (an approximation of) a further training
     step, and its gradient with respect to φ, through that step (second order);
  2. the meta optimizer updates φ with it.
With several students (`meta.num_students`) each takes its own step and φ follows the mean of
their hypergradients.
"""

# No `from __future__ import annotations`: kept as in the other step modules.

import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax
from clu import metrics as clu_metrics

from smat.simulation import Simulation
from smat.steps import hypergradients
from smat.steps.metrics import LearnableMetrics
from smat.steps.student import (
    StudentState,
    distance_from_uniform,
    psi_distance,
    update_given_explanation,
)


def _student_and_hypergradient(
    params,
    opt_state,
    rng,
    phi,
    batch,
    valid_batch,
    step,
    is_meta,
    *,
    sim: Simulation,
    tx,
    hypergradient: str,
    neumann_steps: int,
    neumann_alpha: float,
    simulated_tx,
):
    """One student's update on `batch` and, when `is_meta`, the hypergradient of its validation
    simulation loss with respect to φ (zeros otherwise): (params, opt_state, outputs, outer
    loss, ∂ outer / ∂φ)."""
    inner_rng, simulated_rng = jax.random.split(jax.random.fold_in(rng, step))
    explanation, explanation_vjp = jax.vjp(lambda f: sim.teacher_explanation(f, batch), phi)
    new_params, new_opt_state, out, student_grads = update_given_explanation(
        sim, tx, params, opt_state, explanation, batch, inner_rng
    )
    out["psi_distance"] = psi_distance(sim, new_params)
    inputs = hypergradients.StepInputs(
        sim,
        tx,
        simulated_tx,
        params,
        opt_state,
        student_grads,
        explanation,
        explanation_vjp,
        new_params,
        new_opt_state,
        phi,
        batch,
        valid_batch,
        inner_rng,
        simulated_rng,
        neumann_steps,
        neumann_alpha,
    )
    estimate = hypergradients.HYPERGRADIENTS.get(hypergradient)

    def hyper(phi):
        return estimate(dataclasses.replace(inputs, phi=phi))

    def skip(phi):
        return jnp.zeros(()), jax.tree.map(jnp.zeros_like, phi)

    loss, grads = jax.lax.cond(is_meta, hyper, skip, phi)
    return new_params, new_opt_state, out, loss, grads


def learnable_step(
    state: StudentState,
    batch,
    valid_batch,
    *,
    sim: Simulation,
    tx,
    meta_tx,
    lr_schedule,
    interval: int,
    hypergradient: str = "unroll",
    neumann_steps: int = 5,
    neumann_alpha: float = 1e-3,
    simulated_tx=None,
    num_students: int = 1,
):
    """The student step fused with the meta-step (every `interval` steps) in one function.

    simulated_tx: the optimiser of the update the meta-gradient differentiates through (a
    stateless one such as `optax.sgd(lr)`); None: the student's own `tx` and its state.
    num_students: K > 1 students share φ: `state.params`, `opt_state`, `rng` and the batches
    have a leading axis of K (each student its own initialisation, data order and validation
    batch), and φ follows the mean of their meta-gradients, i.e. the gradient of their mean
    validation loss. K = 1: no such axis.
    """
    is_meta = state.step % interval == 0
    per_student = functools.partial(
        _student_and_hypergradient,
        sim=sim,
        tx=tx,
        hypergradient=hypergradient,
        neumann_steps=neumann_steps,
        neumann_alpha=neumann_alpha,
        simulated_tx=simulated_tx,
    )
    args = (state.params, state.opt_state, state.rng, state.phi, batch, valid_batch)
    if num_students == 1:
        params, opt_state, out, meta_loss, grads = per_student(*args, state.step, is_meta)
    else:
        # φ, the step and the meta decision are shared; the cond on is_meta stays a branch.
        params, opt_state, out, meta_loss, grads = jax.vmap(
            per_student, in_axes=(0, 0, 0, None, 0, 0, None, None)
        )(*args, state.step, is_meta)
        out, meta_loss, grads = jax.tree.map(lambda x: x.mean(0), (out, meta_loss, grads))

    def update(phi, meta_opt_state, last):
        updates, meta_opt_state = meta_tx.update(grads, meta_opt_state, phi)
        norm, last_norm = optax.global_norm(grads), optax.global_norm(last)
        cosine = optax.tree_utils.tree_vdot(grads, last) / jnp.maximum(norm * last_norm, 1e-30)
        stats = (meta_loss, norm, cosine, last_norm > 0)
        return optax.apply_updates(phi, updates), meta_opt_state, grads, stats

    def skip(phi, meta_opt_state, last):
        zero = jnp.zeros(())
        return phi, meta_opt_state, last, (zero, zero, zero, jnp.zeros((), bool))

    phi, meta_opt_state, last_meta_grad, stats = jax.lax.cond(
        is_meta,
        update,
        skip,
        state.phi,
        state.meta_opt_state,
        state.last_meta_grad,
    )
    meta_loss, meta_grad_norm, cosine, has_previous = stats
    weights = sim.teacher_explainer.head_weights(phi)
    metrics = LearnableMetrics.single_from_model_output(
        learning_rate=lr_schedule(state.step),
        meta_loss=meta_loss,
        meta_grad_norm=meta_grad_norm,
        meta_grad_cosine=cosine,
        phi_distance=distance_from_uniform(weights),
        phi_nonzero_heads=jnp.sum(weights > 0).astype(jnp.float32),
        **out,
    )
    # Meta metrics average over the steps that took a meta-step only (the cosine: over those
    # with a previous meta-gradient).
    count = is_meta.astype(jnp.int32)
    pairs = (is_meta & has_previous).astype(jnp.int32)
    metrics = metrics.replace(
        meta_loss=clu_metrics.Average(total=meta_loss * count, count=count),
        meta_grad_norm=clu_metrics.Average(total=meta_grad_norm * count, count=count),
        meta_grad_cosine=clu_metrics.Average(total=cosine * pairs, count=pairs),
    )
    new_state = state.replace(
        step=state.step + 1,
        params=params,
        opt_state=opt_state,
        phi=phi,
        meta_opt_state=meta_opt_state,
        last_meta_grad=last_meta_grad,
    )
    return new_state, metrics

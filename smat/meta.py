"""The SMAT steps: a student update, and the meta-step that learns the teacher's explainer.

One jitted function per training step (`static_step` or `learnable_step`), pure:
`(state, batches) -> (state, metrics)`.

The meta-step (learnable teacher), after the student's update θ → θ₁ on batch x:
  1. simulate one more update of the student on x with the *same* optimizer (same optax
     transformation and state): θ'(φ) = θ₁ + update(∇_θ L_in(θ₁, ψ₁; φ), opt_state₁);
  2. outer loss: simulation CE of S_θ'(φ) on a batch x_v of the student-validation split,
     against the teacher's predictions, with no explanations;
  3. differentiate it with respect to φ through the simulated update (second order) and
     update φ with the meta optimizer. `meta_gradient` (the default, "unroll") does it by
     reverse over reverse, as the original does; `forward_meta_gradient`
     (`meta.hypergradient="forward"`) with one forward-mode pass of the student: same value.
φ influences θ' only through β·KL in L_in, so β = 0 gives a zero meta-gradient.

Cheaper (`meta.hypergradient="online"`): differentiate through the update just taken
(θ₀ → θ₁, its gradient reused) instead of simulating another one from θ₁: the same one-step
hypergradient, one step earlier, one student gradient fewer per step.

Alternative hypergradient (`meta.hypergradient="implicit"`): implicit differentiation, treating
θ₁ as a minimiser of L_in(·; φ): dL_out/dφ = -∂²L_in/∂φ∂θ · H⁻¹ ∇_θ L_out with H = ∂²L_in/∂θ²,
and H⁻¹v approximated by a Neumann series α Σ_{k≤K} (I - αH)^k v (Lorraine et al., 2020).
"""

# No `from __future__ import annotations`: clu reads the metric classes from annotations.

import functools
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax
from clu import metrics as clu_metrics

from smat.simulation import Simulation


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


_STUDENT_METRICS = {
    "loss": clu_metrics.Average.from_output("loss"),
    "simulation_loss": clu_metrics.Average.from_output("simulation_loss"),
    "explanation_kl": clu_metrics.Average.from_output("explanation_kl"),
    "simulability": clu_metrics.Average.from_output("simulability"),
    "grad_norm": clu_metrics.Average.from_output("grad_norm"),
    "learning_rate": clu_metrics.LastValue.from_output("learning_rate"),
    # Total-variation distance of the student explainer's head weights ψ from uniform.
    "psi_distance": clu_metrics.LastValue.from_output("psi_distance"),
}
StudentMetrics = clu_metrics.Collection.create(**_STUDENT_METRICS)
LearnableMetrics = clu_metrics.Collection.create(
    **_STUDENT_METRICS,
    meta_loss=clu_metrics.Average.from_output("meta_loss"),
    meta_grad_norm=clu_metrics.Average.from_output("meta_grad_norm"),
    # Cosine between successive meta-gradients: near 0 the meta-signal is noise.
    meta_grad_cosine=clu_metrics.Average.from_output("meta_grad_cosine"),
    phi_distance=clu_metrics.LastValue.from_output("phi_distance"),
    phi_nonzero_heads=clu_metrics.LastValue.from_output("phi_nonzero_heads"),
)


def distance_from_uniform(weights: jax.Array) -> jax.Array:
    """Total-variation distance of mixing weights (summing to 1) from uniform: 0 = uniform,
    1 - 1/n = all weight on one of n heads."""
    w = weights.reshape(-1)
    return 0.5 * jnp.sum(jnp.abs(w - 1.0 / w.shape[0]))


def _psi_distance(sim: Simulation, params) -> jax.Array:
    if sim.student_explainer is None or "explainer" not in params:
        return jnp.zeros(())
    return distance_from_uniform(sim.student_explainer.head_weights(params["explainer"]))


def student_update(sim: Simulation, tx, params, opt_state, phi, batch, rng):
    """One optimizer step of the student on the inner loss; returns (params, opt_state, outputs)."""
    explanation = sim.teacher_explanation(phi, batch) if sim.explains else None
    params, opt_state, outputs, _ = _update_given_explanation(
        sim, tx, params, opt_state, explanation, batch, rng
    )
    return params, opt_state, outputs


def _update_given_explanation(sim: Simulation, tx, params, opt_state, explanation, batch, rng):
    """`student_update` with the teacher explanation given; also returns the gradients."""
    (loss, aux), grads = jax.value_and_grad(sim.loss_given_explanation, has_aux=True)(
        params, explanation, batch, rng
    )
    updates, new_opt_state = tx.update(grads, opt_state, params)
    outputs = {"loss": loss, "grad_norm": optax.global_norm(grads), **aux}
    outputs.setdefault("explanation_kl", jnp.zeros(()))
    return optax.apply_updates(params, updates), new_opt_state, outputs, grads


def meta_gradient(sim: Simulation, tx, params, opt_state, phi, batch, valid_batch, rng):
    """(outer loss, ∂ outer / ∂φ) through one simulated student update on `batch`."""

    def outer(phi):
        grads = jax.grad(lambda p: sim.loss(p, phi, batch, rng)[0])(params)
        updates, _ = tx.update(grads, opt_state, params)
        return sim.simulation_loss(optax.apply_updates(params, updates), valid_batch)

    return jax.value_and_grad(outer)(phi)


def _through_update(sim: Simulation, tx, params, opt_state, grads, explanation, batch, valid, rng):
    """(outer loss after the update params + U(grads), its gradient w.r.t. the explanation).

    With p the teacher explanation, g(p) = ∇_θ L_in(θ, p) and θ' = θ + U(g): (∂g/∂p)ᵀ w =
    ∇_p ⟨∇_θ L_in(θ, p), w⟩ for w = J_Uᵀ ∇L_out(θ'), the p-gradient of a directional derivative
    (a JVP of the student along w). p enters L_in linearly through the KL, so that reverse pass
    is tiny: one JVP instead of a backward pass through a backward pass, and no second-order
    residuals stored.
    """

    def update(g):
        updates, _ = tx.update(g, opt_state, params)
        return optax.apply_updates(params, updates)

    new_params, update_vjp = jax.vjp(update, grads)
    loss, outer_grads = jax.value_and_grad(sim.simulation_loss)(new_params, valid)
    (w,) = update_vjp(outer_grads)

    def directional(p):
        inner = lambda t: sim.loss_given_explanation(t, p, batch, rng)[0]  # noqa: E731
        return jax.jvp(inner, (params,), (w,))[1]

    return loss, jax.grad(directional)(explanation)


def forward_meta_gradient(sim: Simulation, tx, params, opt_state, phi, batch, valid_batch, rng):
    """`meta_gradient`'s value, with one forward-mode pass instead of reverse over reverse."""
    explanation, explanation_vjp = jax.vjp(lambda f: sim.teacher_explanation(f, batch), phi)
    grads = jax.grad(lambda t: sim.loss_given_explanation(t, explanation, batch, rng)[0])(params)
    loss, d_explanation = _through_update(
        sim, tx, params, opt_state, grads, explanation, batch, valid_batch, rng
    )
    return loss, explanation_vjp(d_explanation)[0]


def neumann_hypergradient(inner, outer, theta, phi, steps: int, alpha: float):
    """Implicit-function hypergradient of outer(θ) w.r.t. φ at θ, for θ ≈ argmin inner(·, φ).

    Args:
      inner: L_in(θ, φ) -> scalar; outer: L_out(θ) -> scalar.
      steps, alpha: K and α of the Neumann series for H⁻¹v (needs ‖I - αH‖ < 1).
    Returns:
      (outer(θ), hypergradient with the structure of φ).
    """
    outer_value, v = jax.value_and_grad(outer)(theta)
    grad_theta = lambda t: jax.grad(inner)(t, phi)  # noqa: E731

    def hvp(vec):
        return jax.jvp(grad_theta, (theta,), (vec,))[1]

    def term(carry, _):
        p, total = carry
        p = jax.tree.map(lambda a, b: a - alpha * b, p, hvp(p))
        return (p, jax.tree.map(jnp.add, total, p)), None

    (_, total), _ = jax.lax.scan(term, (v, v), None, length=steps)
    ihvp = jax.lax.stop_gradient(jax.tree.map(lambda x: alpha * x, total))
    mixed = jax.grad(lambda f: optax.tree_utils.tree_vdot(jax.grad(inner)(theta, f), ihvp))(phi)
    return outer_value, jax.tree.map(jnp.negative, mixed)


def implicit_meta_gradient(sim: Simulation, params, phi, batch, valid_batch, rng, steps, alpha):
    """`neumann_hypergradient` of the student's validation simulation loss."""
    return neumann_hypergradient(
        lambda p, f: sim.loss(p, f, batch, rng)[0],
        lambda p: sim.simulation_loss(p, valid_batch),
        params,
        phi,
        steps,
        alpha,
    )


def static_step(state: StudentState, batch, *, sim: Simulation, tx, lr_schedule):
    """A student step with a fixed teacher explainer (or none)."""
    rng = jax.random.fold_in(state.rng, state.step)
    params, opt_state, out = student_update(
        sim, tx, state.params, state.opt_state, state.phi, batch, rng
    )
    metrics = StudentMetrics.single_from_model_output(
        learning_rate=lr_schedule(state.step), psi_distance=_psi_distance(sim, params), **out
    )
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics


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
    new_params, new_opt_state, out, student_grads = _update_given_explanation(
        sim, tx, params, opt_state, explanation, batch, inner_rng
    )
    out["psi_distance"] = _psi_distance(sim, new_params)

    def simulated(params, opt_state):
        if simulated_tx is None:
            return tx, opt_state
        return simulated_tx, simulated_tx.init(params)

    def hyper(phi):
        if hypergradient == "online":
            # Through the update just taken (θ₀ → θ₁), reusing its gradient.
            sim_tx, sim_state = simulated(params, opt_state)
            loss, d_explanation = _through_update(
                sim,
                sim_tx,
                params,
                sim_state,
                student_grads,
                explanation,
                batch,
                valid_batch,
                inner_rng,
            )
            return loss, explanation_vjp(d_explanation)[0]
        if hypergradient == "implicit":
            return implicit_meta_gradient(
                sim,
                new_params,
                phi,
                batch,
                valid_batch,
                simulated_rng,
                neumann_steps,
                neumann_alpha,
            )
        unrolled = forward_meta_gradient if hypergradient == "forward" else meta_gradient
        sim_tx, sim_state = simulated(new_params, new_opt_state)
        return unrolled(sim, sim_tx, new_params, sim_state, phi, batch, valid_batch, simulated_rng)

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

"""Hypergradient estimators: how the student's validation simulation loss changes with the
teacher explainer's parameters φ, through (an approximation of) the student's training step.
Chosen by name (`meta.hypergradient`) from `HYPERGRADIENTS`; each takes the `StepInputs` of one
student step and returns (outer loss, ∂ outer / ∂φ).

- "unroll" (the default, the paper's): simulate one more update of the student from θ₁ with its
  own optimizer (or `meta.simulated_update`'s SGD) and differentiate the validation loss after
  it by reverse over reverse (`meta_gradient`);
- "forward": the same value from one forward-mode pass of the student (`forward_meta_gradient`);
- "online": through the update just taken (θ₀ → θ₁, its gradient reused): the same one-step
  hypergradient, one step earlier, one student gradient fewer;
- "implicit": implicit differentiation, θ₁ taken as a minimiser of L_in(·; φ):
  dL_out/dφ = -∂²L_in/∂φ∂θ · H⁻¹ ∇_θ L_out, H⁻¹v by a Neumann series α Σ_{k≤K} (I - αH)^k v
  (Lorraine et al., 2020).

φ influences the student only through β·KL in L_in, so β = 0 gives a zero hypergradient.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from smat.registry import Registry
from smat.simulation import Simulation


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


@dataclasses.dataclass(frozen=True)
class StepInputs:
    """One student step, as the estimators see it: θ₀ (`params`, `opt_state`) and its gradient
    `grads` on `batch` given the teacher's `explanation` (with its VJP back to φ), θ₁
    (`new_params`, `new_opt_state`), the rngs, and the simulated update's optimizer
    (`simulated_tx`; None: the student's own `tx` and state)."""

    sim: Simulation
    tx: Any
    simulated_tx: Any
    params: Any
    opt_state: Any
    grads: Any
    explanation: Any
    explanation_vjp: Callable
    new_params: Any
    new_opt_state: Any
    phi: Any
    batch: Any
    valid_batch: Any
    inner_rng: jax.Array
    simulated_rng: jax.Array
    neumann_steps: int = 5
    neumann_alpha: float = 1e-3

    def simulated(self, params, opt_state):
        """The optimizer (and its state) of the simulated update from `params`."""
        if self.simulated_tx is None:
            return self.tx, opt_state
        return self.simulated_tx, self.simulated_tx.init(params)


HYPERGRADIENTS: Registry[Callable[[StepInputs], tuple[jax.Array, Any]]] = Registry("hypergradient")


@HYPERGRADIENTS.register("unroll")
def unroll(s: StepInputs):
    sim_tx, sim_state = s.simulated(s.new_params, s.new_opt_state)
    return meta_gradient(
        s.sim, sim_tx, s.new_params, sim_state, s.phi, s.batch, s.valid_batch, s.simulated_rng
    )


@HYPERGRADIENTS.register("forward")
def forward(s: StepInputs):
    sim_tx, sim_state = s.simulated(s.new_params, s.new_opt_state)
    return forward_meta_gradient(
        s.sim, sim_tx, s.new_params, sim_state, s.phi, s.batch, s.valid_batch, s.simulated_rng
    )


@HYPERGRADIENTS.register("online")
def online(s: StepInputs):
    sim_tx, sim_state = s.simulated(s.params, s.opt_state)
    loss, d_explanation = _through_update(
        s.sim,
        sim_tx,
        s.params,
        sim_state,
        s.grads,
        s.explanation,
        s.batch,
        s.valid_batch,
        s.inner_rng,
    )
    return loss, s.explanation_vjp(d_explanation)[0]


@HYPERGRADIENTS.register("implicit")
def implicit(s: StepInputs):
    return implicit_meta_gradient(
        s.sim,
        s.new_params,
        s.phi,
        s.batch,
        s.valid_batch,
        s.simulated_rng,
        s.neumann_steps,
        s.neumann_alpha,
    )

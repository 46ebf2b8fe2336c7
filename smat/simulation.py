"""The student's objective: simulate the teacher, helped by the teacher's explanations.

L_in(θ, ψ; φ) = CE(S_θ(x), argmax T(x)) + β · KL(E_T^φ(x) ‖ E_S^ψ(x)) (regression: squared
error to T(x) instead of CE): the targets are the teacher's predictions (cached per example),
never the gold labels; the KL sums over tokens (padding has probability 0 in both) with
probabilities clipped at 1e-7 before the log.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from smat import tasks
from smat.data.pipeline import model_inputs
from smat.losses import weighted_mean

CLIP = 1e-7


def explanation_kl(teacher: jax.Array, student: jax.Array) -> jax.Array:
    """Per-example KL(teacher ‖ student) over tokens, [batch, tokens] -> [batch]."""
    log_ratio = jnp.log(jnp.maximum(teacher, CLIP)) - jnp.log(jnp.maximum(student, CLIP))
    return jnp.sum(teacher * log_ratio, axis=-1)


@dataclasses.dataclass(frozen=True)
class Simulation:
    """A student learning to simulate a (cached) teacher.

    Attributes:
      apply_fn: the student module's apply.
      teacher_explainer: explainer of the teacher (params φ), or None for no explanation.
      student_explainer: the student's attention explainer (params ψ), or None.
      beta: weight of the explanation loss (0: the "no explanation" baseline).
      task: "classification" (CE to the teacher's class) or "regression" (squared error to
        the teacher's output); see `smat.tasks`.
    """

    apply_fn: Callable
    teacher_explainer: Any | None
    student_explainer: Any | None
    beta: float
    task: str = "classification"

    @property
    def explains(self) -> bool:
        return self.beta > 0 and self.teacher_explainer is not None

    def teacher_explanation(self, phi, batch) -> jax.Array:
        return self.teacher_explainer.explain(
            phi, batch["teacher_features"], batch["attention_mask"]
        )

    def loss(self, params, phi, batch, rng) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Inner (student training) loss with dropout; params = {"model": θ, "explainer": ψ}."""
        explanation = self.teacher_explanation(phi, batch) if self.explains else None
        return self.loss_given_explanation(params, explanation, batch, rng)

    def loss_given_explanation(
        self, params, explanation, batch, rng
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """`loss` with the teacher explanation [batch, tokens] given: φ enters the inner loss
        only through it (the forward-mode meta-gradient relies on that)."""
        mask, w = batch["attention_mask"], batch["weight"]
        out = self.apply_fn(
            {"params": params["model"]},
            *model_inputs(batch),
            deterministic=False,
            rngs={"dropout": rng},
        )
        target = tasks.target(self.task, batch["teacher_logits"])
        ce = weighted_mean(tasks.loss(self.task, out.logits, target), w)
        aux = {
            "simulation_loss": ce,
            "simulability": tasks.agreement(self.task, out.logits, target, w),
        }
        if not self.explains:
            return ce, aux
        student = self._student_explanation(params, out, mask)
        kl = weighted_mean(explanation_kl(explanation, student), w)
        aux["explanation_kl"] = kl
        return ce + self.beta * kl, aux

    def _student_explanation(self, params, out, mask) -> jax.Array:
        ex = self.student_explainer
        return ex.explain(params["explainer"], ex.features(out.attention_logits, mask), mask)

    def student_explanation(self, params, batch) -> jax.Array:
        """The student's explanation [batch, positions] (no dropout)."""
        out = self.apply_fn({"params": params["model"]}, *model_inputs(batch))
        return self._student_explanation(params, out, batch["attention_mask"])

    def simulation_loss(self, params, batch) -> jax.Array:
        """Outer loss: the simulation loss on the teacher's predictions, no dropout, no
        explanations."""
        logits = self.apply_fn({"params": params["model"]}, *model_inputs(batch)).logits
        target = tasks.target(self.task, batch["teacher_logits"])
        return weighted_mean(tasks.loss(self.task, logits, target), batch["weight"])

"""Setup `learnable_teacher` (SMAT): the student and the teacher's explainer trained jointly,
the meta-step fused into the student's step (smat/steps/meta.py)."""

import functools

import optax

from smat import data as data_lib
from smat import optim, sharding
from smat.errors import ConfigError
from smat.steps import meta as meta_step
from smat.trainers.student import StaticTeacherTrainer


class LearnableTeacherTrainer(StaticTeacherTrainer):
    """SMAT: the student and the teacher's explainer are trained jointly (the meta-step)."""

    learnable = True

    def setup(self) -> None:
        super().setup()
        c = self.config
        # The outer loss draws its batches from the student-validation split.
        size = c.meta.valid_batch_size or c.train.batch_size
        sharding.check_batch_size(size, self.mesh, "meta.valid_batch_size")
        if size > len(self.valid_set):
            raise ConfigError(
                f"meta.valid_batch_size={size} exceeds the {len(self.valid_set)} student-"
                "validation examples: lower it"
            )
        self.valid_batches = [
            data_lib.TrainBatches(self.valid_set, size, s + 1) for s in self.seeds
        ]

    def _step_fn(self, tx, meta_tx):
        step = functools.partial(
            meta_step.learnable_step,
            sim=self.sim,
            tx=tx,
            meta_tx=meta_tx,
            lr_schedule=optim.schedule(self.config.optim, self.total_steps),
            interval=self.config.meta.interval,
            hypergradient=self.config.meta.hypergradient,
            neumann_steps=self.config.meta.neumann_steps,
            neumann_alpha=self.config.meta.neumann_alpha,
            simulated_tx=(
                optax.sgd(self.config.meta.simulated_lr)
                if self.config.meta.simulated_update == "sgd"
                else None
            ),
            num_students=len(self.seeds),
        )
        return lambda state, batches: step(state, batches["train"], batches["valid"])

    def next_batch(self, step: int):
        return {
            "train": self.stack([b.batch(step) for b in self.batches]),
            "valid": self.stack([b.batch(step) for b in self.valid_batches]),
        }

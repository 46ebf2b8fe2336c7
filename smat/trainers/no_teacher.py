"""Setup `no_teacher`: train a (teacher) classifier on the task's gold labels."""

import functools
import math
import os
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from smat import callbacks as cb
from smat import data as data_lib
from smat import models, optim, runs, sharding
from smat import teacher as teacher_lib
from smat.errors import ConfigError
from smat.steps import teacher as teacher_steps
from smat.steps.teacher import TrainState, eval_step, train_step
from smat.trainers.base import Trainer
from smat.trainers.common import cap, init_params


class NoTeacherTrainer(Trainer):
    """Trains a classifier on teacher_train, validates on teacher_valid, tests on student_test.

    The test split is the students' test split: the teacher never trains or selects on it, and
    its accuracy there is the accuracy of the teacher the students will simulate.
    """

    @property
    def eval_metrics(self) -> tuple[str, ...]:
        if self.config.task == "regression":
            return ("val/pearson", "val/loss")
        return ("val/accuracy", "val/loss")

    def __init__(
        self,
        config: ml_collections.ConfigDict,
        workdir: str,
        callbacks: Sequence[cb.Callback] = (),
        *,
        default_callbacks: bool = True,
        splits: dict[str, data_lib.ArrayDataset] | None = None,
        model: models.BuiltModel | None = None,
    ):
        """`splits` (teacher_train / teacher_valid / student_test) and `model` replace
        `config.data` and `config.model` (the Python API, `smat.train_teacher`)."""
        super().__init__(config, workdir, callbacks, default_callbacks)
        if (splits is None) != (model is None):
            raise ValueError("pass both splits and model (the Python API), or neither")
        self.given_splits, self.given_model = splits, model

    def setup(self) -> None:
        c = self.config
        if self.given_splits is None:
            models.check_max_length(c.model, c.data.max_length)
            self.data = data_lib.load(c)
            s = self.data.splits
            outputs = self._num_outputs(self.data.num_classes)
            self.model = models.build_model(c.model, outputs, self.data.vocab_size)
        else:
            s, self.model = self.given_splits, self.given_model
        self.train_set = cap(s["teacher_train"], c.data.max_train_examples)
        self.valid_set = cap(s["teacher_valid"], c.data.max_valid_examples)
        self.test_set = cap(s["student_test"], c.data.max_test_examples)
        self.batches = data_lib.TrainBatches(self.train_set, c.train.batch_size, c.seed)
        steps_per_epoch = self.batches.steps_per_epoch
        self.total_steps = c.train.num_steps or math.ceil(c.train.num_epochs * steps_per_epoch)
        k = c.train.accumulate_steps
        num_updates = optim.updates(self.total_steps, k)
        if c.optim.warmup_steps >= num_updates:
            raise ConfigError(
                f"optim.warmup_steps={c.optim.warmup_steps} is not below the "
                f"{num_updates} optimiser updates; lower it"
            )
        tx = optim.accumulate(optim.freeze(optim.make(c.optim, num_updates), c.train.frozen), k)
        self.state = self._init_state(tx)
        apply_fn = self.model.apply
        self.set_train_step(
            functools.partial(
                train_step,
                apply_fn=apply_fn,
                tx=tx,
                lr_schedule=optim.learning_rate(c.optim, self.total_steps, k),
                task=c.task,
            )
        )
        self.set_eval_step(functools.partial(eval_step, apply_fn=apply_fn, task=c.task))

    def _num_outputs(self, num_classes: int) -> int:
        """Model outputs: one per class, or one score; refuses a task that does not fit the
        data."""
        task, name = self.config.task, self.config.data.name
        if task == "regression" and num_classes:
            raise ConfigError(
                f"task='regression' but data {name!r} has {num_classes} classes; use "
                "--config.task=classification"
            )
        if task == "classification" and not num_classes:
            raise ConfigError(
                f"data {name!r} has scores, not classes: use --config.task=regression"
            )
        return num_classes or 1

    def write_artifacts(self) -> None:
        if self.given_model is not None:
            return  # the caller holds the model; only checkpoints and the summary are written
        runs.save_model_description(self.workdir, self.model.description, self.data.tokenizer_path)

    def _init_state(self, tx) -> TrainState:
        """Params and optimizer state straight into the mesh's replicated sharding."""
        init_rng, train_rng = jax.random.split(jax.random.PRNGKey(self.config.seed))
        params = init_params(self.model, self.batches.batch(0), init_rng, self.mesh)
        repl = sharding.replicated(self.mesh)
        opt_state = jax.jit(tx.init, out_shardings=repl)(params)
        state = TrainState(
            step=jnp.zeros((), jnp.int32), params=params, opt_state=opt_state, rng=train_rng
        )
        return jax.device_put(
            state, sharding.state_shardings(state, self.mesh, self.config.mesh.shard_params)
        )

    def next_batch(self, step: int):
        return self.batches.batch(step)

    def test(self, params) -> dict[str, Any]:
        # The test logits come from the function students cache a teacher's outputs with, and
        # are kept where they look (<workdir>/outputs/, same key): the first student of this
        # teacher reads them instead of running the teacher over its test split again.
        store = None if self.given_model else self._path(teacher_lib.OUTPUTS)
        tested = teacher_lib.cache_outputs(
            self.test_set,
            self.model.apply,
            params,
            None,
            self.config.train.eval_batch_size,
            self.mesh,
            store,
        )
        a = tested.arrays
        logits = a["teacher_logits"]
        metrics = teacher_steps.eval_metrics(
            jnp.asarray(logits), jnp.asarray(a["label"]), jnp.ones(len(logits)), self.config.task
        ).compute()
        metrics = {k: float(v) for k, v in metrics.items()}
        if jax.process_index() == 0:
            path = os.path.join(self.workdir, "test_predictions.npz")
            np.savez(path, index=a["index"], label=a["label"], logits=logits)
        summary = {f"test/{k}": v for k, v in metrics.items()}
        if self.config.task == "regression":
            summary["test/rmse"] = float(np.sqrt(metrics["loss"]))
        return summary | {"test/examples": len(self.test_set)}

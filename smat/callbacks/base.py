"""The callback protocol: host-side side effects (logging, checkpoints, progress) of a Trainer.

When each hook fires:
  on_checkpoint_restored  a resumed run's latest checkpoint was read (state_dicts given back)
  on_train_start          before the first step of this process (after any restore)
  on_train_batch_end      after every train step, with its metrics (a CLU collection still on
                          the device: `.compute()` reads it, at the cost of waiting for the step)
  on_log                  every `train.log_every_steps`, with the averaged train scalars
  on_eval_start/_end      around each validation (`train.eval_every_steps`, and the last step)
  on_checkpoint_saved     after a `latest` or `best` checkpoint was written (or queued, async)
  on_step_end             last in a step
  on_test_end             after the best params were tested, with the test metrics
  on_train_end            with the run's summary (finished, or interrupted by a signal)
  on_exception            when training fails (the error is raised again afterwards)
Within a hook the callbacks run in the trainer's order: the defaults, the config's
(`callbacks`), those passed to the trainer, and the `Checkpoint` callback last, so that the
state it saves holds every other callback's update of that step. A callback that owns state
returns it from `state_dict`; it is saved with every checkpoint under the callback's `name`
(numbered when several share one) and given back through `load_state_dict` on resume.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import ml_collections


class Trainer(Protocol):
    """What callbacks read and call on a trainer (`smat.trainers.base.Trainer` is one): the
    interface, not the module, so callbacks and trainers do not import each other."""

    config: ml_collections.ConfigDict
    workdir: str
    state: Any
    step: int
    total_steps: int
    monitor: str
    should_stop: bool
    stop_reason: str
    evaluated_at: int
    checkpointer: Any  # smat.checkpointing.Checkpointer, set in setup()
    timings: Any  # smat.timing.Timings: callbacks charge their slow side effects to a phase

    def checkpoint_meta(self) -> dict[str, Any]: ...

    def emit(self, hook: str, *args: Any) -> None:
        """Calls `hook` of every callback, in order, with `(trainer, *args)`."""
        ...

    def checkpoint_due(self, step: int | None = None) -> bool: ...

    def best_params(self) -> Any: ...

    def eval_images(self) -> dict[str, Any]: ...

    def explainer_weights(self) -> dict[str, Any]:
        """Students only: current teacher (φ) and student (ψ) head weights."""
        ...


def improved(value: float, best: float | None, mode: str) -> bool:
    """Whether `value` beats `best` under mode "max" or "min" (None: anything beats it)."""
    if best is None:
        return True
    return value > best if mode == "max" else value < best


class Callback:
    """Base class of the callbacks: override the hooks you need.

    Pass instances to `smat.train_explainer(..., callbacks=[...])` or a trainer, or name the
    class in the config (`--callbacks=pkg.module:Name(key=value)`). Every hook gets the trainer
    (`smat.callbacks.base.Trainer`: its config, workdir, state, step, ...) first. A callback
    that owns state returns it from `state_dict`; it comes back through `load_state_dict` when
    a run resumes.
    """

    @property
    def name(self) -> str:
        """The key of this callback's state in checkpoints (the class name by default)."""
        return type(self).__name__

    def on_train_start(self, trainer: Trainer) -> None:
        """Before the first step of this process, after any restore."""

    def on_checkpoint_restored(self, trainer: Trainer, step: int) -> None:
        """A resumed run read its latest checkpoint of `step` (state_dicts already given back)."""

    def on_train_batch_end(self, trainer: Trainer, step: int, metrics: Any) -> None:
        """After every train step. `metrics` is a CLU collection still on the device:
        `.compute()` reads it, at the cost of waiting for the step."""

    def on_log(self, trainer: Trainer, step: int, scalars: Mapping[str, float]) -> None:
        """Every `train.log_every_steps`, with the train scalars averaged since the last log."""

    def on_eval_start(self, trainer: Trainer, step: int) -> None:
        """Before each validation (every `train.eval_every_steps`, and at the last step)."""

    def on_eval_end(self, trainer: Trainer, step: int, scalars: Mapping[str, float]) -> None:
        """After each validation, with its scalars (`val/...`)."""

    def on_checkpoint_saved(self, trainer: Trainer, step: int, kind: str) -> None:
        """`kind`: "latest" (the full state, for resuming) or "best" (params, for testing)."""

    def on_step_end(self, trainer: Trainer, step: int) -> None:
        """Last in every step, after its log and validation. The latest checkpoint is saved
        after every other callback's `on_step_end`, so the state it saves includes this step."""

    def on_test_end(self, trainer: Trainer, metrics: Mapping[str, Any]) -> None:
        """After the best params were tested, with the test metrics (`test/...`)."""

    def on_train_end(self, trainer: Trainer, summary: Mapping[str, Any]) -> None:
        """With the run's summary, finished or interrupted by a signal (`summary["status"]`)."""

    def on_exception(self, trainer: Trainer, error: BaseException) -> None:
        """When training fails; the error is raised again afterwards. An error raised here is
        noted on `error`, never raised over it."""

    def state_dict(self) -> dict[str, Any]:
        """What this callback must keep over a resume; saved with every checkpoint."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Gets back what `state_dict` returned when the restored checkpoint was saved."""

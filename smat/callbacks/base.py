"""The callback protocol: host-side side effects (logging, checkpoints, progress) of a Trainer.

Hooks are called in this order within a step: the step runs, `on_log` fires every
`train.log_every_steps`, `on_eval_end` after a validation, then `on_step_end`. Callbacks that own
state (early stopping, best tracking) return it from `state_dict`; it is saved with every
checkpoint and given back through `load_state_dict` on resume.
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
    """Base class: override the hooks you need."""

    @property
    def name(self) -> str:
        return type(self).__name__

    def on_train_start(self, trainer: Trainer) -> None:
        pass

    def on_log(self, trainer: Trainer, step: int, scalars: Mapping[str, float]) -> None:
        pass

    def on_eval_end(self, trainer: Trainer, step: int, scalars: Mapping[str, float]) -> None:
        pass

    def on_step_end(self, trainer: Trainer, step: int) -> None:
        pass

    def on_train_end(self, trainer: Trainer, summary: Mapping[str, Any]) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass

"""The callback protocol: host-side side effects (logging, checkpoints, progress) of a Trainer.

Hooks are called in this order within a step: the step runs, `on_log` fires every
`train.log_every_steps`, `on_eval_end` after a validation, then `on_step_end`. Callbacks that own
state (early stopping, best tracking) return it from `state_dict`; it is saved with every
checkpoint and given back through `load_state_dict` on resume.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smat.trainers.base import Trainer


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

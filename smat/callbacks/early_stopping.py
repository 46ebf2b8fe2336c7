"""Stop training when the monitored validation metric stops improving."""

from __future__ import annotations

from smat.callbacks.base import Callback, improved


class EarlyStopping(Callback):
    """Sets `trainer.should_stop` after `patience` evaluations without improvement (0: never)."""

    def __init__(self, monitor: str, mode: str, patience: int):
        self.monitor, self.mode, self.patience = monitor, mode, patience
        self.best: float | None = None
        self.bad_evals = 0

    def on_eval_end(self, trainer, step, scalars):
        value = scalars[self.monitor]
        if improved(value, self.best, self.mode):
            self.best, self.bad_evals = value, 0
        else:
            self.bad_evals += 1
        if self.patience and self.bad_evals >= self.patience:
            trainer.should_stop = True
            trainer.stop_reason = (
                f"early stop: {self.monitor} did not improve for {self.bad_evals} evaluations"
            )

    def state_dict(self):
        return {"best": self.best, "bad_evals": self.bad_evals}

    def load_state_dict(self, state):
        self.best, self.bad_evals = state["best"], state["bad_evals"]

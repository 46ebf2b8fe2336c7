"""Save the latest train state periodically and the best params by the monitored metric."""

from __future__ import annotations

from smat.callbacks.base import Callback, improved


class Checkpoint(Callback):
    """Writes `latest` (full state, for resume) and `best` (params, for inference) checkpoints.

    The latest state is saved every `ckpt.every_steps`, after every validation, and when training
    ends or is interrupted; it carries every callback's state, so a resumed run continues exactly.
    """

    def __init__(self, monitor: str, mode: str):
        self.monitor, self.mode = monitor, mode
        self.best: float | None = None
        self.best_step: int | None = None

    def on_eval_end(self, trainer, step, scalars):
        value = scalars[self.monitor]
        if improved(value, self.best, self.mode):
            self.best, self.best_step = value, step
            with trainer.timings.phase("checkpoint"):
                trainer.checkpointer.save_best(
                    step, trainer.best_params(), {"step": step, self.monitor: value}
                )
            trainer.emit("on_checkpoint_saved", step, "best")

    def on_step_end(self, trainer, step):
        if trainer.checkpoint_due() or trainer.evaluated_at == step:
            with trainer.timings.phase("checkpoint"):
                trainer.checkpointer.save_latest(step, trainer.state, trainer.checkpoint_meta())
            trainer.emit("on_checkpoint_saved", step, "latest")

    def on_train_end(self, trainer, summary):
        trainer.checkpointer.save_latest(trainer.step, trainer.state, trainer.checkpoint_meta())
        trainer.checkpointer.wait()
        trainer.emit("on_checkpoint_saved", trainer.step, "latest")

    def state_dict(self):
        return {"best": self.best, "best_step": self.best_step}

    def load_state_dict(self, state):
        self.best, self.best_step = state["best"], state["best_step"]

"""Write train/validation/test scalars, the config and its HParams session to the metric
writers `logging.writers` names (TensorBoard, CSV, JSON Lines, W&B, MLflow)."""

from __future__ import annotations

from typing import Any

from smat import config as config_lib
from smat import metric_writers
from smat.callbacks.base import Callback


class MetricLogger(Callback):
    """Scalars under `split/name` (train/loss, train/learning_rate, val/accuracy, test/...)."""

    def __init__(self, logdir: str, settings: Any):
        """`settings`: the config's `logging` section (writers and tracker settings)."""
        self.logdir, self.settings = logdir, settings
        self.writer: metric_writers.MetricWriter | None = None

    def on_train_start(self, trainer):
        resumed_at = trainer.step if trainer.step > 0 else None
        hparams = config_lib.hparams(trainer.config)
        self.writer = metric_writers.create(self.logdir, self.settings, resumed_at, hparams)
        if trainer.step == 0:
            config = "```\n" + trainer.config.to_json_best_effort(indent=2) + "\n```"
            self.writer.write_texts(0, {"config": config})

    def on_log(self, trainer, step, scalars):
        self.writer.write_scalars(step, scalars)

    def on_eval_end(self, trainer, step, scalars):
        self.writer.write_scalars(step, scalars)
        self.writer.write_images(step, trainer.eval_images())
        self.writer.flush()

    def on_train_end(self, trainer, summary):
        # The HParams session writes these as scalars too (each tag once at the last step).
        final = {
            k: float(v)
            for k, v in summary.items()
            if (k.startswith(("best_val/", "test/")) or k == "wall_time_s")
            and isinstance(v, int | float)
            and not isinstance(v, bool)
        }
        self.writer.write_hparams(trainer.step, config_lib.hparams(trainer.config), final)
        self.writer.close()

    def on_exception(self, trainer, error):
        if self.writer is not None:  # keep what was logged before the failure
            self.writer.close()

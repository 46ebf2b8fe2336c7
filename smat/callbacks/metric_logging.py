"""Write train/validation/test scalars, the config and its HParams session to TensorBoard."""

from __future__ import annotations

from typing import Any

from smat import metric_writers
from smat.callbacks.base import Callback

# The settings a run's HParams session records (those its config has): what studies vary.
HPARAMS = (
    "setup",
    "num_examples",
    "seed",
    "beta",
    "teacher_explainer.name",
    "teacher_explainer.layer",
    "teacher_explainer.head",
    "teacher_explainer.from_run",
    "optim.name",
    "optim.learning_rate",
    "train.num_epochs",
    "meta.optim.learning_rate",
    "meta.hypergradient",
    "meta.interval",
    "meta.valid_batch_size",
    "meta.simulated_update",
    "explainer_optim.name",
    "explainer_optim.learning_rate",
)


def hparams(config) -> dict[str, Any]:
    """The HPARAMS fields the config has, as bool/int/float/str (what the plugin stores)."""
    out = {}
    for field in HPARAMS:
        node = config
        for key in field.split("."):
            node = node.get(key) if hasattr(node, "get") else None
            if node is None:
                break
        if node is not None:
            out[field] = node if isinstance(node, bool | int | float | str) else str(node)
    return out


class MetricLogger(Callback):
    """Scalars under `split/name` (train/loss, train/learning_rate, val/accuracy, test/...)."""

    def __init__(self, logdir: str):
        self.logdir = logdir
        self.writer: metric_writers.MetricWriter | None = None

    def on_train_start(self, trainer):
        self.writer = metric_writers.create(self.logdir)
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
        numbers = {
            k: v for k, v in summary.items() if k.startswith("test/") and isinstance(v, float)
        }
        self.writer.write_scalars(trainer.step, numbers)
        final = {
            k: float(v)
            for k, v in summary.items()
            if (k.startswith(("best_val/", "test/")) or k == "wall_time_s")
            and isinstance(v, int | float)
            and not isinstance(v, bool)
        }
        self.writer.write_hparams(trainer.step, hparams(trainer.config), final)
        self.writer.close()

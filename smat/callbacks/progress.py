"""A progress bar (loss, steps/s, ETA) and the one-screen summary at the end."""

from __future__ import annotations

import sys

import jax
from tqdm.auto import tqdm

from smat import timing
from smat.callbacks.base import Callback


def format_summary(summary) -> str:
    """The summary dict as aligned `key: value` lines."""
    width = max(len(k) for k in summary)
    lines = []
    for k, v in summary.items():
        if isinstance(v, float) and "/" in k:  # metrics; times etc. print as they are
            v = f"{v:.4f}"
        elif k == "time_s":
            v = timing.format_phases(v)
        lines.append(f"  {k:<{width}}  {v}")
    return "\n".join(lines)


class Progress(Callback):
    def __init__(self, enabled: bool = True):
        self.enabled = enabled and jax.process_index() == 0
        self.bar = None
        self.postfix: dict[str, str] = {}

    def on_train_start(self, trainer):
        if self.enabled:
            self.bar = tqdm(
                total=trainer.total_steps,
                initial=trainer.step,
                desc=trainer.config.setup,
                unit="step",
                dynamic_ncols=True,
                file=sys.stderr,
                mininterval=1.0 if sys.stderr.isatty() else 30.0,
            )

    def on_log(self, trainer, step, scalars):
        self.postfix["loss"] = f"{scalars['train/loss']:.4f}"
        self._show()

    def on_eval_end(self, trainer, step, scalars):
        self.postfix[trainer.monitor] = f"{scalars[trainer.monitor]:.4f}"
        self._show()

    def on_step_end(self, trainer, step):
        if self.bar is not None:
            self.bar.update(step - self.bar.n)

    def on_train_end(self, trainer, summary):
        if self.bar is not None:
            self.bar.close()
        if jax.process_index() == 0:
            print(f"\n{'=' * 72}\n{format_summary(summary)}\n{'=' * 72}", flush=True)

    def _show(self):
        if self.bar is not None:
            self.bar.set_postfix(self.postfix, refresh=False)

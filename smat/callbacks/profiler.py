"""A `jax.profiler` trace of some train steps (`train.profile_steps="START:END"`), written into
the workdir where TensorBoard's profile tab finds it (`<workdir>/plugins/profile/<run>/`), with
a Perfetto trace (`perfetto_trace.json.gz`, ui.perfetto.dev) beside it."""

from __future__ import annotations

import jax

from smat.callbacks.base import Callback
from smat.errors import ConfigError


def parse_steps(spec: str) -> tuple[int, int] | None:
    """(START, END) of a "START:END" spec ("" = no profiling): the trace covers the steps after
    START up to END. One-line ConfigError otherwise."""
    if not spec:
        return None
    start, sep, end = spec.partition(":")
    try:
        first, last = int(start), int(end)
    except ValueError:
        first = last = -1
    if not sep or not 0 <= first < last:
        raise ConfigError(
            f"train.profile_steps={spec!r}: give START:END with 0 <= START < END, e.g. 10:15"
        )
    return first, last


class Profiler(Callback):
    """Traces the steps after `start` up to `end` (or to the end of training, if sooner)."""

    def __init__(self, logdir: str, start: int, end: int):
        self.logdir, self.start, self.end = logdir, start, end
        self.tracing = False

    def _begin(self) -> None:
        jax.profiler.start_trace(self.logdir, create_perfetto_trace=True)
        self.tracing = True

    def _finish(self, trainer) -> None:
        if self.tracing:
            jax.block_until_ready(trainer.state)  # the traced steps' device work included
            jax.profiler.stop_trace()
            self.tracing = False

    def on_train_start(self, trainer):
        if trainer.step == self.start:  # step 0, or a resume at START
            self._begin()

    def on_step_end(self, trainer, step):
        if step == self.start and not self.tracing:
            self._begin()
        elif step == self.end:
            self._finish(trainer)

    def on_train_end(self, trainer, summary):
        self._finish(trainer)

    def on_exception(self, trainer, error):
        self._finish(trainer)

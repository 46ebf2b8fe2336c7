"""Metric writers behind a small interface; TensorBoard event files without TensorFlow.

`clu.metric_writers` imports TensorFlow, so events are written with tensorboardX instead; the
files are ordinary TensorBoard event files (`tensorboard --logdir runs`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import jax
import numpy as np


class MetricWriter(Protocol):
    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None: ...

    def write_texts(self, step: int, texts: Mapping[str, str]) -> None: ...

    def write_images(self, step: int, images: Mapping[str, Any]) -> None: ...

    def write_hparams(
        self, step: int, hparams: Mapping[str, Any], metrics: Mapping[str, float]
    ) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class TensorBoardWriter:
    """Writes scalars and texts as TensorBoard events under `logdir`."""

    def __init__(self, logdir: str):
        from tensorboardX import SummaryWriter

        self._writer = SummaryWriter(logdir=logdir, flush_secs=10)

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        for name, value in scalars.items():
            self._writer.add_scalar(name, float(value), global_step=step)

    def write_texts(self, step: int, texts: Mapping[str, str]) -> None:
        for name, text in texts.items():
            self._writer.add_text(name, text, global_step=step)

    def write_images(self, step: int, images: Mapping[str, Any]) -> None:
        """[height, width] arrays in [0, 1] (enlarged so small matrices stay readable), or
        rendered [height, width, 3] RGB images in [0, 1]."""
        for name, image in images.items():
            image = np.asarray(image, np.float32)
            if image.ndim == 3:
                self._writer.add_image(name, image, global_step=step, dataformats="HWC")
                continue
            big = np.kron(image, np.ones((16, 16), np.float32))
            self._writer.add_image(name, big, global_step=step, dataformats="HW")

    def write_hparams(
        self, step: int, hparams: Mapping[str, Any], metrics: Mapping[str, float]
    ) -> None:
        """One HParams-plugin session in this run's own events (not a sub-run, as tensorboardX's
        add_hparams makes): `tensorboard --logdir <sweep root>` lines the runs up by their
        settings, with each metric's value read from the run's scalar of the same tag."""
        from tensorboardX.summary import hparams as hparams_summary

        for summary in hparams_summary(dict(hparams), dict(metrics)):
            self._writer.file_writer.add_summary(summary)
        self.write_scalars(step, metrics)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class NullWriter:
    """Used on processes other than 0: only one process writes logs."""

    def write_scalars(self, step, scalars):
        pass

    def write_texts(self, step, texts):
        pass

    def write_images(self, step, images):
        pass

    def write_hparams(self, step, hparams, metrics):
        pass

    def flush(self):
        pass

    def close(self):
        pass


def create(logdir: str) -> MetricWriter:
    return TensorBoardWriter(logdir) if jax.process_index() == 0 else NullWriter()

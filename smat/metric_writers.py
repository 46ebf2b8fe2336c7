"""Metric writers behind a small interface (`logging.writers`): TensorBoard event files
without TensorFlow, CSV and JSON Lines; Weights & Biases and MLflow (smat/tracker_writers.py)
where installed.

`clu.metric_writers` imports TensorFlow, so events are written with tensorboardX instead; the
files are ordinary TensorBoard event files (`tensorboard --logdir runs`). A run resumed from
the checkpoint of step s drops what a killed run wrote after s: TensorBoard is told to purge
those steps, and the text files are cut back to them, so every step appears once.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping
from typing import Any, Protocol

import jax
import numpy as np

from smat import tracker_writers
from smat.workdir import write_text


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

    def __init__(self, logdir: str, resumed_at: int | None = None):
        from tensorboardX import SummaryWriter

        # TensorBoard drops the events of earlier files from this step on.
        purge = None if resumed_at is None else resumed_at + 1
        self._writer = SummaryWriter(logdir=logdir, flush_secs=10, purge_step=purge)

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


class _TextWriter:
    """Scalars appended to a text file, one record per write (texts and images are left to
    TensorBoard); the HParams session becomes its final metrics."""

    def __init__(self, path: str, resumed_at: int | None = None):
        self.path = path
        if resumed_at is not None and os.path.isfile(path):
            with open(path, newline="") as f:
                kept = [line for line in f if self._kept(line, resumed_at)]
            write_text(path, "".join(kept))
        elif os.path.isfile(path):  # a run started over from step 0
            os.remove(path)
        self._file = open(path, "a", newline="")

    def _kept(self, line: str, resumed_at: int) -> bool:
        """Whether a line from before the resume stays: whole (a kill can tear the last one)
        and from a step the checkpoint covers."""
        try:
            return line.endswith("\n") and self._step(line) <= resumed_at
        except ValueError:
            return False

    def _step(self, line: str) -> float:
        raise NotImplementedError

    def write_texts(self, step, texts):
        pass

    def write_images(self, step, images):
        pass

    def write_hparams(self, step, hparams, metrics):
        self.write_scalars(step, metrics)

    def flush(self):
        self._file.flush()

    def close(self):
        self._file.close()


class CsvWriter(_TextWriter):
    """`metrics.csv` in the long form `step,name,value` (one row per scalar: the columns do
    not change as metrics appear; pandas: `df.pivot(index="step", columns="name")`)."""

    def __init__(self, path: str, resumed_at: int | None = None):
        fresh = not os.path.isfile(path) or resumed_at is None
        super().__init__(path, resumed_at)
        if fresh or os.path.getsize(path) == 0:
            self._file.write("step,name,value\n")

    def _step(self, line: str) -> float:
        head = line.split(",", 1)[0]
        return -1 if head == "step" else float(head)

    def write_scalars(self, step, scalars):
        out = io.StringIO()
        rows = csv.writer(out, lineterminator="\n")
        for name, value in scalars.items():
            rows.writerow([step, name, repr(float(value))])
        self._file.write(out.getvalue())


class JsonlWriter(_TextWriter):
    """`metrics.jsonl`: one `{"step": s, name: value, ...}` object per write."""

    def _step(self, line: str) -> float:
        return json.loads(line)["step"]

    def write_scalars(self, step, scalars):
        record = {"step": step, **{k: float(v) for k, v in scalars.items()}}
        self._file.write(json.dumps(record) + "\n")


class MultiWriter:
    """Every write to each of `writers`, in order."""

    def __init__(self, writers: list[MetricWriter]):
        self.writers = writers

    def write_scalars(self, step, scalars):
        for w in self.writers:
            w.write_scalars(step, scalars)

    def write_texts(self, step, texts):
        for w in self.writers:
            w.write_texts(step, texts)

    def write_images(self, step, images):
        for w in self.writers:
            w.write_images(step, images)

    def write_hparams(self, step, hparams, metrics):
        for w in self.writers:
            w.write_hparams(step, hparams, metrics)

    def flush(self):
        for w in self.writers:
            w.flush()

    def close(self):
        for w in self.writers:
            w.close()


# name -> (logdir, resumed_at, the `logging` config section, HParams fields) -> writer
WRITERS = {
    "tensorboard": lambda logdir, resumed_at, settings, hparams: TensorBoardWriter(
        logdir, resumed_at
    ),
    "csv": lambda logdir, resumed_at, settings, hparams: CsvWriter(
        os.path.join(logdir, "metrics.csv"), resumed_at
    ),
    "jsonl": lambda logdir, resumed_at, settings, hparams: JsonlWriter(
        os.path.join(logdir, "metrics.jsonl"), resumed_at
    ),
    "wandb": lambda logdir, resumed_at, settings, hparams: tracker_writers.WandbWriter(
        logdir, settings, hparams
    ),
    "mlflow": lambda logdir, resumed_at, settings, hparams: tracker_writers.MlflowWriter(
        logdir, settings, hparams
    ),
}
# The package each optional writer needs (`pip install 'smat[trackers]'`).
PACKAGES = {"wandb": "wandb", "mlflow": "mlflow"}


def names(spec: str) -> list[str]:
    """The writer names of a `logging.writers` spec ("tensorboard,csv")."""
    return [n.strip() for n in spec.split(",") if n.strip()]


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


def create(
    logdir: str,
    settings: Any,
    resumed_at: int | None = None,
    hparams: Mapping[str, Any] | None = None,
) -> MetricWriter:
    """The writers `settings.writers` names (the `logging` config section) under `logdir`,
    for a run starting fresh or `resumed_at` a checkpoint's step, with the run's HParams
    fields for the trackers; only process 0 writes."""
    if jax.process_index() != 0:
        return NullWriter()
    return MultiWriter(
        [
            WRITERS[name](logdir, resumed_at, settings, dict(hparams or {}))
            for name in names(settings.writers)
        ]
    )

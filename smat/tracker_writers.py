"""Metric writers for experiment trackers (`logging.writers="wandb"` / `"mlflow"`): Weights &
Biases and MLflow, used only when installed (`pip install 'smat[trackers]'`).

A tracker's history cannot be cut back as a file can, so a resumed run keeps each step once
the other way round: it asks the tracker which steps it already holds and skips them (a resume
is bit-identical, so those are the values it would write). One smat run is one tracker run
whatever its resumes: the key in `<logdir>/tracking.json`, written before the tracker run is
made, names it (W&B run id; MLflow tag `smat.run_key`).
"""

from __future__ import annotations

import glob
import json
import os
import re
import struct
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from smat.workdir import write_text


def run_key(logdir: str) -> str:
    """This run's tracker key: read from `tracking.json`, or made and written there first."""
    path = os.path.join(logdir, "tracking.json")
    if os.path.isfile(path):
        with open(path) as f:
            return json.load(f)["run_key"]
    key = uuid.uuid4().hex[:16]
    write_text(path, json.dumps({"run_key": key}) + "\n")
    return key


def run_name(logdir: str) -> str:
    """The workdir as the user named it: relative to the current directory when inside it."""
    rel = os.path.relpath(logdir)
    return os.path.abspath(logdir) if rel.startswith("..") else rel


class _Tracker:
    """What both trackers leave to TensorBoard (texts, images) or to the tracker (flushing)."""

    def write_texts(self, step: int, texts: Mapping[str, str]) -> None:
        pass

    def write_images(self, step: int, images: Mapping[str, Any]) -> None:
        pass

    def flush(self) -> None:
        pass  # W&B streams as it logs; MLflow stores each log_batch when it returns


class WandbWriter(_Tracker):
    """Scalars as W&B history at smat's step, the HParams fields as the run's config and the
    final metrics in its summary. Files go under `<logdir>/wandb` (offline runs there are
    uploaded later with `wandb sync`). Texts and images are left to TensorBoard."""

    def __init__(self, logdir: str, settings: Any, hparams: Mapping[str, Any]):
        import wandb

        key = run_key(logdir)
        self._held = max((step for step, _ in wandb_history(logdir, key)), default=-1)
        self._run = wandb.init(
            project=settings.project,
            entity=settings.wandb_entity or None,
            mode=settings.wandb_mode or None,
            id=key,
            name=run_name(logdir),
            dir=logdir,
            resume="allow",
            config=dict(hparams),
            settings=wandb.Settings(console="off", silent=True),
        )

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        if step > self._held:
            self._run.log({k: float(v) for k, v in scalars.items()}, step=step)

    def write_hparams(self, step, hparams, metrics):
        self.write_scalars(step, metrics)
        self._run.summary.update({k: float(v) for k, v in metrics.items()})

    def close(self):
        import wandb

        self._run.finish()
        # finish() returns before W&B's service has written the run's files; a run resumed in
        # this process must read them whole.
        wandb.teardown()


def wandb_history(logdir: str, key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(step, values) of every history row W&B recorded for run `key` under `logdir`, from
    the transaction logs (`run-<key>.wandb`) each start of the run leaves, online or offline.

    The files are LevelDB-style logs (32 KiB blocks of records with a 7-byte header: crc,
    length, type) after a 7-byte W&B header, each record a `wandb_internal_pb2.Record`; W&B
    ships no Python reader. A record torn by a kill ends the file's history.
    """
    from wandb.proto import wandb_internal_pb2

    # One folder per start, `<mode>-run-<time>-<key>` (a "-N" suffix when a start in the
    # same second found it taken); in the order they were written.
    paths = glob.glob(os.path.join(logdir, "wandb", f"*-{key}*", f"run-{key}.wandb"))
    for path in sorted(paths, key=os.path.getmtime):
        for raw in _log_records(path):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(raw)
            if record.WhichOneof("record_type") != "history":
                continue
            row = {
                item.key or "/".join(item.nested_key): json.loads(item.value_json)
                for item in record.history.item
            }
            yield int(row.pop("_step")), row


_BLOCK, _HEADER = 32768, 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def _log_records(path: str) -> Iterator[bytes]:
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(b":W&B"):
        return
    pos, parts = _HEADER, b""
    while True:
        left = _BLOCK - pos % _BLOCK
        if left < _HEADER:  # a block's tail too short for a header is padding
            pos += left
            continue
        if pos + _HEADER > len(data):
            return
        _, length, kind = struct.unpack("<IHB", data[pos : pos + _HEADER])
        body = data[pos + _HEADER : pos + _HEADER + length]
        if kind == 0 or len(body) < length:
            return
        pos += _HEADER + length
        parts = body if kind in (_FULL, _FIRST) else parts + body
        if kind in (_FULL, _LAST):
            yield parts


class MlflowWriter(_Tracker):
    """Scalars as MLflow metrics at smat's step (names made MLflow-safe), the HParams fields
    as the run's params (set when it is made: MLflow refuses to change a param), in the
    experiment `logging.project` of `logging.mlflow_tracking_uri` (empty: MLflow's own
    default, `MLFLOW_TRACKING_URI` or ./mlflow.db). Texts and images are left to TensorBoard."""

    def __init__(self, logdir: str, settings: Any, hparams: Mapping[str, Any]):
        from mlflow import MlflowClient

        self._client = client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri or None)
        key = run_key(logdir)
        experiment = client.get_experiment_by_name(settings.project)
        experiment_id = (
            experiment.experiment_id
            if experiment is not None
            else client.create_experiment(settings.project)
        )
        found = client.search_runs(
            [experiment_id], filter_string=f"tags.`smat.run_key` = '{key}'", max_results=1
        )
        if found:
            self._run_id = found[0].info.run_id
            client.update_run(self._run_id, status="RUNNING")
            self._held = {
                name: max(m.step for m in client.get_metric_history(self._run_id, name))
                for name in found[0].data.metrics
            }
        else:
            tags = {"smat.run_key": key, "smat.workdir": os.path.abspath(logdir)}
            run = client.create_run(experiment_id, run_name=run_name(logdir), tags=tags)
            self._run_id, self._held = run.info.run_id, {}
            from mlflow.entities import Param

            params = [Param(k, str(v)) for k, v in hparams.items()]
            client.log_batch(self._run_id, params=params)

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [
            Metric(name, float(value), now, step)
            for name, value in ((mlflow_name(k), v) for k, v in scalars.items())
            if step > self._held.get(name, -1)
        ]
        if metrics:
            self._client.log_batch(self._run_id, metrics=metrics)

    def write_hparams(self, step, hparams, metrics):
        self.write_scalars(step, metrics)

    def close(self):
        self._client.set_terminated(self._run_id)


def mlflow_name(name: str) -> str:
    """`name` in the characters MLflow allows in a metric name (others become "_")."""
    return re.sub(r"[^\w\-. /]", "_", name)

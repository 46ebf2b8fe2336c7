"""A frozen teacher for the student setups: trained on demand, loaded, outputs cached.

The teacher's logits and explainer features are deterministic (no dropout), so they are
computed once per example and stored next to the student's data; no training step runs a
teacher forward pass.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np

from smat import checkpointing, models, sharding
from smat import config as config_lib
from smat import data as data_lib
from smat import workdir as workdir_lib
from smat.errors import ConfigError

WAIT_S = 10.0  # how often a student polls a teacher another process is training


@dataclasses.dataclass(frozen=True)
class Teacher:
    """A frozen teacher: a model (see `smat.models.protocol`) and its trained params."""

    model: models.BuiltModel
    params: Any


# Data fields a student must share with its teacher: same examples, same tokens.
SHARED_DATA_FIELDS = (
    "name",
    "source",
    "text_column",
    "label_column",
    "pair_column",
    "max_length",
    "split",
)


def config_for(student: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The `teacher` section of a student config, with the student's data fields
    (SHARED_DATA_FIELDS): `--config.data.source=...` on a student run reaches the teacher it
    trains, since both must see the same examples."""
    t = student.teacher.copy_and_resolve_references()
    with t.unlocked():
        for field in SHARED_DATA_FIELDS:
            t.data[field] = student.data[field]
    return t


def ensure_trained(student_config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
    """Trains (or resumes) the teacher of a student config in `workdir` unless it has
    finished (see `config_for`); returns its summary."""
    from smat.trainers.no_teacher import NoTeacherTrainer

    summary_path = os.path.join(workdir, "summary.json")
    waiting = False
    while not os.path.isfile(summary_path):
        busy = workdir_lib.holder(workdir)
        if busy is None:
            if jax.process_index() == 0:
                print(f"no finished teacher in {workdir}: training it first", flush=True)
            try:
                return NoTeacherTrainer(config_for(student_config), workdir).fit()
            except workdir_lib.WorkdirBusy:  # another process took it in the meantime
                continue
        # Another run (a second sweep on the same root) is training this teacher: use it.
        if not waiting:
            print(
                f"the teacher in {workdir} is being trained by {workdir_lib.describe(busy)}; "
                "waiting for it",
                flush=True,
            )
            waiting = True
        time.sleep(WAIT_S)
    return checkpointing.read_json(summary_path)


def check_same_data(student: ml_collections.ConfigDict, teacher: dict[str, Any], where: str):
    """Raises ConfigError unless the student's data fields equal the teacher's."""
    for field in SHARED_DATA_FIELDS:
        mine = student.data[field]
        mine = mine.to_dict() if hasattr(mine, "to_dict") else mine
        # Teachers trained before a field existed ran with its default.
        theirs = teacher["data"].get(field, config_lib.base().data[field])
        if mine != theirs:
            raise ConfigError(
                f"data.{field}={mine!r} differs from the teacher's ({theirs!r}, in {where}); "
                "students must see the teacher's examples and tokens: set "
                f"--config.data.{field} to the teacher's value"
            )


def outputs(apply_fn, explainer, params, batch):
    """The teacher's logits and explainer features (None without an explainer) on a batch."""
    out = apply_fn({"params": params}, *data_lib.model_inputs(batch))
    if explainer is None:
        return out.logits, None
    return out.logits, explainer.compute(apply_fn, params, batch, out)


def cache_outputs(
    dataset: data_lib.ArrayDataset,
    apply_fn,
    params,
    explainer,
    batch_size: int,
    mesh,
) -> data_lib.ArrayDataset:
    """The dataset plus `teacher_logits` (and `teacher_features` if `explainer` is given)."""
    step = jax.jit(
        functools.partial(outputs, apply_fn, explainer), out_shardings=sharding.replicated(mesh)
    )
    logits, features = [], []
    for batch in data_lib.eval_batches(dataset, batch_size):
        lg, ft = step(params, sharding.put_batch(batch, mesh))
        logits.append(np.asarray(lg))
        if ft is not None:
            features.append(np.asarray(ft))
    arrays = dict(dataset.arrays)
    arrays["teacher_logits"] = np.concatenate(logits)[: len(dataset)]
    if features:
        arrays["teacher_features"] = np.concatenate(features)[: len(dataset)]
    return data_lib.ArrayDataset(arrays)

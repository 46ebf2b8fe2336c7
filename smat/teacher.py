"""A frozen teacher for the student setups: loaded, outputs cached (trained on demand by
`smat.trainers.on_demand`).

The teacher's logits and explainer features are deterministic (no dropout), so they are
computed once per example and stored next to the student's data; no training step runs a
teacher forward pass. A finished teacher also keeps them on disk (`<teacher>/outputs/`), so the
students of a sweep share one forward pass per example instead of one per student.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import zipfile
from typing import Any

import jax
import ml_collections
import numpy as np

from smat import config as config_lib
from smat import data as data_lib
from smat import models, sharding
from smat.errors import ConfigError

OUTPUTS = "outputs"  # in a teacher's workdir: its cached logits and explainer features


@dataclasses.dataclass(frozen=True)
class Teacher:
    """A frozen teacher: a model (see `smat.models.protocol`) and its trained params."""

    model: models.BuiltModel
    params: Any


def check_same_data(student: ml_collections.ConfigDict, teacher: dict[str, Any], where: str):
    """Raises ConfigError unless the student's data fields equal the teacher's."""
    for field in config_lib.SHARED_DATA_FIELDS:
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


def store_key(dataset: data_lib.ArrayDataset, explainer, batch_size: int, mesh) -> str:
    """What a teacher's cached outputs depend on besides its params: the examples, the
    explainer (its fields), and what can change the floating-point result (batch size, devices,
    JAX version)."""
    h = hashlib.sha256()
    for name in sorted(dataset.arrays):
        a = np.ascontiguousarray(dataset.arrays[name])
        h.update(f"{name}:{a.dtype}:{a.shape}".encode())
        h.update(a.tobytes())
    setting = (repr(explainer), batch_size, mesh.devices.shape, jax.__version__, jax.devices()[0])
    h.update(repr(setting).encode())
    return h.hexdigest()[:32]


def _read_store(path: str) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:  # damaged: recompute
        print(f"teacher outputs {path} unreadable ({e}); computing them again", flush=True)
        return None


def _write_store(path: str, arrays: dict[str, np.ndarray]) -> None:
    # Written beside and renamed: a killed writer or a concurrent student never leaves (or
    # reads) half a file. A failed write (full disk, read-only teacher) only loses the cache.
    tmp = f"{path}.{os.getpid()}.tmp.npz"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except OSError as e:
        print(f"could not keep the teacher outputs in {path} ({e}); continuing", flush=True)
        if os.path.exists(tmp):
            os.remove(tmp)


def cache_outputs(
    dataset: data_lib.ArrayDataset,
    apply_fn,
    params,
    explainer,
    batch_size: int,
    mesh,
    store: str | None = None,
) -> data_lib.ArrayDataset:
    """The dataset plus `teacher_logits` (and `teacher_features` if `explainer` is given).

    store: a folder (the teacher's `outputs/`) where they are kept under `store_key` and read
    back by later students: bit-identical to computing them again, since the key holds what
    the result depends on. None: computed every time (the Python API's in-memory teachers).
    """
    path = None
    if store is not None:
        path = os.path.join(store, store_key(dataset, explainer, batch_size, mesh) + ".npz")
        kept = _read_store(path)
        if kept is not None:
            return data_lib.ArrayDataset({**dataset.arrays, **kept})
    step = jax.jit(
        functools.partial(outputs, apply_fn, explainer), out_shardings=sharding.replicated(mesh)
    )
    logits, features = [], []
    for batch in data_lib.eval_batches(dataset, batch_size):
        lg, ft = step(params, sharding.put_batch(batch, mesh))
        logits.append(np.asarray(lg))
        if ft is not None:
            features.append(np.asarray(ft))
    outs = {"teacher_logits": np.concatenate(logits)[: len(dataset)]}
    if features:
        outs["teacher_features"] = np.concatenate(features)[: len(dataset)]
    if path is not None and jax.process_index() == 0:
        _write_store(path, outs)
    return data_lib.ArrayDataset({**dataset.arrays, **outs})

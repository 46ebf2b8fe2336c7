"""Reuse a learned explainer: a finished SMAT run's head weights as a fixed teacher explainer.

`--config.teacher_explainer.from_run=DIR` (setup static_teacher) trains fresh students with the
explainer a SMAT run in DIR learned, frozen: this separates "the learned explanation teaches
better" from "co-training helped that one student". The weights are those of the run's best
step (`teacher_head_weights.npy`), used as they are (the mixing weights after the run's
head normalizer), so the explanations equal the run's learned explainer's. A `.npy` file of
[layers, heads] weights (non-negative, summing to 1) gives a hand-made fixed mix instead, e.g.
a few heads chosen by some criterion. `teacher_explainer.top_k=k` keeps the k largest weights
of either, renormalised.
"""

from __future__ import annotations

import os

import ml_collections
import numpy as np

from smat import checkpointing
from smat import config as config_lib
from smat.errors import ConfigError

WEIGHTS = "teacher_head_weights.npy"
SELECTION = "selection.json"  # in an exported choice (`select`): what was chosen and why
# Explainer fields that decide what the weights mix: they must equal the run's.
SAME_FIELDS = ("layer", "head", "query", "token_norm")


def load_weights(c: ml_collections.ConfigDict, teacher_workdir: str | None) -> np.ndarray:
    """The [layers, heads] weights of the run `c.teacher_explainer.from_run` (its `top_k`
    largest, renormalised, if set), after checking that it is a finished SMAT run of the same
    teacher and explainer; raises ConfigError."""
    where = f"teacher_explainer.from_run={c.teacher_explainer.from_run!r}"
    return top_k(_load(c, teacher_workdir, where), c.teacher_explainer.top_k, where)


def top_k(weights: np.ndarray, k: int, where: str = "weights") -> np.ndarray:
    """The k largest weights (ties: the first in layer-major order), the rest 0, summing to 1;
    k = 0: the weights as they are."""
    if not k:
        return weights
    flat = weights.ravel()
    if k > int(np.count_nonzero(flat)):
        raise ConfigError(
            f"{where}: teacher_explainer.top_k={k} but only {np.count_nonzero(flat)} heads have "
            "a weight > 0; lower top_k"
        )
    keep = np.argsort(-flat, kind="stable")[:k]
    out = np.zeros_like(flat)
    out[keep] = flat[keep] / flat[keep].sum()
    return out.reshape(weights.shape)


def _finished_smat_run(run: str, where: str) -> tuple[dict, dict]:
    """(config, summary) of a finished SMAT run's workdir; raises ConfigError."""
    if not os.path.isdir(run):
        raise ConfigError(f"{where}: no such folder; give the workdir of a finished SMAT run")
    summary_path = os.path.join(run, "summary.json")
    if not os.path.isfile(summary_path):
        raise ConfigError(
            f"{where}: the run has not finished (no summary.json); finish it first by running "
            "its command again"
        )
    summary = checkpointing.read_json(summary_path)
    config = checkpointing.read_json(os.path.join(run, "config.json"))
    if config.get("setup") != "learnable_teacher" or not os.path.isfile(os.path.join(run, WEIGHTS)):
        raise ConfigError(
            f"{where}: not a SMAT run (setup {config.get('setup')!r}, no {WEIGHTS}); give the "
            "workdir of a learnable_teacher run"
        )
    return config, summary


def _load(c: ml_collections.ConfigDict, teacher_workdir: str | None, where: str) -> np.ndarray:
    run = os.path.abspath(os.path.expanduser(c.teacher_explainer.from_run))
    if run.endswith(".npy"):
        return _weights_file(run, where)
    config, summary = _finished_smat_run(run, where)
    theirs = config["teacher_explainer"]
    differ = [
        f"{f}: {c.teacher_explainer[f]!r} here, {theirs.get(f)!r} in the run"
        for f in SAME_FIELDS
        if c.teacher_explainer[f] != theirs.get(f)
    ]
    if differ:
        raise ConfigError(
            f"{where}: the run's explainer differs ({'; '.join(differ)}); set "
            "teacher_explainer.* to the run's values"
        )
    if teacher_workdir is not None:
        _check_same_teacher(where, teacher_workdir, summary.get("teacher_workdir"))
    return np.load(os.path.join(run, WEIGHTS)).astype(np.float32)


def _weights_file(path: str, where: str) -> np.ndarray:
    """Hand-made weights: a [layers, heads] .npy file of non-negative weights summing to 1."""
    if not os.path.isfile(path):
        raise ConfigError(f"{where}: no such file")
    try:
        w = np.load(path).astype(np.float32)
    except (OSError, ValueError) as e:
        raise ConfigError(f"{where}: not a readable .npy file ({e})") from None
    if w.ndim != 2 or np.any(w < 0) or abs(float(w.sum()) - 1) > 1e-4:
        raise ConfigError(
            f"{where}: expected [layers, heads] non-negative weights summing to 1, got shape "
            f"{w.shape}, sum {float(w.sum()):.4g}"
        )
    return w


def _check_same_teacher(where: str, mine: str, theirs: str | None) -> None:
    """The same teacher folder, or teachers trained with the same config (a moved folder)."""
    if theirs is None or os.path.abspath(mine) == os.path.abspath(theirs):
        return
    configs = [os.path.join(d, "config.json") for d in (mine, theirs)]
    if all(os.path.isfile(p) for p in configs):
        a, b = (checkpointing.read_json(p) for p in configs)
        if not config_lib.diff(a, b):
            return
    raise ConfigError(
        f"{where}: the run learned its explainer for another teacher ({theirs}, here {mine}); "
        "head weights only mean something for the teacher they were learned on: use the run's "
        "teacher_workdir"
    )


def select(runs: list[str], out: str, monitor: str = "val/simulability") -> dict:
    """Chooses among finished SMAT runs of one teacher and explainer the one with the highest
    best validation value of `monitor` (what selected each run's checkpoint; for a run of
    several students, their mean), and exports its learned explainer, frozen, into `out` in
    the form `teacher_explainer.from_run` reads: the run's config.json, summary.json and head
    weights, plus `selection.json` (every candidate's value, the choice, the rule). Raises
    ConfigError, before writing anything, if a run is unfinished, not SMAT, or learned for
    another teacher or explainer."""
    if not runs:
        raise ConfigError("give the workdirs of two or more finished SMAT runs to choose from")
    candidates = []
    for run in runs:
        run = os.path.abspath(os.path.expanduser(run))
        config, summary = _finished_smat_run(run, run)
        value = summary.get(f"best_{monitor}")
        if value is None:
            raise ConfigError(f"{run}: its summary has no best_{monitor}; choose another monitor")
        candidates.append({"run": run, "value": float(value), "config": config, "summary": summary})
    first = candidates[0]
    for c in candidates[1:]:
        differ = [
            f
            for f in SAME_FIELDS
            if c["config"]["teacher_explainer"].get(f)
            != first["config"]["teacher_explainer"].get(f)
        ]
        if differ:
            raise ConfigError(
                f"{c['run']}: its explainer differs from {first['run']}'s in {', '.join(differ)}: "
                "choose among runs of one explainer"
            )
        mine, theirs = (x["summary"].get("teacher_workdir") for x in (first, c))
        if mine and theirs:  # runs of the Python API name no teacher folder
            _check_same_teacher(c["run"], mine, theirs)
    chosen = max(candidates, key=lambda c: c["value"])  # ties: the first given
    os.makedirs(out, exist_ok=True)
    weights = np.load(os.path.join(chosen["run"], WEIGHTS))
    np.save(os.path.join(out, WEIGHTS), weights)
    checkpointing.write_json(os.path.join(out, "config.json"), chosen["config"])
    checkpointing.write_json(
        os.path.join(out, "summary.json"), {**chosen["summary"], "selected_from": chosen["run"]}
    )
    record = {
        "rule": f"highest best {monitor} (validation; never test)",
        "chosen": chosen["run"],
        "value": chosen["value"],
        "candidates": [{"run": c["run"], "value": c["value"]} for c in candidates],
        "head_weights": weights.tolist(),
    }
    checkpointing.write_json(os.path.join(out, SELECTION), record)
    return record


def check_shape(weights: np.ndarray, shape: tuple[int, ...], from_run: str) -> None:
    """Raises ConfigError unless the run's weights fit this teacher's [layers, heads]."""
    if tuple(weights.shape) != tuple(shape):
        raise ConfigError(
            f"teacher_explainer.from_run={from_run!r}: the run's explainer mixes "
            f"{weights.shape[0]} layers x {weights.shape[1]} heads, this teacher has "
            f"{shape[0]} x {shape[1]}: give a run of this teacher"
        )

"""What a report reads per cell, from a sweep root or from a committed archive of it.

A sweep root (`smat.sweep --root`) holds `sweep.json` and one workdir per cell; the report reads
each cell's `test_predictions.npz`, `config.json`, `summary.json` and learned head weights. An
archive (`write_archive`, what `smat.report --archive DIR` writes) holds exactly those, for the
cells of one report, in two files: `predictions.json` (cells, labels, status, the config fields
and summaries the report uses) and `predictions.npz` (the test sets and every cell's student
outputs, compressed; for classification only the predicted classes: all that the report reads
of the logits). `smat.report DIR` on an archive recomputes the same report, so a committed
study stays recomputable from the repository after its runs are gone.

A folder with only a `cells.csv` (what every report writes, one row per cell) is read as a last
resort, for studies whose runs and predictions are lost: each cell's test and validation values
are there, so the seed-level statistics can be recomputed, but nothing example-level.
"""

from __future__ import annotations

import csv
import dataclasses
import fnmatch
import os
from typing import Any

import numpy as np

from smat import checkpointing
from smat import config as config_lib
from smat import workdir as workdir_lib
from smat.sweeps.manifest import read_manifest
from smat.sweeps.spec import FAILED

ARCHIVE = "predictions.json"
ARRAYS = "predictions.npz"
CELLS_CSV = "cells.csv"
CELLS_DIR = "/cells/"  # a sweep root's cells are `<root>/cells/<name>`
RESTORED = "restored.json"  # in a workdir put back from an archive (smat.reporting.restore)
MONITOR = "val/simulability"
# The config fields a report reads (besides `config.HPARAMS`, which cells.csv lists).
CONFIG_FIELDS = (
    "task",
    "setup",
    "teacher_explainer.from_run",
    "train.monitor",
    "meta.num_students",
)


@dataclasses.dataclass
class Cell:
    """One cell as the report sees it. predictions: index, label, teacher_logits and
    student_logits ([examples(, outputs)], or [students, examples(, outputs)] for a run of
    several students); None without predictions."""

    name: str
    labels: dict[str, Any]
    status: str
    config: dict[str, Any]
    summary: dict[str, Any]
    hparams: dict[str, Any] = dataclasses.field(default_factory=dict)  # config.HPARAMS fields
    predictions: dict[str, np.ndarray] | None = None
    head_weights: np.ndarray | None = None
    restored: bool = False  # put back from an archive, its run gone (smat.reporting.restore)

    def field(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.config
        for key in dotted.split("."):
            node = node.get(key) if isinstance(node, dict) else None
            if node is None:
                return default
        return node

    @property
    def kind(self) -> str:
        """ "static", "learned" (SMAT), "transfer" (from_run weights) or a label's "kind"
        (e.g. "derived": a fixed explainer picked from what SMAT learned)."""
        if self.labels.get("kind"):
            return self.labels["kind"]
        if self.field("setup") == "learnable_teacher":
            return "learned"
        return "transfer" if self.field("teacher_explainer.from_run") else "static"


def source_cell(from_run: str) -> str | None:
    """The cell a `teacher_explainer.from_run` workdir `<root>/cells/<name>` is (None: a run
    outside a sweep), whatever the root."""
    return from_run.split(CELLS_DIR)[-1] if CELLS_DIR in from_run else None


def status(workdir: str) -> str:
    """Why a cell has or lacks predictions: finished, running (by whom), failed (its error),
    interrupted at step N, started (no checkpoint yet) or not started. An empty folder is not
    started: a sweep prepares every cell's folder before the first cell runs."""
    if workdir_lib.finished(workdir):
        return "finished"
    busy = workdir_lib.holder(workdir)
    if busy is not None:
        return f"running: {workdir_lib.describe(busy)}"
    failed = os.path.join(workdir, FAILED)
    if os.path.isfile(failed):
        error = checkpointing.read_json(failed)["error"].strip().splitlines()
        return f"failed: {error[-1] if error else '?'}"
    latest = os.path.join(workdir, "checkpoints", "latest")
    steps = [int(d) for d in os.listdir(latest) if d.isdigit()] if os.path.isdir(latest) else []
    if steps:
        return f"interrupted at step {max(steps)}"
    started = os.path.isdir(workdir) and os.listdir(workdir)
    return "started, no checkpoint yet" if started else "not started"


def _read_workdir(entry: dict[str, Any]) -> Cell:
    workdir = entry["workdir"]

    def optional_json(name):
        path = os.path.join(workdir, name)
        return checkpointing.read_json(path) if os.path.isfile(path) else None

    config = entry.get("config") or optional_json("config.json") or {}
    cell = Cell(
        entry["name"], entry["labels"], status(workdir), config, optional_json("summary.json") or {}
    )
    path = os.path.join(workdir, "test_predictions.npz")
    if os.path.isfile(path):
        with np.load(path) as z:
            cell.predictions = {k: z[k] for k in z.files}
        # The run's own config (what it ran with) over the manifest's copy.
        cell.config = optional_json("config.json") or config
    cell.hparams = config_lib.hparams(cell.config)
    cell.restored = os.path.isfile(os.path.join(workdir, RESTORED))
    path = os.path.join(workdir, "teacher_head_weights.npy")
    if os.path.isfile(path):
        cell.head_weights = np.load(path)
    return cell


def read(
    root: str, only: list[str] | None = None, explainers: list[str] | None = None
) -> tuple[list[Cell], list[dict[str, Any]]]:
    """The cells of a sweep root or archive, narrowed to names matching a glob of `only` and
    to the explainer labels in `explainers` (None: no filter), and the sweep invocations."""
    if os.path.isfile(os.path.join(root, ARCHIVE)):
        cells, invocations = _read_archive(root)
    elif not os.path.isfile(os.path.join(root, "sweep.json")) and os.path.isfile(
        os.path.join(root, CELLS_CSV)
    ):
        cells, invocations = _read_cells_csv(os.path.join(root, CELLS_CSV)), []
    else:
        manifest = read_manifest(root)
        cells, invocations = [_read_workdir(c) for c in manifest["cells"]], manifest["invocations"]
    if only:
        cells = [c for c in cells if any(fnmatch.fnmatch(c.name, p) for p in only)]
    if explainers:
        cells = [c for c in cells if c.labels["explainer"] in explainers]
    return cells, invocations


def _minimal_config(cell: Cell) -> dict[str, Any]:
    """The config fields the report reads (CONFIG_FIELDS), nested as in config.json."""
    out: dict[str, Any] = {}
    for dotted in CONFIG_FIELDS:
        node = cell.field(dotted)
        if node is not None:
            *parents, last = dotted.split(".")
            target = out
            for key in parents:
                target = target.setdefault(key, {})
            target[last] = node
    return out


def write_archive(cells: list[Cell], invocations: list[dict[str, Any]], out: str) -> None:
    """Writes what the report reads of `cells` into `out` (see the module docstring)."""
    os.makedirs(out, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    tests: list[dict[str, np.ndarray]] = []
    entries = []
    for i, cell in enumerate(cells):
        entry = {
            "name": cell.name,
            "labels": cell.labels,
            "status": cell.status,
            "config": _minimal_config(cell),
            "hparams": cell.hparams,
            "summary": cell.summary,
        }
        if cell.head_weights is not None:
            entry["head_weights"] = cell.head_weights.tolist()
        if cell.restored:
            entry["restored"] = True
        p = cell.predictions
        if p is not None:
            # Cells of one sweep share their test set: stored once.
            shared = ("index", "label", "teacher_logits")
            j = next(
                (j for j, t in enumerate(tests) if all(np.array_equal(t[k], p[k]) for k in shared)),
                None,
            )
            if j is None:
                j = len(tests)
                tests.append({k: p[k] for k in shared})
                arrays.update({f"test{j}.{k}": compact(cell, p[k]) for k in shared})
            arrays[f"cell{i}.student_logits"] = compact(cell, p["student_logits"])
            entry["test_set"] = j
        entries.append(entry)
    tmp = os.path.join(out, f"{ARRAYS}.tmp.{os.getpid()}")
    with open(tmp, "wb") as f:  # a file object: numpy adds no suffix
        np.savez_compressed(f, **arrays)
    os.replace(tmp, os.path.join(out, ARRAYS))  # atomic, as the JSON beside it
    checkpointing.write_json(
        os.path.join(out, ARCHIVE), {"invocations": invocations, "cells": entries}
    )


def compact(cell: Cell, logits: np.ndarray) -> np.ndarray:
    """Classification logits -> their one-hot argmax (int8; the report reads only the argmax)."""
    if cell.field("task", "classification") != "classification" or logits.dtype.kind != "f":
        return logits
    return np.eye(logits.shape[-1], dtype=np.int8)[logits.argmax(-1)]


def _read_archive(root: str) -> tuple[list[Cell], list[dict[str, Any]]]:
    record = checkpointing.read_json(os.path.join(root, ARCHIVE))
    cells = []
    with np.load(os.path.join(root, ARRAYS)) as z:
        for i, entry in enumerate(record["cells"]):
            cell = Cell(
                entry["name"],
                entry["labels"],
                entry["status"],
                entry["config"],
                entry["summary"],
                entry.get("hparams", {}),
                restored=entry.get("restored", False),
            )
            if "test_set" in entry:
                j = entry["test_set"]
                cell.predictions = {
                    k: z[f"test{j}.{k}"] for k in ("index", "label", "teacher_logits")
                }
                cell.predictions["student_logits"] = z[f"cell{i}.student_logits"]
            if "head_weights" in entry:
                cell.head_weights = np.asarray(entry["head_weights"])
            cells.append(cell)
    return cells, record["invocations"]


def _value(text: str) -> Any:
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(text, text)


def _read_cells_csv(path: str) -> list[Cell]:
    """Cells without predictions, from a report's cells.csv (labels, status, settings, the
    summary values it lists)."""
    cells = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            values = {k: _value(v) for k, v in row.items()}
            labels = {k[len("label.") :]: v for k, v in values.items() if k.startswith("label.")}
            hparams = {k: v for k, v in values.items() if k in config_lib.HPARAMS}
            summary = {
                k: v
                for k, v in values.items()
                if k not in hparams
                and k not in ("name", "status")
                and not k.startswith("label.")
                and v is not None
            }
            config = {
                "setup": hparams.get("setup"),
                "teacher_explainer": {"from_run": hparams.get("teacher_explainer.from_run") or ""},
            }
            cells.append(Cell(row["name"], labels, row["status"], config, summary, hparams))
    return cells

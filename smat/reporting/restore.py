"""Putting a report archive's finished cells back into a sweep root whose runs were lost.

A study that runs for days outlives machines. Its committed archive (`smat.report --archive`)
holds, per finished cell, what a report reads: summary, settings, test predictions (compact)
and learned head weights. `restore` writes those back as the cell's workdir in a new root, so
that the sweep skips the cell, a transfer cell reads its head weights (`teacher_explainer.
from_run=cell:NAME`) and the report counts it, while only the cells the archive lacks run
again. A restored workdir has no checkpoints (nothing can resume or evaluate from it); its
`restored.json` says where it came from, and the report says how many cells were restored.

Students are only comparable under one teacher, so the root must first re-run one archived cell
(`smat.sweep --only NAME`) with a new teacher that agrees with the archive's on the whole test
set. On the same code a re-run gives the same predictions: in the deep study the same 2,500
teacher and student test predictions and simulability, with losses moved in the 7th
significant digit (float order on another CPU).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from smat import checkpointing
from smat import config as config_lib
from smat import workdir as workdir_lib
from smat.reporting import cells as cells_lib
from smat.sweeps.spec import Sweep, cell_config, cell_dir


def restore(sweep: Sweep, root: str, archive: str) -> list[str]:
    """Restores into `root` every cell of `sweep` finished in `archive` but not in `root`;
    returns their names. Raises ValueError, before writing anything, if the root has no finished
    cell of its own to check the teacher with, if the teachers differ on the test set, or if an
    archived cell ran with other settings than the sweep's cell of that name."""
    archived, _ = cells_lib.read(archive)
    archived = {c.name: c for c in archived if c.status == "finished" and c.predictions}
    todo = [
        c for c in sweep.cells if c.name in archived and not workdir_lib.finished(cell_dir(root, c))
    ]
    if not todo:
        return []
    _check_teacher(root, archived)
    configs = {}
    for cell in todo:
        config = cell_config(cell, root)
        mine, theirs = config_lib.hparams(config), archived[cell.name].hparams
        differ = [k for k, v in theirs.items() if k in mine and not _same(k, mine[k], v)]
        if differ:
            raise ValueError(
                f"{cell.name}: the archive's run had other settings ({', '.join(differ)}); "
                "rename the cell or restore from its own study's archive"
            )
        configs[cell.name] = config_lib.to_dict(config)
    for cell in todo:
        _write(cell_dir(root, cell), archived[cell.name], configs[cell.name], archive)
    return [c.name for c in todo]


def _same(field: str, mine: Any, theirs: Any) -> bool:
    if field == "teacher_explainer.from_run" and mine and theirs:  # a cell, under either root
        return (cells_lib.source_cell(mine) or mine) == (cells_lib.source_cell(theirs) or theirs)
    return mine == theirs


def _check_teacher(root: str, archived: dict[str, cells_lib.Cell]) -> None:
    # Any cell of the root's own will do: the root's cells share its one teacher.
    ran = cells_lib.read(root)[0] if os.path.isfile(os.path.join(root, "sweep.json")) else []
    own = [c for c in ran if c.status == "finished" and c.predictions and not c.restored]
    if not own:
        raise ValueError(
            f"{root}: no finished cell of its own to check the teacher with; run one archived "
            "cell first (smat.sweep --only NAME), then restore"
        )
    mine, theirs = own[0], next(iter(archived.values()))
    a, b = (
        (c.predictions["index"], cells_lib.compact(c, c.predictions["teacher_logits"]))
        for c in (mine, theirs)
    )
    if not (np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])):
        raise ValueError(
            f"the root's teacher ({mine.name}) and the archive's differ on the test set: not the "
            "same teacher; re-run the archived cells on this root instead"
        )


def _write(workdir: str, cell: cells_lib.Cell, config: dict[str, Any], archive: str) -> None:
    os.makedirs(workdir, exist_ok=True)
    checkpointing.write_json(os.path.join(workdir, "config.json"), config)
    np.savez(os.path.join(workdir, "test_predictions.npz"), **cell.predictions)
    if cell.head_weights is not None:
        np.save(
            os.path.join(workdir, "teacher_head_weights.npy"),
            cell.head_weights.astype(np.float32),
        )
    record: dict[str, Any] = {"archive": os.path.abspath(archive), "name": cell.name}
    checkpointing.write_json(os.path.join(workdir, cells_lib.RESTORED), record)
    # Last: summary.json marks the run finished (workdir.finished).
    checkpointing.write_json(os.path.join(workdir, "summary.json"), cell.summary)

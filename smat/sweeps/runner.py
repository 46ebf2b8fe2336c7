"""Running a sweep's cells: the teacher once, then every cell (resumably, failures recorded);
or the commands that run them under another scheduler."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
import traceback
from typing import Any

from smat import checkpointing
from smat import workdir as workdir_lib
from smat.errors import CheckpointError
from smat.sweeps.spec import (
    FAILED,
    Cell,
    Sweep,
    cell_config,
    cell_dir,
    resolved_overrides,
    teacher_dir,
)
from smat.trainers import TRAINERS
from smat.trainers.lockstep import config_but_seed, fit_together
from smat.trainers.on_demand import ensure_trained


def commands(sweep: Sweep, root: str) -> list[str]:
    """One `python -m smat.main` command per cell, after the teacher's."""
    # The teacher is the `teacher` section of the first cell's config, trained in its own step
    # so that the cells (which all read it) can run in parallel afterwards.
    lines = [
        shlex.join(
            [
                sys.executable,
                "-c",
                _TEACHER_SNIPPET,
                sweep.cells[0].config,
                teacher_dir(root),
                json.dumps(sweep.cells[0].overrides),
            ]
        )
    ]
    for cell in sweep.cells:
        args = [
            sys.executable,
            "-m",
            "smat.main",
            f"--config={cell.config}",
            f"--workdir={cell_dir(root, cell)}",
            f"--config.teacher_workdir={teacher_dir(root)}",
        ]
        args += [
            f"--config.{k}={_flag_value(v)}" for k, v in resolved_overrides(cell, root).items()
        ]
        lines.append(shlex.join(args))
    return lines


_TEACHER_SNIPPET = (
    "import json, sys; from smat import config; from smat.trainers import on_demand; "
    "c = config.from_file(sys.argv[1]); "
    "config.override(c, json.loads(sys.argv[3])); on_demand.ensure_trained(c, sys.argv[2])"
)


def _flag_value(v: Any) -> str:
    return "None" if v is None else str(v)


def groups(cells: list[Cell], root: str, seeds_together: bool) -> list[list[Cell]]:
    """Cells trained at once: one by one, or (seeds_together) those that differ only in seed."""
    if not seeds_together:
        return [[c] for c in cells]

    groups: dict[str, list[Cell]] = {}
    for cell in cells:
        key = json.dumps(config_but_seed(cell_config(cell, root)), sort_keys=True, default=str)
        groups.setdefault(key, []).append(cell)
    return list(groups.values())


def run(sweep: Sweep, root: str, seeds_together: bool = False) -> dict[str, Any]:
    """Runs every cell (teacher first); returns {"finished", "failed", "busy", "interrupted"}
    (busy: cells another live process holds, left to it).

    seeds_together: train the cells that differ only in their seed in one compiled program
    (`smat.trainers.lockstep`), each still in its own workdir.
    """

    first = cell_config(sweep.cells[0], root)
    summary = ensure_trained(first, teacher_dir(root))
    if summary["status"] != "finished":
        return {"finished": [], "failed": [], "busy": [], "interrupted": "teacher"}
    finished, failed, busy, durations = [], [], [], []
    total, seen = len(sweep.cells), 0
    for group in groups(sweep.cells, root, seeds_together):
        seen += len(group)
        todo = [c for c in group if not workdir_lib.finished(cell_dir(root, c))]
        finished += [c.name for c in group if c not in todo]
        if not todo:
            continue
        left = total - seen + len(todo)
        eta = f", ETA {_duration(left * sum(durations) / len(durations))}" if durations else ""
        names = ", ".join(c.name for c in todo)
        print(
            f"\n[sweep] cell {seen - len(todo) + 1}/{total} {names}: {len(finished)} done, "
            f"{len(failed)} failed, {left} left{eta}",
            flush=True,
        )
        start = time.time()
        try:
            trainers = []
            for cell in todo:
                config = cell_config(cell, root)
                trainers.append(TRAINERS.get(config.setup)(config, cell_dir(root, cell)))
            results = fit_together(trainers)
        except KeyboardInterrupt:
            return {"finished": finished, "failed": failed, "busy": busy, "interrupted": names}
        except CheckpointError as e:  # a full disk fails every later cell too: stop here
            print(f"[sweep] cell {names}: {e}", flush=True)
            return {"finished": finished, "failed": failed, "busy": busy, "interrupted": names}
        except workdir_lib.WorkdirBusy as e:  # another sweep on this root is training it
            busy.append(names)
            print(f"[sweep] cell {names} skipped: {e}", flush=True)
            continue
        except Exception as e:  # a failed cell must not stop the sweep
            for cell in todo:
                failed.append({"cell": cell.name, "error": f"{type(e).__name__}: {e}"})
                # Kept for the report, which says why the cell has no predictions.
                os.makedirs(cell_dir(root, cell), exist_ok=True)
                checkpointing.write_json(
                    os.path.join(cell_dir(root, cell), FAILED), {"error": failed[-1]["error"]}
                )
            print(f"[sweep] cell {names} FAILED: {type(e).__name__}: {e}", flush=True)
            traceback.print_exc()
            continue
        if any(r["status"] != "finished" for r in results):
            return {"finished": finished, "failed": failed, "busy": busy, "interrupted": names}
        durations += [(time.time() - start) / len(todo)] * len(todo)
        for cell in todo:
            stale = os.path.join(cell_dir(root, cell), FAILED)
            if os.path.isfile(stale):
                os.remove(stale)
        finished += [c.name for c in todo]
    return {"finished": finished, "failed": failed, "busy": busy, "interrupted": None}


def _duration(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"

"""Running a sweep's cells in parallel jobs with submitit: `local` (processes on this machine,
`jobs` at a time) or `slurm` (an array job, `jobs` tasks at a time).

The teacher is trained first: in this process (local), or as a Slurm job of its own that the
array waits for (slurm: it needs the cluster's GPU as much as the cells); then each job runs one
cell (or, with seeds_together, one group of cells differing only in their seed) through
`runner.run`, so a job resumes, skips and records failures exactly as the inline runner does,
and the root's record (sweep.json, the cells' summaries, failed.json) is the same whichever ran
it. A job that dies without a word (killed, out of memory) has its error written to its cells'
failed.json, which the report shows. Job logs: `<root>/launcher/`.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
import time
from typing import Any

import submitit
from submitit.slurm.slurm import SlurmExecutor, _make_sbatch_string

from smat import checkpointing
from smat import workdir as workdir_lib
from smat.errors import ConfigError
from smat.sweeps import runner
from smat.sweeps.spec import FAILED, Sweep, cell_config, cell_dir, teacher_dir
from smat.trainers.on_demand import ensure_trained

LAUNCHERS = ("local", "slurm")


def slurm_parameters(items: dict[str, Any], jobs: int) -> dict[str, Any]:
    """submitit's Slurm parameters (`partition`, `time` in minutes, `gpus_per_node`, ...)
    with `array_parallelism=jobs`; one-line ConfigError naming an unknown one."""
    valid = SlurmExecutor._valid_parameters()
    unknown = sorted(set(items) - valid)
    if unknown:
        raise ConfigError(
            f"--slurm {', '.join(unknown)}: not a Slurm parameter of submitit; known: "
            f"{', '.join(sorted(valid))}"
        )
    return {"time": 60, **items, "array_parallelism": jobs}


def sbatch_script(root: str, parameters: dict[str, Any], num_jobs: int, teacher: bool) -> str:
    """The sbatch scripts the slurm launcher submits (a dry run): the teacher's job if
    `teacher` (not trained yet), then the array of `num_jobs` jobs."""
    folder = _log_folder(root)
    # What SlurmExecutor writes (it needs srun to be built, which a dry run may lack).
    command = shlex.join([sys.executable, "-u", "-m", "submitit.core._submit", folder])
    array = _make_sbatch_string(command=command, folder=folder, map_count=num_jobs, **parameters)
    if not teacher:
        return array
    single = {k: v for k, v in parameters.items() if k != "array_parallelism"}
    job = _make_sbatch_string(command=command, folder=folder, **single)
    return f"# 1. the teacher, first\n{job}\n# 2. the cells, when it has finished\n{array}"


def teacher_finished(root: str) -> bool:
    """Whether the sweep's shared teacher has finished training."""
    return workdir_lib.finished(teacher_dir(root))


def _log_folder(root: str) -> str:
    return os.path.join(root, "launcher", "%j")


def _run_group(sweep: Sweep, root: str, seeds_together: bool) -> dict[str, Any]:
    """A job: one cell or seed group, run by the inline runner (teacher already trained)."""
    return runner.run(sweep, root, seeds_together)


def launch(
    sweep: Sweep,
    root: str,
    launcher: str,
    jobs: int,
    seeds_together: bool = False,
    slurm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Runs the sweep's cells as submitit jobs; returns what `runner.run` returns."""
    if launcher not in LAUNCHERS:
        raise ConfigError(f"--launcher={launcher!r}; choose one of inline, {', '.join(LAUNCHERS)}")
    if jobs < 1:
        raise ConfigError(f"--jobs={jobs} must be >= 1")
    parameters = slurm_parameters(slurm or {}, jobs) if launcher == "slurm" else {}
    try:
        executor = submitit.AutoExecutor(folder=_log_folder(root), cluster=launcher)
    except RuntimeError as e:  # e.g. no srun: not on a Slurm cluster
        raise ConfigError(f"--launcher={launcher}: {e}") from None
    executor.update_parameters(**{f"slurm_{k}": v for k, v in parameters.items()})
    teacher = (cell_config(sweep.cells[0], root), teacher_dir(root))
    if launcher == "slurm" and not teacher_finished(root):
        job = executor.submit(ensure_trained, *teacher)
        print(f"[sweep] job {job.job_id}: the teacher", flush=True)
        summary = job.result()
    else:
        summary = ensure_trained(*teacher)
    if summary["status"] != "finished":
        return {"finished": [], "failed": [], "busy": [], "interrupted": "teacher"}
    groups = runner.groups(sweep.cells, root, seeds_together)
    done = [c.name for g in groups for c in g if _finished(root, c)]
    todo = [g for g in groups if not all(_finished(root, c) for c in g)]
    result = {"finished": done, "failed": [], "busy": [], "interrupted": None}
    if not todo:
        return result
    if launcher == "slurm":
        with executor.batch():  # one array job, `jobs` tasks at a time
            running = [
                (g, executor.submit(_run_group, _only(sweep, g), root, seeds_together))
                for g in todo
            ]
        for group, job in running:
            _collect(root, group, job, result)
        return result
    pending, running = list(todo), []
    while pending or running:
        while pending and len(running) < jobs:
            group = pending.pop(0)
            job = executor.submit(_run_group, _only(sweep, group), root, seeds_together)
            print(f"[sweep] job {job.job_id}: {', '.join(c.name for c in group)}", flush=True)
            running.append((group, job))
        time.sleep(0.5)
        for group, job in [r for r in running if r[1].done()]:
            running.remove((group, job))
            _collect(root, group, job, result)
    return result


def _only(sweep: Sweep, group) -> Sweep:
    return dataclasses.replace(sweep, cells=list(group))


def _finished(root: str, cell) -> bool:
    return workdir_lib.finished(cell_dir(root, cell))


def _collect(root: str, group, job, result: dict[str, Any]) -> None:
    """Merges a finished job's result; a job that died records its error in its cells."""
    try:
        got = job.result()
    except Exception as e:  # the job died (killed, out of memory, a broken environment)
        error = f"job {job.job_id} failed: {str(e).strip().splitlines()[-1] if str(e) else e}"
        for cell in group:
            if not _finished(root, cell):
                folder = cell_dir(root, cell)
                os.makedirs(folder, exist_ok=True)
                checkpointing.write_json(os.path.join(folder, FAILED), {"error": error})
                result["failed"].append({"cell": cell.name, "error": error})
        return
    for key in ("finished", "failed", "busy"):
        result[key] += got[key]
    if got["interrupted"]:
        result["interrupted"] = got["interrupted"]

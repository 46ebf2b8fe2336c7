"""Run a grid of student runs (a sweep) that share one teacher, resumably, in one command.

  python -m smat.sweep experiments/imdb_paper.py --root runs/imdb_paper --variant cpu
  python -m smat.sweep experiments/imdb_paper.py --root runs/imdb_paper --print-commands

A sweep file defines `get_sweep(variant) -> Sweep`. The runner trains the shared teacher once
(in `<root>/teacher`), then every cell in order, each in `<root>/cells/<name>`; started again it
skips finished cells and resumes interrupted ones (the trainers' own checkpoint/resume). A cell
that fails is reported and the sweep goes on. `--print-commands` prints one `smat.main` command
per cell instead (teacher first), for any scheduler (e.g. Slurm array jobs); aggregate the
results afterwards with `python -m smat.report <root>`. `--only 'n500/smat/*'` runs (or prints)
a subset of the cells; `--set data.source=/data/mlqe` sets a field in every cell and the teacher;
`--seeds-together` trains each cell's seeds in one compiled program (vmapped over the seeds).
`--restore ARCHIVE` first puts back the finished cells of a committed report archive, for a
study whose runs were lost with their machine (smat/reporting/restore.py says how the teacher
is checked); the sweep then runs only the rest.

The library is smat/sweeps/ (spec, manifest, runner); this module is its command line and
re-exports what sweep files import (`from smat.sweep import Cell, Sweep, explainer_grid,
paper_explainers`).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import fnmatch
import sys
import time
from typing import Any

from smat import config as config_lib
from smat.reporting.restore import restore
from smat.sweeps import launchers

# Re-exported for sweep files and scripts (`from smat.sweep import Cell, Sweep`).
from smat.sweeps.manifest import manifest_cells, read_manifest, write_manifest  # noqa: F401
from smat.sweeps.runner import _duration, commands, groups, run  # noqa: F401
from smat.sweeps.spec import (  # noqa: F401
    CELL_REF,
    FAILED,
    Cell,
    Sweep,
    cell_config,
    cell_dir,
    explainer_grid,
    load_sweep,
    paper_explainers,
    resolved_overrides,
    teacher_dir,
)


def _parse_sets(items: list[str]) -> dict[str, Any]:
    """`["a.b=1", "c=/x"]` -> {"a.b": 1, "c": "/x"} (Python literals, else strings)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected FIELD=VALUE")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m smat.sweep", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("sweep_file", help="a Python file with get_sweep(variant)")
    parser.add_argument("--root", required=True, help="folder of the teacher and the cells")
    parser.add_argument("--variant", default="cpu", help="passed to get_sweep (default: cpu)")
    parser.add_argument(
        "--print-commands", action="store_true", help="print one command per cell, run nothing"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="GLOB",
        help="run only the cells whose name matches (e.g. 'n500/smat/*'; repeat for more)",
    )
    parser.add_argument(
        "--seeds-together",
        action="store_true",
        help="train the cells that differ only in their seed in one compiled program (vmap)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="set a config field in every cell and the teacher (e.g. data.source=/data/mlqe)",
    )
    parser.add_argument(
        "--launcher",
        default="inline",
        choices=("inline", "local", "slurm"),
        help="inline: cells one after another in this process (default); local: submitit jobs "
        "on this machine, --jobs at a time; slurm: one Slurm array job, --jobs tasks at a time",
    )
    parser.add_argument("--jobs", type=int, default=2, help="parallel jobs (local, slurm)")
    parser.add_argument(
        "--slurm",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a submitit Slurm parameter, e.g. partition=gpu, time=120 (minutes), "
        "gpus_per_node=1, cpus_per_task=8, mem=32G, account=lab (repeat for more)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="with --launcher=slurm: print the sbatch script of the array job, submit nothing",
    )
    parser.add_argument(
        "--restore",
        metavar="ARCHIVE",
        help="first put back the finished cells of this report archive (smat.report --archive) "
        "that the root lacks; the root must have re-run one of them (--only NAME) to check "
        "its teacher",
    )
    args = parser.parse_args(argv)
    from smat.errors import ConfigError

    try:
        overrides = _parse_sets(args.set)
        sweep = load_sweep(args.sweep_file, args.variant, overrides)
        for cell in sweep.cells:  # every cell's config is checked before anything runs
            config_lib.validate(cell_config(cell, args.root))
        write_manifest(sweep, args.root, args.sweep_file, args.variant, overrides)
        if args.restore:
            restored = restore(sweep, args.root, args.restore)
            print(f"[sweep] restored {len(restored)} cells from {args.restore}", flush=True)
    except (ConfigError, FileNotFoundError, ValueError) as e:
        print(f"sweep error: {e}", file=sys.stderr)
        return 2
    if args.only:
        # The manifest keeps every cell, so the report lists the others as not run.
        cells = [c for c in sweep.cells if any(fnmatch.fnmatch(c.name, p) for p in args.only)]
        if not cells:
            print(f"sweep error: no cell matches {args.only}", file=sys.stderr)
            return 2
        sweep = dataclasses.replace(sweep, cells=cells)
    if args.print_commands:
        print("\n".join(commands(sweep, args.root)))
        return 0
    start = time.time()
    try:
        if args.dry_run:
            if args.launcher != "slurm":
                raise ConfigError("--dry-run shows the Slurm array job: add --launcher=slurm")
            parameters = launchers.slurm_parameters(_parse_sets(args.slurm), args.jobs)
            num = len(groups(sweep.cells, args.root, args.seeds_together))
            teacher = not launchers.teacher_finished(args.root)
            print(launchers.sbatch_script(args.root, parameters, num, teacher))
            return 0
        if args.launcher == "inline":
            result = run(sweep, args.root, args.seeds_together)
        else:
            result = launchers.launch(
                sweep,
                args.root,
                args.launcher,
                args.jobs,
                args.seeds_together,
                _parse_sets(args.slurm),
            )
    except (ConfigError, ValueError) as e:
        print(f"sweep error: {e}", file=sys.stderr)
        return 2
    done, failed = result["finished"], result["failed"]
    print(
        f"\n[sweep] {len(done)}/{len(sweep.cells)} cells finished, {len(failed)} failed, "
        f"{_duration(time.time() - start)} in this invocation",
        flush=True,
    )
    for f in failed:
        print(f"[sweep] FAILED {f['cell']}: {f['error']}", flush=True)
    for names in result["busy"]:
        print(f"[sweep] left to the process training it: {names}", flush=True)
    if result["interrupted"]:
        print(f"[sweep] interrupted at {result['interrupted']}: run again to resume", flush=True)
        return 130
    print(f"[sweep] report: python -m smat.report {args.root}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

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
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import fnmatch
import importlib.util
import json
import os
import shlex
import sys
import time
import traceback
from typing import Any

from smat import checkpointing
from smat import config as config_lib
from smat import workdir as workdir_lib
from smat.errors import CheckpointError


@dataclasses.dataclass(frozen=True)
class Cell:
    """One student run.

    Attributes:
      name: unique, path-like ("smat/n500/seed0"): the cell's workdir is `<root>/cells/<name>`.
      config: a config spec, `path/to/config.py[:variant]` (relative to the sweep file).
      overrides: config fields to set, {"dotted.field": value}.
      labels: what the report groups by: "explainer", "num_examples", "seed"; optional
        "kind" overrides the kind the report reads from the config (e.g. "derived").
    """

    name: str
    config: str
    overrides: dict[str, Any]
    labels: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Sweep:
    """Cells sharing one teacher (the `teacher` section of the first cell's config)."""

    cells: list[Cell]
    description: str = ""


def explainer_grid(
    explainers: dict[str, tuple[str, dict[str, Any]]],
    grids: dict[str, tuple[str, tuple[int, ...], tuple[int, ...], tuple[str, ...]]],
    variant: str,
    description: str = "",
) -> Sweep:
    """The usual grid: explainer x student size x seed.

    Args:
      explainers: label -> (config spec relative to the sweep file, without the variant;
        overrides).
      grids: sweep variant -> (config variant, student sizes, seeds, explainer labels).
      variant: the sweep variant to build.
    """
    if variant not in grids:
        raise ValueError(f"unknown variant {variant!r}; known: {', '.join(grids)}")
    config_variant, sizes, seeds, labels = grids[variant]
    cells = []
    for n in sizes:
        for label in labels:
            config_file, overrides = explainers[label]
            for seed in seeds:
                cells.append(
                    Cell(
                        name=f"n{n}/{label}/seed{seed}",
                        config=f"{config_file}:{config_variant}",
                        overrides={**overrides, "num_examples": float(n), "seed": seed},
                        labels={"explainer": label, "num_examples": n, "seed": seed},
                    )
                )
    return Sweep(cells=cells, description=description)


def load_sweep(path: str, variant: str, overrides: dict[str, Any] | None = None) -> Sweep:
    """Calls `get_sweep(variant)` of a sweep file; config paths become absolute.

    `overrides` ({"data.source": ...}) are set in every cell (and so in the teacher it trains);
    a field the grid itself varies cannot be overridden.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no sweep file {path!r}")
    sweep = _call_sweep_file(path, variant)
    here = os.path.dirname(os.path.abspath(path))
    names = [c.name for c in sweep.cells]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: cell names repeat")
    for i, c in enumerate(sweep.cells):
        for k, v in c.overrides.items():
            ref = isinstance(v, str) and v.startswith(CELL_REF)
            if ref and v[len(CELL_REF) :] not in names[:i]:
                raise ValueError(
                    f"{path}: cell {c.name} sets {k}={v!r}, which names no earlier cell"
                )
    overrides = overrides or {}
    clash = sorted({k for c in sweep.cells for k in c.overrides} & set(overrides))
    if clash:
        raise ValueError(f"--set {clash} would overwrite what the sweep's grid varies")
    cells = [
        dataclasses.replace(
            c,
            config=os.path.normpath(os.path.join(here, c.config)),
            overrides={**c.overrides, **overrides},
        )
        for c in sweep.cells
    ]
    return dataclasses.replace(sweep, cells=cells)


def _call_sweep_file(path: str, variant: str) -> Sweep:
    """`get_sweep(variant)` of the file; its errors as one ValueError naming file and line."""
    try:
        spec = importlib.util.spec_from_file_location("_smat_sweep", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not callable(getattr(module, "get_sweep", None)):
            raise ValueError(f"{path}: defines no get_sweep(variant) function")
        return module.get_sweep(variant)
    except SyntaxError as e:
        raise ValueError(f"{path} line {e.lineno}: {e.msg}") from None
    except ValueError as e:
        if str(e).startswith(path):
            raise
        raise ValueError(f"{path}{_line_in(path, e)}: {e}") from None
    except Exception as e:  # the file's own bug: where it is, in one line
        raise ValueError(f"{path}{_line_in(path, e)}: {type(e).__name__}: {e}") from None


def _line_in(path: str, error: BaseException) -> str:
    """The ' line N' of the innermost frame of `path` in the error's traceback ('' if none)."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == path]
    return f" line {frames[-1].lineno}" if frames else ""


FAILED = "failed.json"  # in a cell's workdir: the error of its last failed attempt

# An override value "cell:<name>" stands for that cell's workdir (e.g. a transfer cell's
# teacher_explainer.from_run names the SMAT cell it reuses); cells run in the sweep's order.
CELL_REF = "cell:"


def resolved_overrides(cell: Cell, root: str) -> dict[str, Any]:
    """The cell's overrides with "cell:<name>" references turned into workdirs."""
    return {
        k: cell_dir(root, v[len(CELL_REF) :])
        if isinstance(v, str) and v.startswith(CELL_REF)
        else v
        for k, v in cell.overrides.items()
    }


def cell_config(cell: Cell, root: str):
    """The cell's config: its file and overrides, with the sweep's shared teacher."""
    c = config_lib.from_file(cell.config)
    config_lib.override(c, {**resolved_overrides(cell, root), "teacher_workdir": teacher_dir(root)})
    return c


def teacher_dir(root: str) -> str:
    return os.path.join(os.path.abspath(root), "teacher")


def cell_dir(root: str, cell: Cell | str) -> str:
    name = cell if isinstance(cell, str) else cell.name
    return os.path.join(os.path.abspath(root), "cells", name)


def write_manifest(
    sweep: Sweep, root: str, sweep_file: str, variant: str, overrides: dict[str, Any]
) -> None:
    """Adds the sweep's cells to `<root>/sweep.json`, the root's record for `smat.report`.

    The manifest accumulates: cells of earlier invocations (another variant, another sweep file
    sharing the teacher) stay listed, and each invocation is recorded. A cell name already there
    with a different config is refused (ValueError naming the fields), before any work.
    """
    path = os.path.join(root, "sweep.json")
    configs = {cell.name: config_lib.to_dict(cell_config(cell, root)) for cell in sweep.cells}
    invocation = {
        "sweep_file": os.path.abspath(sweep_file),
        "variant": variant,
        "overrides": overrides,
        "description": sweep.description,
    }
    defaults = config_lib.defaults()  # a field recorded before it existed ran at its default
    os.makedirs(root, exist_ok=True)
    # Two sweeps starting on one root at once must both be recorded: read, merge and write
    # under one lock (and the write is atomic: a kill leaves the old file or the new one).
    with workdir_lib.exclusive(os.path.join(root, ".sweep.lock")):
        old = checkpointing.read_json(path) if os.path.isfile(path) else {"cells": []}
        cells = {c["name"]: c for c in old["cells"]}
        for cell in sweep.cells:
            known = cells.get(cell.name, {}).get("config")
            config = configs[cell.name]
            changes = config_lib.diff(known, config, defaults=defaults) if known else []
            if changes:
                raise ValueError(
                    f"cell {cell.name} is already in {path} with another config "
                    f"({'; '.join(changes)}): rename the cell or use another --root"
                )
            cells[cell.name] = {
                "name": cell.name,
                "workdir": cell_dir(root, cell),
                "labels": cell.labels,
                "config": config,
            }
        invocations = _invocations(old)
        if invocation not in invocations:
            invocations.append(invocation)
        checkpointing.write_json(path, {"invocations": invocations, "cells": list(cells.values())})


def _invocations(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    # Manifests written before they accumulated name one sweep file at the top level.
    if "invocations" in manifest:
        return list(manifest["invocations"])
    keys = ("sweep_file", "variant", "overrides", "description")
    return [{k: manifest.get(k) for k in keys}] if "sweep_file" in manifest else []


def read_manifest(root: str) -> dict[str, Any]:
    """`<root>/sweep.json` with its "invocations" (sweep file, variant, overrides, description
    of each sweep run on the root) and "cells"."""
    path = os.path.join(root, "sweep.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no {path}: run `python -m smat.sweep SWEEP_FILE --root {root}`")
    manifest = checkpointing.read_json(path)
    return {"invocations": _invocations(manifest), "cells": manifest["cells"]}


def manifest_cells(root: str) -> list[Cell]:
    """Every cell the root's manifest lists, rebuilt from the sweep files that defined them."""
    manifest = read_manifest(root)
    listed = {c["name"] for c in manifest["cells"]}
    out: dict[str, Cell] = {}
    for inv in manifest["invocations"]:
        for cell in load_sweep(inv["sweep_file"], inv["variant"], inv.get("overrides")).cells:
            if cell.name in listed:
                out.setdefault(cell.name, cell)
    return list(out.values())


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
    "import json, sys; from smat import config, teacher; c = config.from_file(sys.argv[1]); "
    "config.override(c, json.loads(sys.argv[3])); teacher.ensure_trained(c, sys.argv[2])"
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


def _flag_value(v: Any) -> str:
    return "None" if v is None else str(v)


def _groups(cells: list[Cell], root: str, seeds_together: bool) -> list[list[Cell]]:
    """Cells trained at once: one by one, or (seeds_together) those that differ only in seed."""
    if not seeds_together:
        return [[c] for c in cells]
    from smat.trainers.lockstep import config_but_seed

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
    from smat import teacher
    from smat.trainers import TRAINERS
    from smat.trainers.lockstep import fit_together

    first = cell_config(sweep.cells[0], root)
    summary = teacher.ensure_trained(first, teacher_dir(root))
    if summary["status"] != "finished":
        return {"finished": [], "failed": [], "busy": [], "interrupted": "teacher"}
    finished, failed, busy, durations = [], [], [], []
    total, seen = len(sweep.cells), 0
    for group in _groups(sweep.cells, root, seeds_together):
        seen += len(group)
        todo = [
            c for c in group if not os.path.isfile(os.path.join(cell_dir(root, c), "summary.json"))
        ]
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
    args = parser.parse_args(argv)
    from smat.errors import ConfigError

    try:
        overrides = _parse_sets(args.set)
        sweep = load_sweep(args.sweep_file, args.variant, overrides)
        for cell in sweep.cells:  # every cell's config is checked before anything runs
            config_lib.validate(cell_config(cell, args.root))
        write_manifest(sweep, args.root, args.sweep_file, args.variant, overrides)
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
    result = run(sweep, args.root, args.seeds_together)
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

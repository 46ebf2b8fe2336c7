"""Writing a report: read the cells, build the arms, compute, write report.md, the CSVs, the
plots and (optionally) the archive that recomputes it."""

from __future__ import annotations

import csv
import io
import os
from typing import Any

from smat import checkpointing
from smat.evaluation import sweep_explanations
from smat.reporting import cells as cells_lib
from smat.reporting import groups as groups_lib
from smat.reporting import markdown, plots
from smat.reporting.analysis import LEARNED, MOVEMENT, comparisons, summarise


def _csv(path: str, records: list[dict[str, Any]]) -> None:
    fields = list(dict.fromkeys(k for r in records for k in r))
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=fields)
    writer.writeheader()
    writer.writerows(records)
    checkpointing.write_text(path, text.getvalue())


CELL_RESULTS = ("best_step", "test/simulability", "test/accuracy", "wall_time_s", *MOVEMENT)


def write_cells_csv(cells: list[cells_lib.Cell], path: str) -> None:
    """One row per cell: name, labels, status, the study settings of its config
    (`config.HPARAMS`), best step, best validation value, test metrics and wall time."""
    _csv(
        path,
        [
            {
                "name": c.name,
                **{f"label.{k}": v for k, v in c.labels.items()},
                "status": c.status,
                **c.hparams,
                **{k: v for k, v in c.summary.items() if k.startswith("best_val/")},
                **{k: c.summary.get(k) for k in CELL_RESULTS},
            }
            for c in cells
        ],
    )


def write(
    root: str,
    samples: int = 1000,
    only: list[str] | None = None,
    explainers: list[str] | None = None,
    out: str | None = None,
    search: list[str] | None = None,
    compare_pairs: list[tuple[str, str]] = (),
    archive: str | None = None,
    default_tests: bool = True,
) -> dict[str, Any]:
    """Writes report.md, results.csv (per group), tests.csv, cells.csv (per cell) and the plots
    into `out` (default: root), over the cells narrowed by `only` / `explainers`, and (with
    `archive`) what it read, for recomputing it later; returns the rows and tests."""
    out = out or root
    os.makedirs(out, exist_ok=True)
    cells, invocations = cells_lib.read(root, only, explainers)
    write_cells_csv(cells, os.path.join(out, "cells.csv"))
    groups, missing = groups_lib.build(cells)
    if not groups:
        raise FileNotFoundError(f"{root}: no cell has test predictions yet; run the sweep first")
    for pattern in search or []:
        for n in sorted({g.num_examples for g in groups}):
            arm = groups_lib.search(groups, pattern, n)
            if arm is None:  # e.g. a sweep still running: say so, report the rest
                missing.append(
                    f"search:{pattern} at n={n} (it needs two or more static explainers that "
                    "ran on common seeds, with validation values)"
                )
            else:
                groups.append(arm)
    rows = summarise(groups, samples)
    tests = comparisons(groups, rows, samples, compare_pairs, defaults=default_tests)
    _csv(
        os.path.join(out, "results.csv"),
        [
            {
                **r,
                "per_seed": " ".join(f"{v:.4f}" for v in r["per_seed"]),
                "seed_list": " ".join(map(str, r["seed_list"])),
            }
            for r in rows
        ],
    )
    _csv(os.path.join(out, "tests.csv"), [markdown.test_record(t) for t in tests])
    plots.simulability(rows, os.path.join(out, "simulability.png"), LEARNED)
    head_plots = []
    for g in groups:
        if g.kind == "learned":
            name = f"heads_n{g.num_examples}" + (
                "" if g.explainer == LEARNED else f"_{g.explainer}"
            )
            name = name.replace("/", "_") + ".png"
            if plots.heads(g, os.path.join(out, name)):
                head_plots.append(name)
    explanations = os.path.join(root, sweep_explanations.RESULTS)
    extra = (
        sweep_explanations.table(checkpointing.read_json(explanations))
        if os.path.isfile(explanations)
        else []
    )
    lines = markdown.report(
        root=root,
        invocations=invocations,
        groups=groups,
        rows=rows,
        tests=tests,
        samples=samples,
        only=only,
        explainers=explainers,
        movement=MOVEMENT,
        extra=extra,
        head_plots=head_plots,
        missing=missing,
        default_tests=default_tests,
        restored=sum(c.restored for c in cells),
    )
    checkpointing.write_text(os.path.join(out, "report.md"), "\n".join(lines) + "\n")
    if archive:
        cells_lib.write_archive(cells, invocations, archive)
    return {"rows": rows, "tests": tests, "missing": missing}

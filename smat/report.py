"""Aggregate a sweep: simulability with the seed as the unit, corrected tests, plots.

  python -m smat.report runs/imdb_paper [--bootstrap 1000] [--search 'layer*']

Reads `<root>/sweep.json` (written by `smat.sweep`: every cell any sweep ran on the root; narrow
it with `--only GLOB` and `--explainers a,b`) and every cell's `test_predictions.npz`
(per-example teacher and student outputs): every number is recomputed from those files. ROOT may
also be an archive that `--archive DIR` wrote (the same files for the report's cells, compact,
to commit beside it): the report recomputes from it. Writes `<root>/report.md` (or into `--out
DIR`), `results.csv` (per explainer and size), `tests.csv` (per comparison), `cells.csv` (per
cell: settings, status, best step, metrics, wall time), `simulability.png` and `heads_n<N>.png`
(the learned head weights, layers × heads, per seed). With `--explanations N [--eraser DIR |
--word-tags DIR]` it first evaluates every teacher explainer's faithfulness (and plausibility)
on N test examples (`smat.evaluation.sweep_explanations`) and adds that table.

Statistics (smat/statistics.py): the seed is the unit. A run's simulability on the whole test
set is one value (a run of K students sharing an explainer: their mean). Per arm: the mean over
seeds with a 95% t interval whose variance adds the test examples' share, the seed sd and the
worst seed. Comparisons are paired by seed where both arms have two or more seeds in common
(exact sign-flip test), else Welch's t-test; every p is Holm-adjusted over the report's family
of tests, and only the adjusted, seed-level result says "beats". Each test gives the seeds per
arm that 80% power would need at the observed difference and spread, and a null result its CI
as a bound. The bootstrap over test examples with the students fixed is kept, labelled "these
students only": it ignores seed-to-seed variance.

Comparisons are chosen on validation data, never on test: per student size, the *best static
explainer* is the fixed one (setup static_teacher, no transferred weights) with the highest
mean validation simulability. Every learned, transferred or derived explainer is compared with
it and with the uniform mix (`attention_all`) when that is not the best, and the best static
one with the uniform mix (headroom). `--search GLOB` adds the arm a search over the static
explainers matching GLOB would give (per seed, the best on validation; its cost is every run of
the search) and compares every learned arm with it: quality and cost. `--compare A:B` adds a
comparison of two explainer labels; with `--no-default-tests` the family is exactly the
`--compare` pairs (a study's pre-registered comparisons).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from typing import Any

import numpy as np

from smat import checkpointing, statistics
from smat.errors import ConfigError
from smat.evaluation import sweep_explanations
from smat.reporting import cells as cells_lib
from smat.reporting import groups as groups_lib
from smat.reporting import markdown, plots
from smat.reporting.groups import Group

LEARNED = "smat"  # the label of the main SMAT cells (highlighted in the plot)
UNIFORM = "attention_all"  # the label of the uniform head mix
MOVEMENT = (
    "phi/distance_from_uniform",
    "phi/nonzero_heads",
    "meta/steps",
    "psi/distance_from_uniform",
)


def summarise(groups: list[Group], samples: int, seed: int = 0) -> list[dict[str, Any]]:
    """One row per group: per-seed values, the seed-level mean and CI, spread, median/IQR, and
    the example-bootstrap CI of these students."""
    rows = []
    for g in groups:
        values = np.asarray(list(g.per_seed().values()))
        examples = None
        if g.has_predictions:
            idx = statistics.resample(g.teacher.shape[0], samples, np.random.default_rng(seed))
            boot = statistics.replicates(g.seed_stats(), idx)
            weights = np.full(len(values), 1 / len(values))
            examples = statistics.example_level(values, boot, weights)
        m = statistics.mean(values, examples.shared_variance if examples else 0.0)
        q25, median, q75 = np.percentile(values, [25, 50, 75])
        costs = [c for c in g.costs if c is not None]
        rows.append(
            {
                "num_examples": g.num_examples,
                "explainer": g.explainer,
                "kind": g.kind,
                "seeds": len(g.seeds),
                "seed_list": list(g.seeds),
                "students_per_seed": g.students_per_seed,
                "mean": m.mean,
                "ci_low": m.ci_low,
                "ci_high": m.ci_high,
                "sd": m.sd,
                "worst": float(values.min()),
                "median": float(median),
                "q25": float(q25),
                "q75": float(q75),
                "examples_ci_low": examples.ci_low if examples else None,
                "examples_ci_high": examples.ci_high if examples else None,
                "per_seed": [float(v) for v in values],
                "test_examples": g.teacher.shape[0] if g.has_predictions else None,
                "val_mean": g.summary_mean(f"best_{g.monitor}"),
                "wall_time_s": float(np.mean(costs))
                if len(costs) == len(g.costs) and costs
                else None,
                "note": g.note,
                **{k: g.summary_mean(k) if g.kind == "learned" else None for k in MOVEMENT},
            }
        )
    for r in rows:  # a learned arm less steady than the best static one
        best = best_static(rows, r["num_examples"])
        r["spread_flag"] = bool(
            r["kind"] == "learned"
            and best is not None
            and r["sd"] is not None
            and best["sd"] is not None
            and r["sd"] > best["sd"]
        )
    return rows


def best_static(rows, n: int) -> dict[str, Any] | None:
    """The static explainer with the highest mean validation simulability at size n (by test
    mean only where no cell has a validation value: then say so)."""
    static = [r for r in rows if r["num_examples"] == n and r["kind"] == "static"]
    if not static:
        return None
    if all(r["val_mean"] is not None for r in static):
        return max(static, key=lambda r: r["val_mean"])
    return {**max(static, key=lambda r: r["mean"]), "selected_on_test": True}


def compare(a: Group, b: Group, samples: int, seed: int = 0) -> dict[str, Any]:
    """a minus b over seeds (paired where they share two or more), with the example-level
    numbers of these students beside it (None where predictions are lost)."""
    shared = sorted(set(a.seeds) & set(b.seeds))
    if not (a.has_predictions and b.has_predictions):
        return {
            "num_examples": a.num_examples,
            "explainer": a.explainer,
            "baseline": b.explainer,
            "comparison": statistics.compare(a.per_seed(), b.per_seed()),
            "examples": None,
        }
    if len(shared) >= 2:  # paired (as statistics.compare): a unit is a seed's difference
        pairs = zip(a.on(shared).seed_stats(), b.on(shared).seed_stats(), strict=True)
        units = [lambda idx, x=x, y=y: x(idx) - y(idx) for x, y in pairs]
        weights = np.full(len(units), 1 / len(units))
    else:  # Welch: every seed of both arms
        units = a.seed_stats() + b.seed_stats()
        weights = np.r_[
            np.full(len(a.seeds), 1 / len(a.seeds)), np.full(len(b.seeds), -1 / len(b.seeds))
        ]
    n = a.teacher.shape[0]
    observed = [float(u(np.arange(n))) for u in units]
    boot = statistics.replicates(
        units, statistics.resample(n, samples, np.random.default_rng(seed))
    )
    examples = statistics.example_level(observed, boot, weights, difference=True)
    seed_level = statistics.compare(a.per_seed(), b.per_seed(), examples.shared_variance)
    return {
        "num_examples": a.num_examples,
        "explainer": a.explainer,
        "baseline": b.explainer,
        "comparison": seed_level,
        "examples": examples,
    }


def comparisons(
    groups: list[Group],
    rows,
    samples: int,
    extra: list[tuple[str, str]] = (),
    seed: int = 0,
    defaults: bool = True,
) -> list[dict[str, Any]]:
    """The report's family of tests, per student size: (defaults) every learned, transferred
    or derived arm against the best static one (chosen on validation) and against the uniform
    mix where that is not the best, the best static one against the uniform mix, and every
    learned arm against a search arm; then the `extra` (explainer, baseline) pairs (a study's
    pre-registered family, with defaults False). Holm-adjusted together."""
    out = []
    by_key = {(g.num_examples, g.explainer): g for g in groups}
    for n in sorted({g.num_examples for g in groups}):
        best = best_static(rows, n)
        pairs = []
        if best is not None and defaults:
            baseline = by_key[(n, best["explainer"])]
            uniform = by_key.get((n, UNIFORM)) if best["explainer"] != UNIFORM else None
            for g in groups:
                if g.num_examples == n and g.kind not in ("static", "search"):
                    pairs += [(g, baseline)] + ([(g, uniform)] if uniform else [])
            if uniform:
                pairs.append((baseline, uniform))
        for s in (g for g in groups if defaults and g.num_examples == n and g.kind == "search"):
            pairs += [(g, s) for g in groups if g.num_examples == n and g.kind == "learned"]
        for a, b in extra:
            if (n, a) in by_key and (n, b) in by_key:
                pairs.append((by_key[(n, a)], by_key[(n, b)]))
        seen = set()
        for g, other in pairs:
            if (g.explainer, other.explainer) in seen:  # e.g. a --compare pair also made above
                continue
            seen.add((g.explainer, other.explainer))
            test = compare(g, other, samples, seed)
            test["selected_on_test"] = bool(best and best.get("selected_on_test"))
            out.append(test)
    tested = [t for t in out if t["comparison"].p is not None]
    for t, p in zip(tested, statistics.holm([t["comparison"].p for t in tested]), strict=True):
        t["p_holm"] = float(p)
    for t in out:
        t.setdefault("p_holm", None)
    return out


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
    )
    checkpointing.write_text(os.path.join(out, "report.md"), "\n".join(lines) + "\n")
    if archive:
        cells_lib.write_archive(cells, invocations, archive)
    return {"rows": rows, "tests": tests, "missing": missing}


def _pair(text: str) -> tuple[str, str]:
    a, sep, b = text.partition(":")
    if not sep or not a or not b:
        raise ValueError(f"--compare {text!r}: expected EXPLAINER:BASELINE")
    return a, b


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m smat.report", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("root", help="the sweep's --root folder, or an archive (--archive)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument(
        "--explanations",
        type=int,
        default=0,
        metavar="N",
        help="first evaluate every teacher explainer's faithfulness on N test examples",
    )
    parser.add_argument(
        "--eraser", help="with --explanations: an ERASER rationale folder, for plausibility"
    )
    parser.add_argument(
        "--word-tags",
        help="with --explanations: a folder of MLQE-PE word-level files (.src/.mt/.tags); "
        "plausibility against the BAD translation words",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="GLOB",
        help="report only the cells whose name matches (e.g. 'n500/*'; repeat for more)",
    )
    parser.add_argument("--explainers", help="report only these explainer labels (comma-separated)")
    parser.add_argument(
        "--search",
        action="append",
        default=[],
        metavar="GLOB",
        help="add the arm a search over the static explainers matching GLOB gives (per seed, "
        "the best on validation) and compare every learned arm with it",
    )
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="A:B",
        help="also test explainer A against explainer B (labels; repeat for more)",
    )
    parser.add_argument(
        "--no-default-tests",
        action="store_true",
        help="test only the --compare pairs (a study's pre-registered family), not the default "
        "comparisons with the best static explainer and the uniform mix",
    )
    parser.add_argument("--out", help="write the report files here (default: the root)")
    parser.add_argument(
        "--archive",
        metavar="DIR",
        help="also write what the report read (predictions, summaries) into DIR, compact: "
        "`smat.report DIR` recomputes the report from it",
    )
    args = parser.parse_args(argv)
    explainers = [e for e in (args.explainers or "").split(",") if e] or None
    try:
        pairs = [_pair(p) for p in args.compare]
        if args.eraser and args.word_tags:
            raise ValueError("give --eraser or --word-tags, not both")
        if args.explanations:
            sweep_explanations.evaluate(
                args.root, args.explanations, args.eraser, word_tags=args.word_tags
            )
        elif args.eraser or args.word_tags:
            raise ValueError(
                "--eraser/--word-tags need --explanations N (how many examples to evaluate)"
            )
        result = write(
            args.root,
            args.bootstrap,
            args.only or None,
            explainers,
            args.out,
            args.search,
            pairs,
            args.archive,
            not args.no_default_tests,
        )
    except (FileNotFoundError, ValueError, ConfigError) as e:
        print(f"report error: {e}", file=sys.stderr)
        return 2
    print(open(os.path.join(args.out or args.root, "report.md")).read())
    if result["missing"]:
        print(f"{len(result['missing'])} cells have no predictions yet", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

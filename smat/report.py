"""Aggregate a sweep: simulability with the seed as the unit, corrected tests, plots.

  python -m smat.report runs/imdb_paper [--bootstrap 1000] [--search 'layer*']

Reads `<root>/sweep.json` (written by `smat.sweep`: every cell any sweep ran on the root; narrow
it with `--only GLOB` and `--explainers a,b`) and every cell's `test_predictions.npz`
(per-example teacher and student outputs): every number is recomputed from those files. ROOT may
also be an archive that `--archive DIR` wrote (the same files for the report's cells, compact,
to commit beside it): the report recomputes from it (and `smat.sweep --restore` puts its cells
back into a new root, when a study's runs were lost part-way). Writes `<root>/report.md` (or
into `--out DIR`), `results.csv` (per explainer and size), `tests.csv` (per comparison),
`cells.csv` (per cell: settings, status, best step, metrics, wall time), `simulability.png` and
`heads_n<N>.png` (the learned head weights, layers × heads, per seed). With `--explanations N
[--eraser DIR | --word-tags DIR]` it first evaluates every teacher explainer's faithfulness (and
plausibility) on N test examples (`smat.evaluation.sweep_explanations`) and adds that table.

Statistics (smat/statistics.py): the seed is the unit. A run's simulability on the whole test
set is one value (a run of K students sharing an explainer: their mean). Per arm: the mean over
seeds with a 95% t interval whose variance adds the test examples' share, the seed sd and the
worst seed. Comparisons are paired by seed where both arms have two or more seeds in common
(exact sign-flip test), else Welch's t-test; every p is Holm-adjusted over the report's family
of tests, and only the adjusted, seed-level result says "beats". Each test gives the seeds per
arm that 80% power would need at the observed difference and spread, and a null result its CI
as a bound; with 5 pairs or fewer (a sign-flip p cannot go below 2 / 2^n >= 0.0625) it says
there are too few seeds to test instead. The bootstrap over test examples with the students
fixed is kept, labelled "these students only": it ignores seed-to-seed variance.

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
import os
import sys

from smat.errors import ConfigError
from smat.evaluation import sweep_explanations
from smat.reporting.write import write


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

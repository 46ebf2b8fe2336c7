"""`python -m smat.annotate export|serve|keys|analyze` (see smat/annotate/__init__.py)."""

from __future__ import annotations

import argparse
import sys

from smat.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    from smat.annotate.export import DEFAULT_EXPLAINERS

    parser = argparse.ArgumentParser(
        prog="python -m smat.annotate",
        description="Rank explanations with human annotators: export a study, serve it, "
        "analyze the rankings.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="write a study folder from a student run")
    ex.add_argument("--workdir", required=True, help="a SMAT (or static-teacher) student run")
    ex.add_argument(
        "--explainers",
        default=DEFAULT_EXPLAINERS,
        help=f"comma-separated (default {DEFAULT_EXPLAINERS}); 'learned' is the run's SMAT "
        "explainer, 'attention_all' static attention over every head",
    )
    ex.add_argument("--n", type=int, default=50, help="test examples (drawn at random)")
    ex.add_argument("--out", required=True, help="the study folder to write")
    ex.add_argument("--seed", type=int, default=0, help="picks the examples and shuffles")
    sv = sub.add_parser("serve", help="start the annotation web app")
    sv.add_argument("study", help="the study folder (from export)")
    sv.add_argument("--port", type=int, default=8000, help="the port to listen on")
    sv.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to accept other machines")
    ks = sub.add_parser("keys", help="every annotator's personal address (for the organiser)")
    ks.add_argument("study", help="the study folder")
    ks.add_argument("--base", default="http://127.0.0.1:8000", help="the served study's URL")
    an = sub.add_parser("analyze", help="TrueSkill ratings of the explainers from all rankings")
    an.add_argument("study", help="the study folder with its answers")
    an.add_argument("--out", help="folder for the results (default <study>/analysis)")
    an.add_argument("--bootstrap", type=int, default=200, help="resamples for the intervals")
    args = parser.parse_args(argv)
    try:
        if args.command == "export":
            from smat.annotate.export import export

            names = [s.strip() for s in args.explainers.split(",") if s.strip()]
            study = export(args.workdir, names, args.n, args.out, args.seed)
            print(
                f"wrote {args.out}: {len(study.examples)} {study.kind} examples x "
                f"{len(study.explainers)} explainers; next: "
                f"python -m smat.annotate serve {args.out}"
            )
        elif args.command == "serve":
            from smat.annotate.app import serve

            serve(args.study, args.host, args.port)
        elif args.command == "keys":
            from smat.annotate.study import load_study

            for name, key in load_study(args.study).store().keys():
                print(f"{name}\t{args.base.rstrip('/')}/a/{key}")
        else:
            from smat.annotate.analysis import analyze
            from smat.annotate.study import load_study

            result = analyze(load_study(args.study), args.out, args.bootstrap)
            with open(f"{result['out']}/analysis.md") as f:
                print(f.read())
            print(f"wrote {result['out']}/ (analysis.md, ratings.csv, answers.csv, ratings.png)")
    except (ConfigError, FileNotFoundError, OSError) as e:
        print(f"annotate error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

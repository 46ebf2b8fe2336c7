"""Train several, keep the best on validation, teach with it: choose a learned explainer.

  python -m smat.select_explainer RUN [RUN ...] --out DIR [--monitor val/simulability]

Among finished SMAT runs of one teacher and explainer (e.g. the seeds of `python -m smat.main
--seeds=0,1,2,3`, or runs of several students each), picks the run whose best validation
simulability is highest (what selected each run's checkpoint; never test data) and exports its
learned explainer, frozen, into DIR: its config, summary and head weights, and
`selection.json` (every candidate's value, the choice and the rule). DIR is what
`--config.teacher_explainer.from_run=DIR` reads, so fresh students can be taught with it:

  python -m smat.main --config=configs/imdb_learnable.py --seeds=0,1,2,3 --workdir=runs/smat4
  python -m smat.select_explainer runs/smat4/seed* --out runs/smat4/chosen
  python -m smat.main --config=configs/imdb_static.py --workdir=runs/taught \\
      --config.teacher_workdir=runs/smat4/teacher \\
      --config.teacher_explainer.from_run=runs/smat4/chosen
"""

from __future__ import annotations

import argparse
import sys

from smat import transfer
from smat.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m smat.select_explainer", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("runs", nargs="+", help="workdirs of finished SMAT runs")
    parser.add_argument("--out", required=True, help="folder to export the chosen explainer to")
    parser.add_argument(
        "--monitor", default="val/simulability", help="the validation metric to choose by"
    )
    args = parser.parse_args(argv)
    try:
        record = transfer.select(args.runs, args.out, args.monitor)
    except ConfigError as e:
        print(f"select error: {e}", file=sys.stderr)
        return 2
    for c in record["candidates"]:
        mark = "  <- chosen" if c["run"] == record["chosen"] else ""
        print(f"{c['value']:.4f}  {c['run']}{mark}")
    print(f"exported to {args.out}: teach with --config.teacher_explainer.from_run={args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

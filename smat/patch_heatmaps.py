"""`python -m smat.patch_heatmaps`: explanations over image patches drawn on test images (the
drawing itself: smat/heatmaps.py).

A ViT explanation is a distribution over [CLS] + patches (row-major); the [CLS] entry is dropped
and the patch scores are drawn as a heatmap blended over the image.

  python -m smat.patch_heatmaps --workdir runs/fmnist/smat --static runs/fmnist/static \
      --out patches.png --examples 6

writes a grid with one row per test image: the image, the teacher's explanation by the static
run's explainer and by the SMAT-learned one, and each run's student explanation.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from smat import data as data_lib
from smat.errors import ConfigError
from smat.heatmaps import render_png
from smat.runs import run_config
from smat.saved_explainers import load_teacher_explainer, student_explanations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m smat.patch_heatmaps",
        description="Draw teacher and student explanations over test images as a PNG grid.",
    )
    parser.add_argument("--workdir", required=True, help="a student run on an image task")
    parser.add_argument("--static", help="a static-teacher run of the same teacher to compare")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument(
        "--examples", type=int, default=6, help="the first N test images (one row each)"
    )
    args = parser.parse_args(argv)
    workdirs = ([args.static] if args.static else []) + [args.workdir]  # static columns first
    try:
        config = run_config(args.workdir)
        test = data_lib.load(config).splits["student_test"]
        if "pixels" not in test.arrays:
            raise ConfigError(f"{args.workdir!r} is not an image task ({config.data.name})")
        rows = np.arange(min(args.examples, len(test)))
        batch = data_lib.input_arrays(test.arrays, rows)
        columns: dict[str, Any] = {}
        for w in workdirs:
            teacher = load_teacher_explainer(w)
            kind = "learned" if teacher.learnable else "static"
            columns[f"teacher ({kind})"] = teacher.scores(batch)
            columns[f"student ({kind} run)"] = student_explanations(w, batch)
    except (ConfigError, ValueError, FileNotFoundError) as e:
        print(f"patch_heatmaps error: {e}", file=sys.stderr)
        return 2
    titles = [data_lib.class_name(config.data.name, int(y)) for y in test.arrays["label"][rows]]
    render_png(args.out, batch["pixels"], columns, titles)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

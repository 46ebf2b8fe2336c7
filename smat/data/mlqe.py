"""MLQE-PE quality estimation from local files: sentence-level scores and word-level tags.

Sentence level (`config.data.source`): one `.tsv` file or a folder whose `*.tsv` files (searched
recursively, sorted) are pooled, in the MLQE-PE direct-assessment format: tab-separated with a
header holding `original` (source sentence), `translation` and `z_mean` (the z-normalised mean
of the annotators' scores), among `index`, `scores`, `mean`, `z_scores`, `model_scores`.

Word level (plausibility): a folder with MLQE-PE post-editing files sharing a stem,
`<stem>.src`, `<stem>.mt` (one whitespace-tokenised sentence per line) and `<stem>.tags`
(OK/BAD per line: for every MT word, optionally interleaved with gap tags, 2m + 1 per line).
BAD words are where the translation is wrong: the rationale an explanation should point at.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import os

import numpy as np

from smat.data.textfiles import read_rows, read_text
from smat.errors import ConfigError


def _tsv_files(source: str) -> list[str]:
    path = os.path.expanduser(source)
    if os.path.isfile(path):
        return [path]
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "**", "*.tsv"), recursive=True))
        if files:
            return files
        raise ConfigError(f"data.source={source!r} is a folder without .tsv files")
    raise ConfigError(
        f"data.source={source!r} does not exist; give an MLQE-PE .tsv file or a folder of them "
        "(e.g. mlqe-pe/data/direct-assessments/train)"
    )


def read_mlqe(
    source: str,
    text_column: str = "original",
    pair_column: str = "translation",
    label_column: str = "z_mean",
) -> tuple[list[str], list[str], np.ndarray]:
    """(source sentences, translations, float32 scores) of every row of the .tsv file(s)."""
    texts, pairs, scores = [], [], []
    for path in _tsv_files(source):
        header, rows = read_rows(path, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = {text_column, pair_column, label_column} - set(header)
        if missing:
            raise ConfigError(
                f"{path} has no column(s) {sorted(missing)} (columns: {header}); "
                "set data.text_column / data.pair_column / data.label_column"
            )
        for line, row in enumerate(rows, start=2):
            try:
                score = float(row[label_column])
            except (TypeError, ValueError):
                raise ConfigError(
                    f"{path}:{line}: {label_column}={row[label_column]!r} is not a number"
                ) from None
            # NaN, inf or beyond float32 would make every Pearson r NaN.
            if not np.isfinite(score) or abs(score) > float(np.finfo(np.float32).max):
                raise ConfigError(f"{path}:{line}: {label_column}={score} is not finite in float32")
            if row[text_column] is None or row[pair_column] is None:
                raise ConfigError(f"{path}:{line}: fewer columns than the header; fix the row")
            scores.append(score)
            texts.append(row[text_column])
            pairs.append(row[pair_column])
    if not texts:
        raise ConfigError(f"data.source={source!r} holds no rows")
    return texts, pairs, np.asarray(scores, np.float32)


@dataclasses.dataclass
class TaggedPair:
    """A source sentence, its translation, and which translation words are BAD."""

    source: list[str]
    translation: list[str]
    bad: np.ndarray  # bool [len(translation)]


def _lines(path: str) -> list[str]:
    """The file's lines, as text-mode reading gives them (universal newlines)."""
    text = read_text(path).replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    return lines[:-1] if text.endswith("\n") or not text else lines


def read_word_tags(folder: str) -> list[TaggedPair]:
    """Every tagged sentence pair of a folder of MLQE-PE post-editing files (see the module
    docstring); pairs without any BAD or any OK word are kept (metrics skip them)."""
    folder = os.path.expanduser(folder)
    stems = sorted(p[: -len(".tags")] for p in glob.glob(os.path.join(folder, "*.tags")))
    stems = [s for s in stems if not s.endswith(".source")]  # *.source_tags are not used
    if not stems:
        raise ConfigError(
            f"{folder!r} has no <name>.tags files; give a folder of MLQE-PE word-level files "
            "(<name>.src, <name>.mt, <name>.tags)"
        )
    out = []
    for stem in stems:
        for ext in (".src", ".mt"):
            if not os.path.isfile(stem + ext):
                raise ConfigError(f"{stem}.tags has no matching {stem}{ext}")
        src, mt, tags = _lines(stem + ".src"), _lines(stem + ".mt"), _lines(stem + ".tags")
        if not len(src) == len(mt) == len(tags):
            raise ConfigError(
                f"{stem}.src/.mt/.tags have {len(src)}/{len(mt)}/{len(tags)} lines; they must "
                "align line by line"
            )
        for i, (s, m, t) in enumerate(zip(src, mt, tags, strict=True)):
            words, labels = m.split(), t.split()
            if len(labels) == 2 * len(words) + 1:
                labels = labels[1::2]  # drop the gap tags
            if len(labels) != len(words):
                raise ConfigError(
                    f"{stem}.tags line {i + 1}: {len(labels)} tags for {len(words)} MT words"
                )
            bad = np.asarray([lab.upper() == "BAD" for lab in labels], bool)
            out.append(TaggedPair(s.split(), words, bad))
    return out

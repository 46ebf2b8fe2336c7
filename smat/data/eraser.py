"""Reader for ERASER-format rationale datasets (e.g. movie rationales), from a local folder.

Layout (DeYoung et al., 2020): `<folder>/{train,val,test}.jsonl`, one annotation per line
({"annotation_id", "classification", "evidences": [[{"docid", "start_token", "end_token",
...}, ...], ...]}), and `<folder>/docs/<docid>` with the document's whitespace-separated tokens.
Nothing is downloaded: point `folder` at a copy you have.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from smat.errors import ConfigError

LABELS = {"NEG": 0, "POS": 1}


@dataclasses.dataclass(frozen=True)
class RationaleExample:
    """words: the document's tokens; rationale: bool mask over words; label: 0 NEG / 1 POS."""

    annotation_id: str
    words: list[str]
    label: int
    rationale: np.ndarray


def read_eraser(folder: str, split: str = "test") -> list[RationaleExample]:
    """The examples of one split, with the union of all evidence spans as the rationale."""
    path = os.path.join(os.path.expanduser(folder), f"{split}.jsonl")
    if not os.path.isfile(path):
        raise ConfigError(
            f"no {path!r}: give an ERASER-format folder ({split}.jsonl + docs/), e.g. the "
            "movie rationales of the ERASER benchmark unpacked locally"
        )
    examples = []
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            ann = json.loads(line)
            docid = ann.get("docids", [None])[0] if ann.get("docids") else None
            spans = [ev for group in ann["evidences"] for ev in group]
            docid = docid or (spans[0]["docid"] if spans else ann["annotation_id"])
            doc_path = os.path.join(os.path.dirname(path), "docs", docid)
            if not os.path.isfile(doc_path):
                raise ConfigError(f"{path}:{line_no}: document {doc_path!r} is missing")
            with open(doc_path) as d:
                words = d.read().split()
            rationale = np.zeros(len(words), bool)
            for ev in spans:
                rationale[ev["start_token"] : ev["end_token"]] = True
            label = ann["classification"]
            if label not in LABELS:
                raise ConfigError(f"{path}:{line_no}: classification {label!r} not in {LABELS}")
            examples.append(RationaleExample(ann["annotation_id"], words, LABELS[label], rationale))
    return examples

"""A study folder: the examples annotators rank explanations of, and where answers go.

  study/
    study.json            explainers, examples (teacher prediction, gold label, heatmap files)
    heatmaps/<id>/<explainer>.html|png   one heatmap per explainer (HTML fragment / PNG)
    images/<id>.png       the image itself (image studies)
    answers.sqlite        annotators' answers (created by `serve`)

Heatmap HTML fragments are written here from tokens and scores with every token escaped, so the
app can show them as they are.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
import sqlite3
from typing import Any

import numpy as np

from smat import checkpointing
from smat.annotate.store import Store
from smat.errors import ConfigError

FORMAT = 1
STUDY_FILE = "study.json"
DATABASE = "answers.sqlite"
IMAGE_SCALE = 8  # a 28-pixel image is shown 224 pixels wide
TEXT, IMAGE = "text", "image"


@dataclasses.dataclass(frozen=True)
class Item:
    """One example to export: what the teacher predicted and each explainer's scores.

    Attributes:
      id: a stable name (letters, digits, '_' or '-').
      prediction, gold: the teacher's prediction and the gold label, as shown to annotators.
      scores: explainer name -> scores over the tokens ([len(tokens)]) or over [CLS] + patches.
      tokens: the tokens (text studies).
      image: uint8 [H, W, C] (image studies).
    """

    id: str
    prediction: str
    gold: str
    scores: dict[str, np.ndarray]
    tokens: list[str] | None = None
    image: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class Example:
    id: str
    prediction: str
    gold: str
    heatmaps: dict[str, str]  # explainer -> file, relative to the study folder
    image: str | None = None


@dataclasses.dataclass(frozen=True)
class Study:
    folder: str
    kind: str  # TEXT or IMAGE
    explainers: list[str]
    examples: list[Example]
    seed: int
    source: str

    def order(self, annotator_id: int, example_id: str) -> list[str]:
        """The explainers in the order one annotator sees them on one example: shuffled per
        (annotator, example), the same every time the page is shown."""
        key = f"{self.seed}/{annotator_id}/{example_id}".encode()
        order = list(self.explainers)
        random.Random(hashlib.sha256(key).digest()).shuffle(order)
        return order

    def file(self, relative: str) -> str:
        return os.path.join(self.folder, relative)

    def fragment(self, example: Example, explainer: str) -> str:
        """The HTML heatmap of a text example (its tokens were escaped when it was written)."""
        with open(self.file(example.heatmaps[explainer]), encoding="utf-8") as f:
            return f.read()

    def store(self) -> Store:
        path = self.file(DATABASE)
        try:
            return Store(path)
        except sqlite3.Error as e:  # e.g. a read-only folder, or a damaged file
            raise ConfigError(
                f"{path}: the study's answer database cannot be opened for writing ({e}); "
                "serve a copy of the study in a folder you can write to"
            ) from None


def _check_id(name: str, what: str) -> None:
    if not name or not all(c.isalnum() or c in "_-" for c in name) or not name.isascii():
        raise ConfigError(f"{what} {name!r}: use letters, digits, '_' and '-' only")


def write_study(
    folder: str, items: list[Item], explainers: list[str], source: str = "", seed: int = 0
) -> Study:
    """Writes a study folder from examples and their explainers' scores; returns the study.

    Raises:
      ConfigError: the folder already holds answers, names are unusable, an explainer's scores
        are missing, or items mix text and images.
    """
    from smat.heatmaps import html_heatmap, overlay, patch_maps

    if os.path.exists(os.path.join(folder, DATABASE)):
        raise ConfigError(f"{folder!r} already holds answers ({DATABASE}): export to a new folder")
    if not items:
        raise ConfigError("a study needs at least one example")
    if len(explainers) < 2 or len(set(explainers)) != len(explainers):
        raise ConfigError(f"rank at least 2 distinct explainers, got {explainers}")
    for name in explainers:
        _check_id(name, "explainer")
    kinds = {IMAGE if it.image is not None else TEXT for it in items}
    if len(kinds) != 1:
        raise ConfigError("a study holds either text or image examples, not both")
    (kind,) = kinds
    examples = []
    for it in items:
        _check_id(it.id, "example id")
        missing = set(explainers) - set(it.scores)
        if missing:
            raise ConfigError(f"example {it.id}: no scores for {sorted(missing)}")
        os.makedirs(os.path.join(folder, "heatmaps", it.id), exist_ok=True)
        heatmaps, image = {}, None
        for name in explainers:
            rel = os.path.join("heatmaps", it.id, f"{name}.{'png' if kind == IMAGE else 'html'}")
            scores = np.asarray(it.scores[name], np.float32)
            if kind == IMAGE:
                _write_png(
                    os.path.join(folder, rel),
                    overlay(it.image, patch_maps(scores[None])[0], IMAGE_SCALE),
                )
            else:
                if it.tokens is None or len(it.tokens) != len(scores):
                    raise ConfigError(f"example {it.id}: {name} scores do not match its tokens")
                with open(os.path.join(folder, rel), "w", encoding="utf-8") as f:
                    f.write(html_heatmap(it.tokens, scores))
            heatmaps[name] = rel
        if kind == IMAGE:
            image = os.path.join("images", f"{it.id}.png")
            grey = np.asarray(it.image, np.float32) / 255.0
            grey = np.repeat(grey, 3, -1) if grey.shape[-1] == 1 else grey
            _write_png(
                os.path.join(folder, image), np.kron(grey, np.ones((IMAGE_SCALE,) * 2 + (1,)))
            )
        examples.append(Example(it.id, it.prediction, it.gold, heatmaps, image))
    if len({e.id for e in examples}) != len(examples):
        raise ConfigError("example ids must be unique")
    info: dict[str, Any] = {
        "format": FORMAT,
        "kind": kind,
        "explainers": explainers,
        "seed": seed,
        "source": source,
        "examples": [dataclasses.asdict(e) for e in examples],
    }
    checkpointing.write_json(os.path.join(folder, STUDY_FILE), info)
    return Study(os.path.abspath(folder), kind, list(explainers), examples, seed, source)


def _write_png(path: str, rgb: np.ndarray) -> None:
    import matplotlib.image

    os.makedirs(os.path.dirname(path), exist_ok=True)
    matplotlib.image.imsave(path, np.clip(rgb, 0.0, 1.0))


def load_study(folder: str) -> Study:
    """Reads a study folder written by `write_study` / `python -m smat.annotate export`."""
    path = os.path.join(folder, STUDY_FILE)
    if not os.path.isfile(path):
        raise ConfigError(
            f"{folder!r} is not a study (no {STUDY_FILE}): make one with "
            "python -m smat.annotate export --workdir RUN --out FOLDER"
        )
    info = checkpointing.read_json(path)
    if info.get("format") != FORMAT:
        raise ConfigError(f"{path}: study format {info.get('format')}, expected {FORMAT}")
    examples = [Example(**e) for e in info["examples"]]
    return Study(
        os.path.abspath(folder),
        info["kind"],
        info["explainers"],
        examples,
        info["seed"],
        info["source"],
    )

"""Datasets by name (`config.data.name`), split for teacher and students, tokenised once."""

from __future__ import annotations

import dataclasses
import os

import ml_collections
import numpy as np

from smat.data import images as images_lib
from smat.data import tokenization
from smat.data.imdb import read_imdb
from smat.data.mlqe import read_mlqe
from smat.data.pipeline import (
    ArrayDataset,
    TrainBatches,
    eval_batches,
    input_arrays,
    input_key,
    model_inputs,
    vocab_size,
)
from smat.data.splits import SPLITS, quantile_bins, split_indices
from smat.errors import ConfigError
from smat.models import hf_checkpoint
from smat.registry import Registry

__all__ = [
    "CLASS_NAMES",
    "DATASETS",
    "Examples",
    "ArrayDataset",
    "TaskData",
    "TrainBatches",
    "class_name",
    "eval_batches",
    "input_arrays",
    "input_key",
    "load",
    "read",
    "model_inputs",
    "vocab_size",
]


@dataclasses.dataclass
class Examples:
    """What a dataset reader returns: every example of its source, in a fixed order.

    Attributes:
      labels: [N] int classes, or float scores for a regression task (num_classes == 0).
      num_classes: number of classes; 0 for a regression target.
      texts: the texts (text tasks), or None.
      text_pairs: second segments of sentence-pair tasks (e.g. translations), or None.
      images: uint8 [N, H, W, C] (image tasks), or None.
    """

    labels: np.ndarray
    num_classes: int
    texts: list[str] | None = None
    text_pairs: list[str] | None = None
    images: np.ndarray | None = None


# name -> reader(config.data) -> Examples
DATASETS: Registry = Registry("dataset")


@DATASETS.register("imdb")
def _imdb(d: ml_collections.ConfigDict) -> Examples:
    texts, labels, num_classes = read_imdb(d.source, d.text_column, d.label_column)
    return Examples(np.asarray(labels, np.int32), num_classes, texts=texts)


@DATASETS.register("mlqe")
def _mlqe(d: ml_collections.ConfigDict) -> Examples:
    texts, pairs, scores = read_mlqe(d.source, d.text_column, d.pair_column, d.label_column)
    return Examples(scores, 0, texts=texts, text_pairs=pairs)


@DATASETS.register("fashion_mnist")
def _fashion_mnist(d: ml_collections.ConfigDict) -> Examples:
    images, labels, num_classes = images_lib.read_fashion_mnist(d.source)
    return Examples(labels, num_classes, images=images)


@DATASETS.register("cifar10")
def _cifar10(d: ml_collections.ConfigDict) -> Examples:
    images, labels, num_classes = images_lib.read_cifar(d.source, 10)
    return Examples(labels, num_classes, images=images)


@DATASETS.register("cifar100")
def _cifar100(d: ml_collections.ConfigDict) -> Examples:
    images, labels, num_classes = images_lib.read_cifar(d.source, 100)
    return Examples(labels, num_classes, images=images)


@dataclasses.dataclass
class TaskData:
    """The splits of a task, tokenised (text) or as pixels (images).

    Attributes:
      splits: split name (see `smat.data.splits.SPLITS`) -> dataset with input_ids (text) or
        pixels (images), attention_mask, label and index (the example's row in the source).
      num_classes: number of labels (0: regression).
      tokenizer_path: the tokenizer file used (copied next to checkpoints); "" for images.
      vocab_size: the tokenizer's vocabulary size (0 for images).
    """

    splits: dict[str, ArrayDataset]
    num_classes: int
    tokenizer_path: str
    vocab_size: int


CLASS_NAMES = {"imdb": ("negative", "positive"), **images_lib.CLASS_NAMES}  # figures, studies


def class_name(data_name: str, label: int) -> str:
    """A class's readable name ("positive", "Sneaker"), else "class <label>"."""
    names = CLASS_NAMES.get(data_name)
    return names[label] if names and 0 <= label < len(names) else f"class {label}"


def tokenizer_path(config: ml_collections.ConfigDict) -> str:
    """The tokenizer file: `data.tokenizer` (path or alias), else the model checkpoint's own."""
    name = config.data.tokenizer or config.model.checkpoint
    if not name:
        raise ConfigError(
            "a randomly initialised model (model.checkpoint='') needs a tokenizer: set "
            "data.tokenizer to a tokenizer.json/vocab.txt file or folder, or an alias such as "
            "'minilm'"
        )
    path = hf_checkpoint.locate(name)
    return path if os.path.isfile(path) else tokenization.tokenizer_file(path)


def read(d: ml_collections.ConfigDict) -> Examples:
    """All examples of `config.data` (unsplit), from its registered reader."""
    try:
        reader = DATASETS.get(d.name)
    except KeyError as e:
        raise ConfigError(f"data.name: {e.args[0]}") from None
    return reader(d)


def load(config: ml_collections.ConfigDict, tokenizer_file: str | None = None) -> TaskData:
    """Reads, splits and tokenises `config.data` (cached); see smat/config.py for fields.

    `tokenizer_file` overrides the config's tokenizer (students use their teacher's). Image
    examples get an all-ones attention_mask over the model's positions ([CLS] + patches of
    `config.model`).
    """
    d = config.data
    ex = read(d)
    sizes = {name: d.split[name] for name in SPLITS[:-1]}
    # Regression scores are stratified by decile, so every split spans the score range.
    strata = ex.labels if ex.num_classes else quantile_bins(ex.labels, 10)
    idx = split_indices(strata, sizes, d.split.seed)
    if ex.images is not None:
        from smat import models  # models import smat.data lazily; keep the cycle one-way

        positions = models.vit_config(config.model).num_positions
        arrays = {
            "pixels": ex.images,
            "attention_mask": np.ones((len(ex.labels), positions), np.int32),
        }
        tok_path, vocab = "", 0
    else:
        tok_path = tokenizer_file or tokenizer_path(config)
        arrays = tokenization.encode(ex.texts, tok_path, d.max_length, d.cache_dir, ex.text_pairs)
        vocab = tokenization.vocab_size(tok_path)
    arrays["label"] = ex.labels
    arrays["index"] = np.arange(len(ex.labels), dtype=np.int32)
    full = ArrayDataset(arrays)
    return TaskData(
        splits={name: full.take(i) for name, i in idx.items()},
        num_classes=ex.num_classes,
        tokenizer_path=tok_path,
        vocab_size=vocab,
    )

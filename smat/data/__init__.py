"""Datasets by name (`config.data.name`), split for teacher and students, tokenised once."""

from __future__ import annotations

import dataclasses
import os

import ml_collections
import numpy as np

from smat.data import tokenization
from smat.data.imdb import read_imdb
from smat.data.pipeline import (
    ArrayDataset,
    TrainBatches,
    eval_batches,
    input_arrays,
    input_key,
    model_inputs,
    vocab_size,
)
from smat.data.splits import SPLITS, split_indices
from smat.errors import ConfigError
from smat.models import hf_checkpoint
from smat.registry import Registry

__all__ = [
    "DATASETS",
    "ArrayDataset",
    "TaskData",
    "TrainBatches",
    "eval_batches",
    "input_arrays",
    "input_key",
    "load",
    "model_inputs",
    "vocab_size",
]

# name -> reader(source, text_column, label_column) -> (texts, labels, num_classes)
DATASETS: Registry = Registry("dataset")
DATASETS.register("imdb")(read_imdb)


@dataclasses.dataclass
class TaskData:
    """Tokenised splits of a text classification task.

    Attributes:
      splits: split name (see `smat.data.splits.SPLITS`) -> dataset with input_ids,
        attention_mask, label and index (the example's row in the source).
      num_classes: number of labels.
      tokenizer_path: the tokenizer file used (copied next to checkpoints).
      vocab_size: the tokenizer's vocabulary size.
    """

    splits: dict[str, ArrayDataset]
    num_classes: int
    tokenizer_path: str
    vocab_size: int


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


def load(config: ml_collections.ConfigDict, tokenizer_file: str | None = None) -> TaskData:
    """Reads, splits and tokenises `config.data` (cached); see smat/config.py for fields.

    `tokenizer_file` overrides the config's tokenizer (students use their teacher's).
    """
    d = config.data
    try:
        reader = DATASETS.get(d.name)
    except KeyError as e:
        raise ConfigError(f"data.name: {e.args[0]}") from None
    texts, labels, num_classes = reader(d.source, d.text_column, d.label_column)
    sizes = {name: d.split[name] for name in SPLITS[:-1]}
    idx = split_indices(labels, sizes, d.split.seed)
    tok_path = tokenizer_file or tokenizer_path(config)
    arrays = tokenization.encode(texts, tok_path, d.max_length, d.cache_dir)
    arrays["label"] = labels
    arrays["index"] = np.arange(len(labels), dtype=np.int32)
    full = ArrayDataset(arrays)
    return TaskData(
        splits={name: full.take(i) for name, i in idx.items()},
        num_classes=num_classes,
        tokenizer_path=tok_path,
        vocab_size=tokenization.vocab_size(tok_path),
    )

"""Fixed-shape batches from in-memory numpy arrays.

Every batch has the same shape, so a jitted step compiles once: training batches drop the
remainder of an epoch, and evaluation pads the last batch with `weight` 0 rows. The training
order is a pure function of (seed, step), which makes resuming from a step exact.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

# Re-exported: data is where callers look for them.
from smat.models.inputs import input_key as input_key
from smat.models.inputs import model_inputs as model_inputs

Batch = dict[str, np.ndarray]


def vocab_size(datasets) -> int:
    """Token ids a text model must embed (largest id + 1) over some datasets; 0 for images."""
    datasets = list(datasets)
    if not datasets or "input_ids" not in datasets[0].arrays:
        return 0
    return int(max(d.arrays["input_ids"].max() for d in datasets)) + 1


def input_arrays(arrays, rows=slice(None)) -> dict[str, np.ndarray]:
    """The model inputs of some rows of a dataset's arrays (`{input key, attention_mask}`)."""
    return {k: np.asarray(arrays[k])[rows] for k in (input_key(arrays), "attention_mask")}


@dataclasses.dataclass(frozen=True)
class ArrayDataset:
    """Examples as equal-length numpy arrays (input_ids, attention_mask, label, index, ...)."""

    arrays: dict[str, np.ndarray]

    def __post_init__(self):
        sizes = {k: len(v) for k, v in self.arrays.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"arrays of different lengths: {sizes}")

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    def take(self, idx: np.ndarray) -> ArrayDataset:
        return ArrayDataset({k: v[idx] for k, v in self.arrays.items()})


class TrainBatches:
    """Shuffled fixed-size batches; `batch(step)` depends only on (seed, step)."""

    def __init__(self, dataset: ArrayDataset, batch_size: int, seed: int):
        if len(dataset) < batch_size:
            raise ValueError(
                f"{len(dataset)} training examples cannot fill one batch of {batch_size}"
            )
        self.dataset = dataset
        self.batch_size = batch_size
        self.seed = seed
        self.steps_per_epoch = len(dataset) // batch_size
        self._epoch, self._perm = -1, None

    def batch(self, step: int) -> Batch:
        epoch, i = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.dataset))
        idx = self._perm[i * self.batch_size : (i + 1) * self.batch_size]
        out = {k: v[idx] for k, v in self.dataset.arrays.items()}
        out["weight"] = np.ones(self.batch_size, np.float32)
        return out


def eval_batches(dataset: ArrayDataset, batch_size: int) -> Iterator[Batch]:
    """All examples in order, in batches of exactly `batch_size`; padding rows have weight 0."""
    n = len(dataset)
    for start in range(0, n, batch_size):
        idx = np.arange(start, start + batch_size)
        real = idx < n
        idx = np.where(real, idx, 0)
        out = {k: v[idx] for k, v in dataset.arrays.items()}
        out["weight"] = real.astype(np.float32)
        yield out


def as_dataset(data, name: str = "data") -> ArrayDataset:
    """In-memory examples as an ArrayDataset with input_ids (or pixels), attention_mask, label
    and index.

    Accepts an ArrayDataset, a dict of arrays (`input_ids` [N, tokens] required, `attention_mask`
    defaults to ones; or `pixels` [N, H, W, C] with `attention_mask` [N, positions]; `label` or
    `labels` optional, -1 when absent), a bare `input_ids` array, or an iterable of such dicts
    (batches, concatenated). Raises ValueError naming what is wrong.
    """
    if isinstance(data, ArrayDataset):
        data = data.arrays
    elif isinstance(data, np.ndarray) or hasattr(data, "__array__"):
        data = {"input_ids": data}
    elif not isinstance(data, dict):
        batches = [dict(b) for b in data]
        if not batches:
            raise ValueError(f"{name} is empty")
        data = {k: np.concatenate([np.asarray(b[k]) for b in batches]) for k in batches[0]}
    if "input_ids" not in data and "pixels" not in data:
        raise ValueError(f"{name} has neither 'input_ids' nor 'pixels' (keys: {sorted(data)})")
    arrays = {k: np.asarray(v) for k, v in data.items()}
    if "pixels" in arrays:
        return _image_dataset(arrays, name)
    ids = arrays["input_ids"]
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            f"{name}['input_ids'] must be an integer array [examples, tokens], got "
            f"{ids.dtype} {ids.shape}"
        )
    arrays["input_ids"] = ids.astype(np.int32)
    mask = arrays.get("attention_mask", np.ones_like(ids))
    if mask.shape != ids.shape:
        raise ValueError(
            f"{name}['attention_mask'] has shape {mask.shape}, input_ids {ids.shape}: "
            "they must match"
        )
    arrays["attention_mask"] = mask.astype(np.int32)
    return _with_labels(arrays)


def _with_labels(arrays: dict[str, np.ndarray]) -> ArrayDataset:
    if "labels" in arrays and "label" not in arrays:
        arrays["label"] = arrays.pop("labels")
    n = len(arrays["attention_mask"])
    arrays.setdefault("label", np.full(n, -1, np.int32))
    arrays.setdefault("index", np.arange(n, dtype=np.int32))
    return ArrayDataset(arrays)


def _image_dataset(arrays: dict[str, np.ndarray], name: str) -> ArrayDataset:
    pixels = arrays["pixels"]
    if pixels.ndim != 4:
        raise ValueError(
            f"{name}['pixels'] must be [examples, height, width, channels], got {pixels.shape}"
        )
    mask = arrays.get("attention_mask")
    if mask is None or mask.ndim != 2 or len(mask) != len(pixels):
        raise ValueError(
            f"{name} has pixels, so it needs 'attention_mask' [examples, positions]: ones over "
            "the positions the model explains (a ViT: 1 + number of patches)"
        )
    arrays["attention_mask"] = mask.astype(np.int32)
    return _with_labels(arrays)

"""Image classification datasets from local files: Fashion-MNIST (IDX) and CIFAR-10/100 (the
python-pickle folders). Images come back as uint8 [N, H, W, C]; nothing is downloaded.

Sources (`config.data.source`):
  - Fashion-MNIST: "packaged" = the Debian package `dataset-fashion-mnist`
    (`apt-get install dataset-fashion-mnist`, files in /usr/share/datasets/fashion-mnist/), or a
    folder with the four `*-idx?-ubyte[.gz]` files. Train and test files are pooled (70,000).
  - CIFAR: the folder `cifar-10-batches-py/` (data_batch_1..5, test_batch) or `cifar-100-python/`
    (train, test) as unpacked from the official archives. Train and test are pooled.
"""

from __future__ import annotations

import gzip
import os
import pickle

import numpy as np

from smat.errors import ConfigError

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
_FASHION_INSTALL = "apt-get install dataset-fashion-mnist"
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

CLASS_NAMES = {"fashion_mnist": FASHION_MNIST_CLASSES, "cifar10": CIFAR10_CLASSES}


def _open(path: str):
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def read_idx(path: str) -> np.ndarray:
    """An IDX file (MNIST format: magic, dims, big-endian uint8 payload) as a numpy array."""
    with _open(path) as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ConfigError(f"{path} is not an IDX file of unsigned bytes")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    payload = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if payload.size != int(np.prod(shape)):
        raise ConfigError(f"{path}: header says {shape} but holds {payload.size} bytes")
    return payload.reshape(shape)


def _idx_file(folder: str, stem: str) -> str:
    for name in (stem, stem + ".gz"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    raise ConfigError(
        f"{folder} has no {stem}[.gz]; install the Fashion-MNIST package "
        f"({_FASHION_INSTALL}) or give data.source a folder with the four IDX files"
    )


def read_fashion_mnist(source: str = "packaged") -> tuple[np.ndarray, np.ndarray, int]:
    """Fashion-MNIST: (images uint8 [70000, 28, 28, 1], labels int32, 10)."""
    folder = FASHION_MNIST_DIR if source == "packaged" else os.path.expanduser(source)
    if not os.path.isdir(folder):
        hint = f"install it: {_FASHION_INSTALL}" if source == "packaged" else "check data.source"
        raise ConfigError(f"Fashion-MNIST folder {folder} does not exist; {hint}")
    images, labels = [], []
    for split in ("train", "t10k"):
        x = read_idx(_idx_file(folder, f"{split}-images-idx3-ubyte"))
        y = read_idx(_idx_file(folder, f"{split}-labels-idx1-ubyte"))
        if len(x) != len(y) or x.ndim != 3:
            raise ConfigError(f"{folder}: {split} images {x.shape} and labels {y.shape} mismatch")
        images.append(x[..., None])
        labels.append(y.astype(np.int32))
    return np.concatenate(images), np.concatenate(labels), 10


def _unpickle(path: str) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")


def read_cifar(folder: str, num_classes: int) -> tuple[np.ndarray, np.ndarray, int]:
    """CIFAR-10 or CIFAR-100 (fine labels): (images uint8 [N, 32, 32, 3], labels int32, classes).

    `folder` is `cifar-10-batches-py/` or `cifar-100-python/` (python pickles: `data` rows of
    3072 bytes, channel-major; `labels` / `fine_labels`).
    """
    folder = os.path.expanduser(folder)
    if num_classes == 10:
        names, key = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"], b"labels"
        expected = "cifar-10-batches-py/ (data_batch_1..5, test_batch)"
    else:
        names, key = ["train", "test"], b"fine_labels"
        expected = "cifar-100-python/ (train, test)"
    missing = [n for n in names if not os.path.isfile(os.path.join(folder, n))]
    if missing:
        raise ConfigError(
            f"data.source={folder!r} lacks {missing}; give the unpacked {expected} folder of the "
            f"official python-version CIFAR-{num_classes} archive"
        )
    images, labels = [], []
    for name in names:
        batch = _unpickle(os.path.join(folder, name))
        if b"data" not in batch or key not in batch:
            raise ConfigError(f"{folder}/{name} has no {key!r}: is it CIFAR-{num_classes}?")
        images.append(np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[key], np.int32))
    x = np.concatenate(images).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), np.concatenate(labels), num_classes

"""Deterministic, stratified, disjoint teacher/student splits (the SMAT protocol).

The teacher never sees the students' data: students draw their training examples from a pool
disjoint from the teacher's, and simulability is measured on a student-test split that neither
trained on. Student splits are cut first, so their contents do not depend on teacher-side sizes.
"""

from __future__ import annotations

import numpy as np

from smat.errors import ConfigError

STUDENT_SPLITS = ("student_test", "student_valid", "student_train")
SPLITS = STUDENT_SPLITS + ("teacher_valid", "teacher_train")


def stratified_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """A permutation of all examples in which every prefix has ~the overall class proportions.

    Each class is shuffled, then the classes are interleaved by relative rank, so consecutive
    slices of the order are stratified samples.
    """
    rng = np.random.default_rng(seed)
    keys = np.empty(len(labels))
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        # (rank + jitter) / count spreads each class evenly over [0, 1); jitter breaks ties
        # between classes at random rather than always in class order.
        keys[rng.permutation(idx)] = (np.arange(len(idx)) + rng.random(len(idx))) / len(idx)
    return np.argsort(keys, kind="stable")


def quantile_bins(values: np.ndarray, bins: int) -> np.ndarray:
    """Bin index (0..bins-1) of every value by its quantile: strata for continuous scores."""
    edges = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])
    return np.searchsorted(edges, values, side="right").astype(np.int32)


def split_indices(labels: np.ndarray, sizes: dict[str, int], seed: int) -> dict[str, np.ndarray]:
    """Cuts a stratified order into the named splits.

    Args:
      labels: [N] class of every example.
      sizes: sizes of student_test, student_valid, student_train and teacher_valid;
        teacher_train receives every remaining example.
      seed: the split seed (the same seed always gives the same splits).

    Returns:
      split name -> example indices in stratified order (so any prefix of a split is itself a
      stratified sample); the splits are disjoint and cover all examples.
    """
    order = stratified_order(labels, seed)
    needed = sum(sizes[name] for name in SPLITS[:-1])
    if needed >= len(labels):
        raise ConfigError(
            f"data.split sizes add up to {needed} but the dataset has {len(labels)} examples, "
            "leaving nothing to train the teacher; reduce data.split.*"
        )
    out, start = {}, 0
    for name in SPLITS[:-1]:
        out[name] = order[start : start + sizes[name]]
        start += sizes[name]
    out["teacher_train"] = order[start:]
    return out

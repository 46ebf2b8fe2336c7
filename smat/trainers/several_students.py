"""Several students in one run (`meta.num_students`): their trees stacked on a leading axis,
one student's part of them, and metrics averaged over them (what selects and what is
reported), each student's simulability kept beside the mean."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def stack(trees: list[Any]) -> Any:
    """One tree per student -> their stack on a leading axis (one student: the tree)."""
    if len(trees) == 1:
        return trees[0]
    stack_fn = jnp.stack if isinstance(jax.tree.leaves(trees[0])[0], jax.Array) else np.stack
    return jax.tree.map(lambda *xs: stack_fn(xs), *trees)


def take(tree: Any, k: int, num_students: int) -> Any:
    """Student k's part of a stacked tree (params, optimizer state)."""
    return tree if num_students == 1 else jax.tree.map(lambda x: x[k], tree)


def mean_over_students(metrics: list[dict[str, float]], split: str) -> dict[str, float]:
    """Each metric's mean over the students, and each student's simulability when there are
    several."""
    out = {f"{split}/{key}": float(np.mean([m[key] for m in metrics])) for key in metrics[0]}
    if len(metrics) > 1:
        for k, m in enumerate(metrics):
            out[f"{split}/student{k}/simulability"] = m["simulability"]
    return out

"""Pieces every setup shares: parameter init on the mesh, subsets, evaluation loops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from smat import data as data_lib
from smat import models, sharding


def cap(dataset: data_lib.ArrayDataset, n: int) -> data_lib.ArrayDataset:
    """The first `n` examples (0: all); splits are stratified, so a prefix is too."""
    return dataset if not n or n >= len(dataset) else dataset.take(np.arange(n))


def init_params(built: models.BuiltModel, example: dict[str, Any], rng: jax.Array, mesh) -> Any:
    """Random init (+ pretrained overlay) from an example batch, replicated on the mesh.

    An nnx instance brings its own parameters (made by its constructor): they are used as is.
    """
    repl = sharding.replicated(mesh)
    adapted = built.adapted
    if adapted.init is None:
        return jax.device_put(adapted.initial_params, repl)

    def init(key):
        inputs, mask = data_lib.model_inputs(example)
        return adapted.init(key, jnp.asarray(inputs[:1]), jnp.asarray(mask[:1]))

    params = jax.jit(init, out_shardings=repl)(rng)
    return jax.device_put(models.overlay_pretrained(params, built), repl)


def run_eval(
    eval_step: Callable, params: Any, dataset: data_lib.ArrayDataset, batch_size: int, mesh
) -> tuple[dict[str, float], np.ndarray]:
    """Runs a jitted `eval_step(params, batch) -> (clu metrics, logits)` over a whole dataset.

    Returns the computed metrics and the logits of every example, in dataset order.
    """
    acc, logits = None, []
    for batch in data_lib.eval_batches(dataset, batch_size):
        m, batch_logits = eval_step(params, sharding.put_batch(batch, mesh))
        acc = m if acc is None else acc.merge(m)
        logits.append(np.asarray(batch_logits))
    metrics = {k: float(v) for k, v in acc.compute().items()}
    return metrics, np.concatenate(logits)[: len(dataset)]

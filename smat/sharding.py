"""Device mesh and shardings: one data-parallel axis, batches split over it, state replicated
(or, with `mesh.shard_params`, large parameter and optimizer leaves split over the same axis:
FSDP-style, for models that do not fit one device; XLA inserts the gathers).

The same jitted step then runs on 1 CPU, 1 GPU, several fake CPU devices
(XLA_FLAGS=--xla_force_host_platform_device_count=8) or a pod slice.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from smat.errors import ConfigError

DATA = "data"


def make_mesh(num_data: int = -1) -> Mesh:
    """A 1-D mesh over the first `num_data` devices (-1: all)."""
    devices = jax.devices()
    n = len(devices) if num_data == -1 else num_data
    if not 1 <= n <= len(devices):
        raise ConfigError(
            f"mesh.data={num_data} but {len(devices)} device(s) are available; use -1 for all"
        )
    return Mesh(np.asarray(devices[:n]), (DATA,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def state_shardings(tree, mesh: Mesh, shard_params: bool = False, min_size: int = 2**12):
    """Per leaf: replicated, or (shard_params) split along its largest axis that the data axis
    divides, for leaves of at least `min_size` elements (small ones are not worth a gather)."""
    n = mesh.shape[DATA]

    def leaf(x):
        shape = getattr(x, "shape", ())
        if not shard_params or n == 1 or not shape or np.prod(shape) < min_size:
            return replicated(mesh)
        dims = [d for d in sorted(range(len(shape)), key=lambda d: -shape[d]) if shape[d] % n == 0]
        if not dims:
            return replicated(mesh)
        spec = [None] * len(shape)
        spec[dims[0]] = DATA
        return NamedSharding(mesh, PartitionSpec(*spec))

    return jax.tree.map(leaf, tree)


def batch_sharding(mesh: Mesh, leading: int = 0) -> NamedSharding:
    """The batch axis (after `leading` unsplit axes, e.g. one of seeds) split over the data
    axis."""
    return NamedSharding(mesh, PartitionSpec(*[None] * leading, DATA))


def check_batch_size(batch_size: int, mesh: Mesh, field: str) -> None:
    n = mesh.shape[DATA]
    if batch_size % n:
        raise ConfigError(
            f"{field}={batch_size} is not divisible by the {n} devices of the data axis; "
            f"use a multiple of {n} or set mesh.data"
        )


def put_batch(batch, mesh: Mesh, leading: int = 0):
    """A (nested dict of) global host batch arrays -> arrays sharded over the data axis
    (the batch axis comes after `leading` other axes).

    Every process builds the same global batch (the order is a function of the step) and
    contributes the rows of its own devices: with the process-major device order of
    `make_mesh`, process i holds the i-th contiguous block.
    """
    sharding = batch_sharding(mesh, leading)
    n, i = jax.process_count(), jax.process_index()

    def put(v: np.ndarray) -> jax.Array:
        local = np.split(v, n, axis=leading)[i] if n > 1 else v
        return jax.make_array_from_process_local_data(sharding, local, v.shape)

    return jax.tree.map(put, batch)

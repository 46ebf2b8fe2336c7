"""Multi-process (multi-host) start-up: one JAX process per host, one global device mesh.

Every process runs the same command; `put_batch` gives each its rows of every global batch,
and logs, summaries and artifacts are written by process 0 only (Orbax coordinates the
checkpoints). Launch with explicit coordinator flags, or under a cluster JAX detects itself.
"""

from __future__ import annotations

import os

import jax

# Environment variables that mean "this is one process of several" to jax.distributed's
# auto-detection (Slurm, Open MPI, TPU pod slices, or an explicit coordinator).
_CLUSTER_ENV = ("JAX_COORDINATOR_ADDRESS", "TPU_WORKER_HOSTNAMES", "OMPI_COMM_WORLD_SIZE")


def _in_cluster() -> bool:
    if int(os.environ.get("SLURM_NTASKS", "1")) > 1:
        return True
    return any(name in os.environ for name in _CLUSTER_ENV)


def initialize(coordinator: str = "", num_processes: int = 1, process_id: int = 0) -> bool:
    """Joins the processes into one JAX runtime; returns whether it did.

    Args:
      coordinator: "host:port" of process 0 ("" = detect a cluster from the environment).
      num_processes, process_id: with `coordinator`, this process' place among them.
    """
    if coordinator:
        jax.distributed.initialize(coordinator, num_processes, process_id)
        return True
    if _in_cluster():
        jax.distributed.initialize()
        return True
    return False

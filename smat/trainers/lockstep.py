"""Runs that differ only in their seed, trained in lock-step by one compiled program.

`fit_together(trainers)` vmaps the trainers' common step function over a leading seed axis, so
one jitted call per step advances every seed (one compilation instead of K, and wider kernels:
higher throughput, most of all for small models and on accelerators). Everything else stays
per run, in each trainer's own workdir: evaluation, callbacks, early stopping, checkpoints,
resume and the summary. A run that stops early keeps its result (its slot still computes, and
is ignored), so every run ends as it would have alone.
"""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from smat import config as config_lib
from smat import sharding
from smat.errors import ConfigError
from smat.trainers.base import Trainer
from smat.trainers.signals import StopSignal


def seed_axes(state: Any) -> Any:
    """vmap axes of a train state: every leaf on the seed axis except the step counter, which
    the runs share (so a `lax.cond` on it stays a branch, not a select of both sides)."""
    axes = jax.tree.map(lambda _: 0, state)
    if dataclasses.is_dataclass(axes) and hasattr(axes, "step"):
        axes = axes.replace(step=None)
    return axes


def _is_none(x: Any) -> bool:
    return x is None


def config_but_seed(config) -> dict[str, Any]:
    """The config as a dict without its seed: equal for runs that can be trained together."""
    out = config_lib.to_dict(config)
    out.pop("seed")
    return out


def _check_same_but_seed(trainers: Sequence[Trainer]) -> None:
    first = config_but_seed(trainers[0].config)
    for t in trainers[1:]:
        changes = config_lib.diff(first, config_but_seed(t.config))
        if type(t) is not type(trainers[0]) or changes:
            raise ConfigError(
                f"runs trained together may differ only in their seed; {t.workdir} differs "
                f"from {trainers[0].workdir} in {'; '.join(changes) or type(t).__name__}: "
                "train them separately"
            )
    seeds = [t.config.seed for t in trainers]
    workdirs = [t.workdir for t in trainers]
    if len(set(seeds)) < len(seeds) or len(set(workdirs)) < len(workdirs):
        raise ConfigError(f"runs trained together need distinct seeds and workdirs: {seeds}")


def fit_together(trainers: Sequence[Trainer]) -> list[dict[str, Any]]:
    """`[t.fit() for t in trainers]`, with the training steps of all runs in one program.

    The trainers must be of one class with configs that differ only in `seed`. Runs already
    finished are skipped; runs resumed at different steps are trained in groups by step. A
    single run is trained by its own `fit` (no seed axis).
    """
    if len(trainers) == 1:
        return [trainers[0].fit()]
    _check_same_but_seed(trainers)
    try:
        return _fit_together(trainers)
    finally:
        for t in trainers:
            t.release_workdir()


def _fit_together(trainers: Sequence[Trainer]) -> list[dict[str, Any]]:
    summaries: list[dict[str, Any] | None] = []
    for t in trainers:
        summaries.append(t.begin())
        if summaries[-1] is not None and summaries[-1]["status"] == "interrupted":
            # Interrupted before training (a student's teacher): stop every run here.
            interrupted = summaries[-1]
            signum = signal.Signals[interrupted["signal"]].value
            summaries = [
                trainers[i].end(signum) if s is None else s for i, s in enumerate(summaries)
            ]
            return summaries + [interrupted] * (len(trainers) - len(summaries))
    by_step: dict[int, list[int]] = {}
    for i, t in enumerate(trainers):
        if summaries[i] is None:
            by_step.setdefault(t.step, []).append(i)
    signum = None
    for _, group in sorted(by_step.items()):
        runs = [trainers[i] for i in group]
        if signum is None:
            results, signum = _train(runs)
        else:  # interrupted while training an earlier group: save these as they are
            results = [t.end(signum) for t in runs]
        for i, summary in zip(group, results, strict=True):
            summaries[i] = summary
    return summaries


def _train(runs: list[Trainer]) -> tuple[list[dict[str, Any]], int | None]:
    """Trains runs that `begin()` left at the same step; returns their summaries and the
    signal that interrupted them (None)."""
    first, k = runs[0], len(runs)
    if {t.total_steps for t in runs} != {first.total_steps}:
        raise ConfigError("runs trained together must have the same number of steps")
    mesh = first.mesh
    axes = seed_axes(first.state)
    state_sh = jax.tree.map(lambda x: x.sharding, first.state)
    stacked_sh = jax.tree.map(
        lambda a, s: s if a is None else NamedSharding(mesh, PartitionSpec(None, *s.spec)),
        axes,
        state_sh,
        is_leaf=_is_none,
    )

    def stack(states):
        return jax.tree.map(
            lambda a, *xs: xs[0] if a is None else jnp.stack(xs), axes, *states, is_leaf=_is_none
        )

    def unstack(tree, tree_axes):
        def run(i):
            return jax.tree.map(
                lambda a, x: x if a is None else x[i], tree_axes, tree, is_leaf=_is_none
            )

        return [run(i) for i in range(k)]

    repl = sharding.replicated(mesh)
    state = jax.jit(stack, out_shardings=stacked_sh)([t.state for t in runs])
    step_fn = jax.jit(
        jax.vmap(first.step_fn, in_axes=(axes, 0), out_axes=(axes, 0)),
        in_shardings=(stacked_sh, sharding.batch_sharding(mesh, leading=1 + first.batch_axes)),
        out_shardings=(stacked_sh, repl),
        donate_argnums=0,
    )
    split_state = jax.jit(lambda s: unstack(s, axes), out_shardings=[state_sh] * k)
    split_metrics = jax.jit(lambda m: unstack(m, jax.tree.map(lambda _: 0, m)))

    summaries: list[dict[str, Any] | None] = [None] * k
    live = list(range(k))
    step = first.step
    with StopSignal() as stop, mesh:
        while live:
            batches = [t.next_batch(step) for t in runs]
            batch = jax.tree.map(lambda *xs: np.stack(xs), *batches)
            batch = sharding.put_batch(batch, mesh, leading=1 + first.batch_axes)
            state, metrics = step_fn(state, batch)
            step += 1
            states = None
            if any(runs[i].state_needed(step) for i in live):
                states = split_state(state)
            per_run = split_metrics(metrics)
            for i in list(live):
                run = runs[i]
                if states is not None:
                    run.state = states[i]
                run.record_step(per_run[i])
                if not run.running:  # finished, or stopped early: its result is final
                    summaries[i] = run.end(None)
                    live.remove(i)
            if stop.signum is not None and live:
                states = split_state(state)
                for i in live:
                    runs[i].state = states[i]
                    summaries[i] = runs[i].end(stop.signum)
                return summaries, stop.signum
    return summaries, None

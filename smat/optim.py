"""Optimisers and learning-rate schedules from `config.optim`."""

from __future__ import annotations

import math
import re

import jax
import ml_collections
import optax

from smat.errors import ConfigError


def schedule(cfg: ml_collections.ConfigDict, total_steps: int) -> optax.Schedule:
    """Linear warmup to `learning_rate`, then constant, linear decay to 0, or cosine."""
    lr, warmup = cfg.learning_rate, cfg.warmup_steps
    decay_steps = max(total_steps - warmup, 1)
    if cfg.schedule == "constant":
        after = optax.constant_schedule(lr)
    elif cfg.schedule == "linear":
        after = optax.linear_schedule(lr, 0.0, decay_steps)
    elif cfg.schedule == "cosine":
        after = optax.cosine_decay_schedule(lr, decay_steps)
    else:
        raise ConfigError(f"optim.schedule={cfg.schedule!r}; known: constant, linear, cosine")
    if warmup <= 0:
        return after
    return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), after], [warmup])


def updates(total_steps: int, accumulate: int) -> int:
    """Optimiser updates in a run of `total_steps` steps accumulating `accumulate` each."""
    return max(1, math.ceil(total_steps / accumulate))


def learning_rate(cfg: ml_collections.ConfigDict, total_steps: int, accumulate: int = 1):
    """The learning rate at each train step (what is logged): the schedule counts updates,
    and `accumulate` steps make one."""
    lr = schedule(cfg, updates(total_steps, accumulate))
    return lr if accumulate == 1 else (lambda step: lr(step // accumulate))


def accumulate(tx: optax.GradientTransformation, every: int) -> optax.GradientTransformation:
    """`tx` applied every `every` steps to the mean of their gradients (optax.MultiSteps; the
    steps between leave the params as they are): the update of a batch `every` times larger,
    at the memory of one."""
    if every == 1:
        return tx
    return optax.MultiSteps(tx, every_k_schedule=every).gradient_transformation()


def _decay_mask(params):
    # No weight decay on biases, LayerNorm scales and ScalarMix weights (1-D or scalar leaves).
    return jax.tree.map(lambda p: p.ndim > 1, params)


def make(cfg: ml_collections.ConfigDict, total_steps: int) -> optax.GradientTransformation:
    """The optimiser of `config.optim` for a run of `total_steps` steps."""
    lr = schedule(cfg, total_steps)
    if cfg.name == "adamw":
        tx = optax.adamw(
            lr,
            b1=cfg.b1,
            b2=cfg.b2,
            eps=cfg.eps,
            eps_root=cfg.eps_root,
            weight_decay=cfg.weight_decay,
            mask=_decay_mask,
        )
    elif cfg.name == "sgd":
        tx = optax.chain(
            optax.add_decayed_weights(cfg.weight_decay, mask=_decay_mask),
            optax.sgd(lr, momentum=cfg.momentum or None),
        )
    else:
        raise ConfigError(f"optim.name={cfg.name!r}; known: adamw, sgd")
    if cfg.grad_clip > 0:
        tx = optax.chain(optax.clip_by_global_norm(cfg.grad_clip), tx)
    return tx


def param_path(path) -> str:
    """`encoder/embeddings/word_embeddings/embedding` for a pytree key path."""
    return "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)


def freeze(tx: optax.GradientTransformation, patterns: str) -> optax.GradientTransformation:
    """`tx` on every parameter except those whose path matches one of the comma-separated
    regular expressions `patterns` (`train.frozen`): those get no update, no optimiser state,
    and, their gradient being unused, XLA does not compute it."""
    regexes = [re.compile(p.strip()) for p in patterns.split(",") if p.strip()]
    if not regexes:
        return tx

    def labels(params):
        paths = [param_path(p) for p, _ in jax.tree_util.tree_leaves_with_path(params)]
        for r in regexes:
            if not any(r.search(p) for p in paths):
                raise ConfigError(
                    f"train.frozen: {r.pattern!r} matches no parameter; paths look like "
                    f"{paths[0]!r} (all: {len(paths)})"
                )
        return jax.tree_util.tree_map_with_path(
            lambda p, _: "frozen" if any(r.search(param_path(p)) for r in regexes) else "trained",
            params,
        )

    return optax.multi_transform({"trained": tx, "frozen": optax.set_to_zero()}, labels)


def for_student(c: ml_collections.ConfigDict, total_steps: int) -> optax.GradientTransformation:
    """The student's optimiser over its params {"model": θ, "explainer": ψ}: `c.optim` for
    both, or (`c.explainer_optim.name` != "student") `c.explainer_optim` for ψ; the model
    parameters `c.train.frozen` names are not trained; gradients are accumulated over
    `c.train.accumulate_steps` steps."""
    k = c.train.accumulate_steps
    tx = make(c.optim, updates(total_steps, k))
    if c.explainer_optim.name != "student":
        tx = optax.multi_transform(
            {"model": tx, "explainer": make(c.explainer_optim, updates(total_steps, k))},
            {"model": "model", "explainer": "explainer"},
        )
    return accumulate(freeze(tx, c.train.frozen), k)

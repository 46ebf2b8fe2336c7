"""Configs as records: JSON-typed dicts (config.json), their differences (what resume and sweeps
compare), smat's defaults, and the study settings a run reports (HPARAMS)."""

from __future__ import annotations

import json
from typing import Any

import ml_collections

from smat.config.schema import base, student_base

# The settings that studies vary: a run's TensorBoard HParams session and the report's
# cells.csv record those its config has.
HPARAMS = (
    "setup",
    "num_examples",
    "seed",
    "beta",
    "teacher_explainer.name",
    "teacher_explainer.layer",
    "teacher_explainer.head",
    "teacher_explainer.from_run",
    "teacher_explainer.top_k",
    "optim.name",
    "optim.learning_rate",
    "train.num_epochs",
    "meta.optim.learning_rate",
    "meta.hypergradient",
    "meta.interval",
    "meta.valid_batch_size",
    "meta.simulated_update",
    "meta.num_students",
    "explainer_optim.name",
    "explainer_optim.learning_rate",
)


def hparams(config: ml_collections.ConfigDict | dict) -> dict[str, Any]:
    """The HPARAMS fields the config has, as bool/int/float/str (what the plugin stores)."""
    out = {}
    for field in HPARAMS:
        node = config
        for key in field.split("."):
            node = node.get(key) if hasattr(node, "get") else None
            if node is None:
                break
        if node is not None:
            out[field] = node if isinstance(node, bool | int | float | str) else str(node)
    return out


def to_dict(c: ml_collections.ConfigDict) -> dict:
    """The config as JSON-typed values (as in config.json), so saved and live configs compare."""
    return json.loads(c.to_json())


def defaults() -> dict:
    """smat's own default of every field (student fields included), as in config.json.

    A field added to smat after a run recorded its config.json is absent there; that run ran
    with the field's default, which is this (a new field's default keeps the old behaviour).
    """
    return to_dict(student_base(base()))


def diff(a: dict, b: dict, prefix: str = "", defaults: dict | None = None) -> list[str]:
    """Fields that differ between two config dicts, as 'field: old -> new' strings.

    defaults: each field's default (`defaults()`); a field `a` lacks (added to smat after `a`
    was recorded) and `b` holds at that default is not a difference: `a` ran with it.
    """
    out = []
    defaults = defaults or {}
    for key in sorted(set(a) | set(b)):
        name = f"{prefix}{key}"
        va, vb = a.get(key, "<absent>"), b.get(key, "<absent>")
        if isinstance(va, dict) and isinstance(vb, dict):
            sub = defaults.get(key)
            out += diff(va, vb, f"{name}.", sub if isinstance(sub, dict) else None)
        elif va == "<absent>" and key in defaults and defaults[key] == vb:
            continue
        elif va != vb:
            out.append(f"{name}: {va!r} -> {vb!r}")
    return out


def leaves(c, prefix: str = ""):
    """(dotted name, value) of every field of a config (or its dict), depth first."""
    for key, value in c.items():
        if isinstance(value, ml_collections.ConfigDict | dict):
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value

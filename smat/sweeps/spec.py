"""A sweep's cells: what each student run is, where it lives, and its config.

A sweep file defines `get_sweep(variant) -> Sweep`; its cells share one teacher (the `teacher`
section of the first cell's config) and each runs in `<root>/cells/<name>`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import traceback
from typing import Any

from smat import config as config_lib


@dataclasses.dataclass(frozen=True)
class Cell:
    """One student run.

    Attributes:
      name: unique, path-like ("smat/n500/seed0"): the cell's workdir is `<root>/cells/<name>`.
      config: a config spec, `path/to/config.py[:variant]` (relative to the sweep file).
      overrides: config fields to set, {"dotted.field": value}.
      labels: what the report groups by: "explainer", "num_examples", "seed"; optional
        "kind" overrides the kind the report reads from the config (e.g. "derived").
    """

    name: str
    config: str
    overrides: dict[str, Any]
    labels: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Sweep:
    """Cells sharing one teacher (the `teacher` section of the first cell's config)."""

    cells: list[Cell]
    description: str = ""


# The paper's explanation weights: β = 5 for attention teachers, 0.2 for gradient ones.
ATTENTION_BETA, GRADIENT_BETA = 5.0, 0.2


def paper_explainers(static: str, learnable: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """The paper's explainer table for a task, given its static- and learnable-teacher configs
    (paths relative to the sweep file): label -> (config, overrides) for `explainer_grid`.

    No explanation (β = 0), static attention over all layers' heads and of the last layer,
    gradient × input, gradient norm, integrated gradients, and learned attention (SMAT).
    """

    def static_with(name: str, beta: float, **more: Any) -> tuple[str, dict[str, Any]]:
        return static, {"teacher_explainer.name": name, **more, "beta": beta}

    return {
        "none": static_with("none", 0.0),
        "attention_all": static_with("attention", ATTENTION_BETA),
        "attention_last": static_with(
            "attention", ATTENTION_BETA, **{"teacher_explainer.layer": -1}
        ),
        "gradient_x_input": static_with("gradient_x_input", GRADIENT_BETA),
        "gradient_norm": static_with("gradient_norm", GRADIENT_BETA),
        "integrated_gradients": static_with("integrated_gradients", GRADIENT_BETA),
        "smat": (learnable, {"beta": ATTENTION_BETA}),
    }


def explainer_grid(
    explainers: dict[str, tuple[str, dict[str, Any]]],
    grids: dict[str, tuple[str, tuple[int, ...], tuple[int, ...], tuple[str, ...]]],
    variant: str,
    description: str = "",
    seed_major: bool = False,
) -> Sweep:
    """The usual grid: explainer x student size x seed.

    Args:
      explainers: label -> (config spec relative to the sweep file, without the variant;
        overrides).
      grids: sweep variant -> (config variant, student sizes, seeds, explainer labels).
      variant: the sweep variant to build.
      seed_major: run every explainer at a seed before the next seed, so that a sweep cut
        short leaves whole paired seeds (default: each explainer's seeds in turn).
    """
    if variant not in grids:
        raise ValueError(f"unknown variant {variant!r}; known: {', '.join(grids)}")
    config_variant, sizes, seeds, labels = grids[variant]
    order = (
        [(seed, label) for seed in seeds for label in labels]
        if seed_major
        else [(seed, label) for label in labels for seed in seeds]
    )
    cells = []
    for n in sizes:
        for seed, label in order:
            config_file, overrides = explainers[label]
            cells.append(
                Cell(
                    name=f"n{n}/{label}/seed{seed}",
                    config=f"{config_file}:{config_variant}",
                    overrides={**overrides, "num_examples": float(n), "seed": seed},
                    labels={"explainer": label, "num_examples": n, "seed": seed},
                )
            )
    return Sweep(cells=cells, description=description)


def load_sweep(path: str, variant: str, overrides: dict[str, Any] | None = None) -> Sweep:
    """Calls `get_sweep(variant)` of a sweep file; config paths become absolute.

    `overrides` ({"data.source": ...}) are set in every cell (and so in the teacher it trains);
    a field the grid itself varies cannot be overridden.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no sweep file {path!r}")
    sweep = _call_sweep_file(path, variant)
    here = os.path.dirname(os.path.abspath(path))
    names = [c.name for c in sweep.cells]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: cell names repeat")
    for i, c in enumerate(sweep.cells):
        for k, v in c.overrides.items():
            ref = isinstance(v, str) and v.startswith(CELL_REF)
            if ref and v[len(CELL_REF) :] not in names[:i]:
                raise ValueError(
                    f"{path}: cell {c.name} sets {k}={v!r}, which names no earlier cell"
                )
    overrides = overrides or {}
    clash = sorted({k for c in sweep.cells for k in c.overrides} & set(overrides))
    if clash:
        raise ValueError(f"--set {clash} would overwrite what the sweep's grid varies")
    cells = [
        dataclasses.replace(
            c,
            config=os.path.normpath(os.path.join(here, c.config)),
            overrides={**c.overrides, **overrides},
        )
        for c in sweep.cells
    ]
    return dataclasses.replace(sweep, cells=cells)


def _call_sweep_file(path: str, variant: str) -> Sweep:
    """`get_sweep(variant)` of the file; its errors as one ValueError naming file and line."""
    try:
        spec = importlib.util.spec_from_file_location("_smat_sweep", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not callable(getattr(module, "get_sweep", None)):
            raise ValueError(f"{path}: defines no get_sweep(variant) function")
        return module.get_sweep(variant)
    except SyntaxError as e:
        raise ValueError(f"{path} line {e.lineno}: {e.msg}") from None
    except ValueError as e:
        if str(e).startswith(path):
            raise
        raise ValueError(f"{path}{_line_in(path, e)}: {e}") from None
    except Exception as e:  # the file's own bug: where it is, in one line
        raise ValueError(f"{path}{_line_in(path, e)}: {type(e).__name__}: {e}") from None


def _line_in(path: str, error: BaseException) -> str:
    """The ' line N' of the innermost frame of `path` in the error's traceback ('' if none)."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == path]
    return f" line {frames[-1].lineno}" if frames else ""


FAILED = "failed.json"  # in a cell's workdir: the error of its last failed attempt

# An override value "cell:<name>" stands for that cell's workdir (e.g. a transfer cell's
# teacher_explainer.from_run names the SMAT cell it reuses); cells run in the sweep's order.
CELL_REF = "cell:"


def resolved_overrides(cell: Cell, root: str) -> dict[str, Any]:
    """The cell's overrides with "cell:<name>" references turned into workdirs."""
    return {
        k: cell_dir(root, v[len(CELL_REF) :])
        if isinstance(v, str) and v.startswith(CELL_REF)
        else v
        for k, v in cell.overrides.items()
    }


def cell_config(cell: Cell, root: str):
    """The cell's config: its file and overrides, with the sweep's shared teacher."""
    c = config_lib.from_file(cell.config)
    config_lib.override(c, {**resolved_overrides(cell, root), "teacher_workdir": teacher_dir(root)})
    return c


def teacher_dir(root: str) -> str:
    return os.path.join(os.path.abspath(root), "teacher")


def cell_dir(root: str, cell: Cell | str) -> str:
    name = cell if isinstance(cell, str) else cell.name
    return os.path.join(os.path.abspath(root), "cells", name)

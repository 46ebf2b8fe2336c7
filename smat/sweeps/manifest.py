"""`<root>/sweep.json`: the record of every cell any sweep ran on a root (what `smat.report`
reads), written under a lock so that sweeps starting together keep every record."""

from __future__ import annotations

import os
from typing import Any

from smat import checkpointing
from smat import config as config_lib
from smat import workdir as workdir_lib
from smat.sweeps.spec import Cell, Sweep, cell_config, cell_dir, load_sweep


def write_manifest(
    sweep: Sweep, root: str, sweep_file: str, variant: str, overrides: dict[str, Any]
) -> None:
    """Adds the sweep's cells to `<root>/sweep.json`, the root's record for `smat.report`.

    The manifest accumulates: cells of earlier invocations (another variant, another sweep file
    sharing the teacher) stay listed, and each invocation is recorded. A cell name already there
    with a different config is refused (ValueError naming the fields), before any work.
    """
    path = os.path.join(root, "sweep.json")
    configs = {cell.name: config_lib.to_dict(cell_config(cell, root)) for cell in sweep.cells}
    invocation = {
        "sweep_file": os.path.abspath(sweep_file),
        "variant": variant,
        "overrides": overrides,
        "description": sweep.description,
    }
    defaults = config_lib.defaults()  # a field recorded before it existed ran at its default
    os.makedirs(root, exist_ok=True)
    # Two sweeps starting on one root at once must both be recorded: read, merge and write
    # under one lock (and the write is atomic: a kill leaves the old file or the new one).
    with workdir_lib.exclusive(os.path.join(root, ".sweep.lock")):
        old = checkpointing.read_json(path) if os.path.isfile(path) else {"cells": []}
        cells = {c["name"]: c for c in old["cells"]}
        for cell in sweep.cells:
            known = cells.get(cell.name, {}).get("config")
            config = configs[cell.name]
            changes = config_lib.diff(known, config, defaults=defaults) if known else []
            if changes:
                raise ValueError(
                    f"cell {cell.name} is already in {path} with another config "
                    f"({'; '.join(changes)}): rename the cell or use another --root"
                )
            cells[cell.name] = {
                "name": cell.name,
                "workdir": cell_dir(root, cell),
                "labels": cell.labels,
                "config": config,
            }
        invocations = _invocations(old)
        if invocation not in invocations:
            invocations.append(invocation)
        checkpointing.write_json(path, {"invocations": invocations, "cells": list(cells.values())})


def _invocations(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    # Manifests written before they accumulated name one sweep file at the top level.
    if "invocations" in manifest:
        return list(manifest["invocations"])
    keys = ("sweep_file", "variant", "overrides", "description")
    return [{k: manifest.get(k) for k in keys}] if "sweep_file" in manifest else []


def read_manifest(root: str) -> dict[str, Any]:
    """`<root>/sweep.json` with its "invocations" (sweep file, variant, overrides, description
    of each sweep run on the root) and "cells"."""
    path = os.path.join(root, "sweep.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no {path}: run `python -m smat.sweep SWEEP_FILE --root {root}`")
    manifest = checkpointing.read_json(path)
    return {"invocations": _invocations(manifest), "cells": manifest["cells"]}


def manifest_cells(root: str) -> list[Cell]:
    """Every cell the root's manifest lists, rebuilt from the sweep files that defined them."""
    manifest = read_manifest(root)
    listed = {c["name"] for c in manifest["cells"]}
    out: dict[str, Cell] = {}
    for inv in manifest["invocations"]:
        for cell in load_sweep(inv["sweep_file"], inv["variant"], inv.get("overrides")).cells:
            if cell.name in listed:
                out.setdefault(cell.name, cell)
    return list(out.values())

"""How far a run's explainers moved from their uniform start: what the summary reports of φ
(the teacher's head weights, SMAT) and ψ (the students')."""

from __future__ import annotations

from typing import Any

import numpy as np

from smat import explainers
from smat.steps.student import distance_from_uniform


def movement(pairs: list[tuple[str, Any, list[Any]]]) -> dict[str, Any]:
    """For each (name, explainer, params of each student) of an attention explainer: the
    total-variation distance of the head weights from uniform (mean over the params), heads
    with weight > 0 (the count, or its mean over several), and the largest change of a head
    coefficient (of any)."""
    out: dict[str, Any] = {}
    for name, explainer, params in pairs:
        if explainer is None or not isinstance(explainer, explainers.AttentionExplainer):
            continue
        weights = [np.asarray(explainer.head_weights(p)) for p in params]
        start = np.asarray(explainer.init(*weights[0].shape)["head_logits"])
        out[f"{name}/distance_from_uniform"] = float(
            np.mean([distance_from_uniform(w) for w in weights])
        )
        nonzero = [int(np.sum(w > 0)) for w in weights]
        out[f"{name}/nonzero_heads"] = nonzero[0] if len(nonzero) == 1 else float(np.mean(nonzero))
        out[f"{name}/max_coefficient_change"] = float(
            max(np.abs(np.asarray(p["head_logits"]) - start).max() for p in params)
        )
    return out

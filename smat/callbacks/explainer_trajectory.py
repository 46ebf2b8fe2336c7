"""Record the explainers' head weights at every evaluation: does φ (and ψ) move, and where?

The student trainers provide `trainer.explainer_weights()`, which returns
{"teacher": [layers, heads] or None, "student": [layers, heads] or None}. The trajectory is
kept in the callback's state (saved with every checkpoint, so a resumed run keeps it) and
written to `<workdir>/explainer_trajectory.npz` after each evaluation: `step` [T], and
`teacher` / `student` [T, layers, heads] weights.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from smat.callbacks.base import Callback

FILE = "explainer_trajectory.npz"


class ExplainerTrajectory(Callback):
    """Head weights over evaluations; `image()` draws the teacher's as [evaluations, heads]."""

    def __init__(self):
        self.steps: list[int] = []
        self.weights: dict[str, list[list[float]]] = {"teacher": [], "student": []}
        self.shapes: dict[str, list[int]] = {}

    def on_eval_end(self, trainer, step, scalars):
        current = trainer.explainer_weights()
        self.steps.append(int(step))
        for who, w in current.items():
            if w is None:
                continue
            self.shapes[who] = list(w.shape)
            self.weights[who].append([float(x) for x in np.ravel(w)])
        if jax.process_index() == 0:
            self._write(os.path.join(trainer.workdir, FILE))

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"step": np.asarray(self.steps, np.int64)}
        for who, rows in self.weights.items():
            if rows:
                out[who] = np.asarray(rows, np.float32).reshape(-1, *self.shapes[who])
        return out

    def _write(self, path: str) -> None:
        tmp = path + ".tmp.npz"
        np.savez(tmp, **self.arrays())
        os.replace(tmp, path)

    def image(self, who: str = "teacher") -> np.ndarray | None:
        """[evaluations, layers * heads] weights scaled to [0, 1] (rows: evaluations in order)."""
        rows = self.weights[who]
        if not rows:
            return None
        m = np.asarray(rows, np.float32)
        return m / max(float(m.max()), 1e-12)

    def state_dict(self):
        return {"steps": self.steps, "weights": self.weights, "shapes": self.shapes}

    def load_state_dict(self, state):
        self.steps = [int(s) for s in state["steps"]]
        self.weights = {k: [list(r) for r in v] for k, v in state["weights"].items()}
        self.shapes = {k: list(v) for k, v in state["shapes"].items()}

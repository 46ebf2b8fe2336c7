"""SMAT on IMDB: the student and the teacher's attention explainer are trained jointly
(setup `learnable_teacher`: the meta-step of smat/meta.py).

The teacher explainer mixes every head's attention with coefficients normalised by sparsemax
(`--config.teacher_explainer.head_norm=softmax|entmax15|none`), initialised uniform; the meta
optimiser is AdamW lr 5e-4, clip 5, no weight decay (the paper's IMDB setting).

Variants (`:VARIANT`): default (CPU, minutes), smoke (seconds), paper (accelerators).
The teacher comes from `teacher_workdir` (default `<workdir>/teacher`); if none has finished
there, it is trained first with the matching variant of configs/imdb_teacher.py.
"""

import importlib.util
import os

_spec = importlib.util.spec_from_file_location(
    "_imdb_static", os.path.join(os.path.dirname(os.path.abspath(__file__)), "imdb_static.py")
)
_static = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_static)


def get_config(arg: str | None = None):
    c = _static.student_config(arg, "learnable_teacher")
    c.teacher_explainer.name = "attention"
    return c

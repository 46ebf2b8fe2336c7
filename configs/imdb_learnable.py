"""SMAT on IMDB: the student and the teacher's attention explainer are trained jointly
(setup `learnable_teacher`: the meta-step of smat/steps/meta.py).

The teacher explainer mixes every head's attention with coefficients normalised by sparsemax
(`--config.teacher_explainer.head_norm=softmax|entmax15|none`), initialised uniform; the meta
optimiser is AdamW lr 5e-4, clip 5, no weight decay (the paper's IMDB setting).

Variants (`:VARIANT`): default (CPU, minutes; the evidence sweeps), deep (2-layer students,
the whole 6-layer teacher, meta lr 2e-3: the deep study's choice on validation, where SMAT
teaches 4 points better than the uniform mix), quick (the README's quick start, a few
minutes: the 6-layer teacher and meta lr 2e-3 as deep), smoke (seconds), paper (accelerators).
The teacher comes from `teacher_workdir` (default `<workdir>/teacher`); if none has finished
there, it is trained first with the matching variant of configs/imdb_teacher.py.
"""

from smat import config as common

_static = common.sibling_module(__file__, "imdb_static.py")


def get_config(arg: str | None = None):
    c = _static.student_config(arg, "learnable_teacher")
    c.teacher_explainer.name = "attention"
    if arg in ("deep", "quick"):
        # Chosen on validation in experiments/imdb_smat_study.py's deep variant (5e-4 / 2e-3 /
        # 1e-2: 0.856 / 0.872 / 0.866): at 5e-4 the head weights are budget-bound. The quick
        # start took it with the 6-layer teacher by the rule experiments/quick_start_study.py
        # fixed before its `headroom` cells ran (the learned mix moved 0.46 from uniform and
        # validated above the uniform mix).
        c.meta.optim.learning_rate = 2e-3
    return c

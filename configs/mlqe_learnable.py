"""SMAT on MLQE-PE: student and teacher attention explainer trained jointly.

Data and variants: see configs/quality_estimation.py (`--config.data.source=` is required).
"""

from smat import config as common

qe = common.sibling_module(__file__, "quality_estimation.py")


def get_config(arg: str | None = None):
    return qe.student_config(arg, "learnable_teacher")

"""A student of the MLQE-PE teacher with a fixed teacher explainer (`static_teacher`).

Data and variants: see configs/quality_estimation.py (`--config.data.source=` is required).
"""

from smat import config as common

qe = common.sibling_module(__file__, "quality_estimation.py")


def get_config(arg: str | None = None):
    return qe.student_config(arg, "static_teacher")

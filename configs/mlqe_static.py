"""A student of the MLQE-PE teacher with a fixed teacher explainer (`static_teacher`).

Data and variants: see configs/quality_estimation.py (`--config.data.source=` is required).
"""

import importlib.util
import os

_spec = importlib.util.spec_from_file_location(
    "_qe", os.path.join(os.path.dirname(os.path.abspath(__file__)), "quality_estimation.py")
)
qe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(qe)


def get_config(arg: str | None = None):
    return qe.student_config(arg, "static_teacher")

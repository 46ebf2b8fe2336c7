"""SMAT on CIFAR-100: student and teacher attention explainer over patches, jointly.

Variants and data: see configs/vision.py. The teacher comes from `teacher_workdir` (default
`<workdir>/teacher`) and is trained first if none has finished there.
"""

import importlib.util
import os

_spec = importlib.util.spec_from_file_location(
    "_vision", os.path.join(os.path.dirname(os.path.abspath(__file__)), "vision.py")
)
vision = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vision)


def get_config(arg: str | None = None):
    return vision.student_config("cifar100", arg, "learnable_teacher")

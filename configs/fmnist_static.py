"""A ViT student of the Fashion-MNIST teacher, fixed teacher explainer (`static_teacher`).

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
    return vision.student_config("fashion_mnist", arg, "static_teacher")

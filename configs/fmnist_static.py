"""A ViT student of the Fashion-MNIST teacher, fixed teacher explainer (`static_teacher`).

Variants and data: see configs/vision.py. The teacher comes from `teacher_workdir` (default
`<workdir>/teacher`) and is trained first if none has finished there.
"""

from smat import config as common

vision = common.sibling_module(__file__, "vision.py")


def get_config(arg: str | None = None):
    return vision.student_config("fashion_mnist", arg, "static_teacher")

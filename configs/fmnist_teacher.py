"""Train a ViT teacher on Fashion-MNIST (setup `no_teacher`).

Variants and data: see configs/vision.py. The teacher comes from `teacher_workdir` (default
`<workdir>/teacher`) and is trained first if none has finished there.
"""

from smat import config as common

vision = common.sibling_module(__file__, "vision.py")


def get_config(arg: str | None = None):
    return vision.teacher_config("fashion_mnist", arg)

"""Fashion-MNIST with a ViT: which teacher explanations over image patches help a student?

  python -m smat.sweep experiments/fmnist_paper.py --root runs/fmnist --variant cpu
  python -m smat.report runs/fmnist

Explainers (the teacher's [CLS] attention row over patches; β = 5 for attention, 0.2 for
gradients): no explanation (β = 0), static attention over all layers' heads, gradient × input
over the patch embeddings, and learned attention (SMAT). The teacher is a small ViT trained from
scratch (configs/vision.py, about 3 minutes on 2 cores).

Variants:
  smoke  static attention and SMAT, 64 examples, 1 seed, tiny models (the test suite runs it).
  cpu    every explainer at 2,250 examples (the paper's smallest CIFAR-100 student size),
         seeds 0-2: about 25 minutes on 2 CPU cores.
"""

from smat.sweep import Sweep, explainer_grid

ATTENTION, GRADIENT = 5.0, 0.2
STATIC, LEARNABLE = "../configs/fmnist_static.py", "../configs/fmnist_learnable.py"
EXPLAINERS = {
    "none": (STATIC, {"teacher_explainer.name": "none", "beta": 0.0}),
    "attention_all": (STATIC, {"teacher_explainer.name": "attention", "beta": ATTENTION}),
    "gradient_x_input": (STATIC, {"teacher_explainer.name": "gradient_x_input", "beta": GRADIENT}),
    "smat": (LEARNABLE, {"beta": ATTENTION}),
}
GRIDS = {
    "smoke": ("smoke", (64,), (0,), ("attention_all", "smat")),
    "cpu": ("default", (2250,), (0, 1, 2), tuple(EXPLAINERS)),
}


def get_sweep(variant: str) -> Sweep:
    return explainer_grid(EXPLAINERS, GRIDS, variant, __doc__.split("\n\n")[0])

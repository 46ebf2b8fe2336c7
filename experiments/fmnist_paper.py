"""Fashion-MNIST with a ViT: which teacher explanations over image patches help a student?

  python -m smat.sweep experiments/fmnist_paper.py --root runs/fmnist --variant cpu
  python -m smat.report runs/fmnist

Explainers: the paper's table (attention is the teacher's [CLS] row over patches; gradients
are over the patch embeddings; β = 5 for attention, 0.2 for gradients); the `cpu` variant runs
no explanation (β = 0), static attention over all layers' heads, gradient × input and SMAT.
The teacher is a small ViT trained from scratch (configs/vision.py, about 3 minutes on 2 cores).

Variants:
  smoke  static attention and SMAT, 64 examples, 1 seed, tiny models (the test suite runs it).
  cpu    four explainers at 2,250 examples (the paper's smallest CIFAR-100 student size),
         seeds 0-2: about 25 minutes on 2 CPU cores.
"""

from smat.sweep import Sweep, explainer_grid, paper_explainers

# The paper's table (smat.sweeps.spec.paper_explainers); the CPU grid runs four of its rows.
EXPLAINERS = paper_explainers("../configs/fmnist_static.py", "../configs/fmnist_learnable.py")
CPU_EXPLAINERS = ("none", "attention_all", "gradient_x_input", "smat")
GRIDS = {
    "smoke": ("smoke", (64,), (0,), ("attention_all", "smat")),
    "cpu": ("default", (2250,), (0, 1, 2), CPU_EXPLAINERS),
}


def get_sweep(variant: str) -> Sweep:
    return explainer_grid(EXPLAINERS, GRIDS, variant, __doc__.split("\n\n")[0])

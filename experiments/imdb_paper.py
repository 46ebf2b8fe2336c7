"""The paper's IMDB grid: which teacher explanations help a student simulate the teacher?

  python -m smat.sweep experiments/imdb_paper.py --root runs/imdb_paper --variant cpu
  python -m smat.report runs/imdb_paper

Explainers (β = 5 for attention, 0.2 for gradient teachers, as in the paper): no explanation
(β = 0), static attention over all layers, static attention of the last layer, gradient × input,
gradient norm, integrated gradients, and learned attention (SMAT).

Variants:
  smoke  one explainer of each family, 64 examples, 1 seed, tiny models: the test suite runs
         it end to end with the report (about a minute).
  cpu    every explainer at 500 examples (the configs' CPU default: the first 2 MiniLM layers,
         5 epochs), seeds 0 and 1: about an hour on 2 CPU cores.
  paper  the full grid for accelerators: 500 / 1000 / 2000 examples, 5 seeds, paper configs.
"""

from smat.sweep import Sweep, explainer_grid, paper_explainers

EXPLAINERS = paper_explainers("../configs/imdb_static.py", "../configs/imdb_learnable.py")

GRIDS = {
    # variant: (config variant, num_examples, seeds, explainers)
    "smoke": ("smoke", (64,), (0,), ("none", "attention_last", "gradient_x_input", "smat")),
    "cpu": ("default", (500,), (0, 1), tuple(EXPLAINERS)),
    "paper": ("paper", (500, 1000, 2000), (0, 1, 2, 3, 4), tuple(EXPLAINERS)),
}


def get_sweep(variant: str) -> Sweep:
    return explainer_grid(EXPLAINERS, GRIDS, variant, __doc__.split("\n\n")[0])

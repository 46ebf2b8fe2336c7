"""MLQE-PE quality estimation (regression, sentence pairs): which explanations help a student?

  python -m smat.sweep experiments/mlqe_paper.py --root runs/mlqe --variant cpu \
      --set data.source=/path/to/mlqe-pe/data/direct-assessments
  python -m smat.report runs/mlqe --explanations 200 --word-tags /path/to/word-level/test

Simulability is the Pearson r between student and teacher scores. Explainers: the paper's
table (no explanation, static attention over all layers or the last, gradient × input,
gradient norm, integrated gradients, learned attention; β = 5 for attention, 0.2 for
gradients). With `--word-tags`, plausibility is measured against the BAD words of MLQE-PE's
post-edited translations.

Variants:
  smoke  gradient x input and SMAT, 64 examples, 1 seed (the test suite runs it on
         generated files, `smat.evaluation.synthetic.write_qe_task`).
  cpu    none, attention over all layers, gradient × input and SMAT at 2,100 examples (the
         paper's smallest size), seeds 0-2, MiniLM layers.
  paper  every explainer at 2,100 / 4,100 / 8,400 examples, 5 seeds, XLM-R base
         (`--set model.checkpoint=...`).
"""

from smat.sweep import Sweep, explainer_grid, paper_explainers

# The paper's table (smat.sweeps.spec.paper_explainers); the CPU grid runs four of its rows.
EXPLAINERS = paper_explainers("../configs/mlqe_static.py", "../configs/mlqe_learnable.py")
CPU_EXPLAINERS = ("none", "attention_all", "gradient_x_input", "smat")
GRIDS = {
    "smoke": ("smoke", (64,), (0,), ("gradient_x_input", "smat")),
    "cpu": ("default", (2100,), (0, 1, 2), CPU_EXPLAINERS),
    "paper": ("paper", (2100, 4100, 8400), (0, 1, 2, 3, 4), tuple(EXPLAINERS)),
}


def get_sweep(variant: str) -> Sweep:
    return explainer_grid(EXPLAINERS, GRIDS, variant, __doc__.split("\n\n")[0])

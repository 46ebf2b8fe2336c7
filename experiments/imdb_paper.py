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

from smat.sweep import Cell, Sweep

ATTENTION, GRADIENT = 5.0, 0.2
EXPLAINERS = {
    # label: (config file, overrides)
    "none": ("imdb_static.py", {"teacher_explainer.name": "none", "beta": 0.0}),
    "attention_all": ("imdb_static.py", {"teacher_explainer.name": "attention", "beta": ATTENTION}),
    "attention_last": (
        "imdb_static.py",
        {"teacher_explainer.name": "attention", "teacher_explainer.layer": -1, "beta": ATTENTION},
    ),
    "gradient_x_input": (
        "imdb_static.py",
        {"teacher_explainer.name": "gradient_x_input", "beta": GRADIENT},
    ),
    "gradient_norm": (
        "imdb_static.py",
        {"teacher_explainer.name": "gradient_norm", "beta": GRADIENT},
    ),
    "integrated_gradients": (
        "imdb_static.py",
        {"teacher_explainer.name": "integrated_gradients", "beta": GRADIENT},
    ),
    "smat": ("imdb_learnable.py", {"beta": ATTENTION}),
}

GRIDS = {
    # variant: (config variant, num_examples, seeds, explainers)
    "smoke": ("smoke", (64,), (0,), ("none", "attention_last", "gradient_x_input", "smat")),
    "cpu": ("default", (500,), (0, 1), tuple(EXPLAINERS)),
    "paper": ("paper", (500, 1000, 2000), (0, 1, 2, 3, 4), tuple(EXPLAINERS)),
}


def get_sweep(variant: str) -> Sweep:
    if variant not in GRIDS:
        raise ValueError(f"unknown variant {variant!r}; known: {', '.join(GRIDS)}")
    config_variant, sizes, seeds, labels = GRIDS[variant]
    cells = []
    for n in sizes:
        for label in labels:
            config_file, overrides = EXPLAINERS[label]
            for seed in seeds:
                cells.append(
                    Cell(
                        name=f"n{n}/{label}/seed{seed}",
                        config=f"../configs/{config_file}:{config_variant}",
                        overrides={**overrides, "num_examples": float(n), "seed": seed},
                        labels={"explainer": label, "num_examples": n, "seed": seed},
                    )
                )
    return Sweep(cells=cells, description=__doc__.split("\n\n")[0])

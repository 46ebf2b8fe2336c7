"""Does the quick start show the point? The meta learning rate of the `quick` variant.

The README's quick start (configs/imdb_learnable.py:quick) ran 39 meta-steps at the default
meta learning rate 5e-4, after which the learned head mix was 0.065 (total variation) from
uniform: a newcomer saw SMAT learn nothing. This study tries larger meta learning rates in the
same run time, beside the static uniform mix of the same teacher:

  python -m smat.sweep experiments/quick_start_study.py --root runs/quick_start_study
  python -m smat.report runs/quick_start_study

Fixed before running (issue 31, item 4): cells static attention (uniform, β = 5) and SMAT at
meta lr 5e-4 / 5e-3 / 2e-2, seeds 0-2, the `quick` config. The quick variant adopts the meta
lr with the highest mean *validation* simulability among those whose learned mix is at least
0.3 from uniform (mean over seeds), provided that mean is not more than 0.5 points below the
static mix's; otherwise it keeps 5e-4. Test numbers are read only after that choice.
"""

from smat.sweep import Cell, Sweep

SEEDS = (0, 1, 2)
ARMS = {
    "attention_all": ("../configs/imdb_static.py:quick", {"beta": 5.0}),
    "smat_lr5e-4": ("../configs/imdb_learnable.py:quick", {"meta.optim.learning_rate": 5e-4}),
    "smat_lr5e-3": ("../configs/imdb_learnable.py:quick", {"meta.optim.learning_rate": 5e-3}),
    "smat_lr2e-2": ("../configs/imdb_learnable.py:quick", {"meta.optim.learning_rate": 2e-2}),
}


def get_sweep(variant: str) -> Sweep:
    if variant != "cpu":
        raise ValueError(f"unknown variant {variant!r}; known: cpu")
    cells = [
        Cell(
            name=f"n500/{arm}/seed{seed}",
            config=config,
            overrides={**overrides, "seed": seed},
            labels={"explainer": arm, "num_examples": 500, "seed": seed},
        )
        for seed in SEEDS
        for arm, (config, overrides) in ARMS.items()
    ]
    return Sweep(cells=cells, description=__doc__.split("\n\n")[0])

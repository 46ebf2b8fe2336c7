"""Do explanations help a student simulate its teacher, counted over seeds? (issue 30)

The README's first finding, "students taught with attention explanations agree with the teacher
about 4-5 points more often than students without", rests on two small studies (3 seeds in
experiments/imdb_cpu_study.py, 2 in the paper grid's `cpu` variant), too few for a seed-level
test: a sign-flip over 3 pairs cannot go below p = 0.25. This study tests it at the standard the
reports now hold every claim to.

  python -m smat.sweep experiments/explanations_help_study.py --root runs/explanations_help
  python -m smat.report runs/explanations_help --compare attention_all:none --no-default-tests \
      --out experiments/results/explanations_help \
      --archive experiments/results/explanations_help/archive

Fixed before any cell ran: the CPU default protocol (configs/imdb_static.py:default, its
default teacher: the first 2 MiniLM layers fine-tuned on 6,000 reviews; students 500 reviews,
5 epochs), two arms, no explanation (β = 0) and static attention over all 24 heads (β = 5),
seeds 0-9 for both (the seed sets the student's initialisation and data order, so the arms are
paired by seed), run seed by seed so that a sweep cut short leaves whole pairs. The family is
one test, attention vs none: the claim stands if the exact sign-flip test over the 10 paired
seeds gives p < 0.05 (Holm over a family of one is p itself). About 75 minutes on 2 CPU cores.
"""

from smat.sweep import Sweep, explainer_grid, paper_explainers

# The paper grid's two arms: none (β = 0) and attention over all heads (β = 5).
EXPLAINERS = paper_explainers("../configs/imdb_static.py", "../configs/imdb_learnable.py")
GRIDS = {"cpu": ("default", (500,), tuple(range(10)), ("none", "attention_all"))}


def get_sweep(variant: str) -> Sweep:
    question = __doc__.split("\n\n")[0]
    return explainer_grid(EXPLAINERS, GRIDS, variant, question, seed_major=True)

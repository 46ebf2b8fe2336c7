"""A student simulating the IMDB teacher, with a fixed teacher explainer (setup `static_teacher`).

Choose the teacher explainer by name: `--config.teacher_explainer.name=` attention (all layers;
add `--config.teacher_explainer.layer=-1` for the last layer only), gradient_x_input,
gradient_norm, integrated_gradients, attention_x_value, or none (no explanation, β unused).
The paper uses β = 5 for attention and β = 0.2 for gradient explainers.

Variants (`:VARIANT`): default (CPU, minutes; the evidence sweeps), deep (the default's
students taught by the whole 6-layer teacher: where a learned explainer teaches better), quick
(the README's quick start: 2-layer students under the 6-layer teacher, a few minutes), smoke
(seconds), paper (accelerators).
The teacher comes from `teacher_workdir` (default `<workdir>/teacher`); if none has finished
there, it is trained first with the matching variant of configs/imdb_teacher.py.
"""

import os

from smat import config as common

VARIANTS = ("default", "deep", "quick", "smoke", "paper")


def student_config(arg, setup: str):
    """Shared by imdb_static.py and imdb_learnable.py."""
    v = common.variant(arg, VARIANTS)
    here = os.path.dirname(os.path.abspath(__file__))
    teacher = common.from_file(os.path.join(here, f"imdb_teacher.py:{v}"))
    teacher.unlock()
    c = common.student_of(teacher, setup)
    if v in ("deep", "quick"):  # 2-layer students under the whole 6-layer teacher
        c.model.num_layers = 2
    if v in ("default", "deep"):
        # Pretrained students learn from a few hundred examples (random ones do not: see
        # MEASUREMENTS.md); AdamW as in that reference, eps_root > 0 for the meta-gradient.
        c.num_examples = 500.0
        c.train.num_epochs = 5.0
        c.train.eval_every_steps = 31  # about once per epoch (500 // 16 steps)
        c.optim.update(learning_rate=5e-5, schedule="constant", eps_root=1e-12)
        c.data.max_valid_examples = 0
    elif v == "quick":
        # The default, cut where a run's time breakdown says the time goes (measured in
        # experiments/results/quick_start_cpu.md): word embeddings frozen (0.81x a SMAT step),
        # a meta-step every 2 steps (0.58x with the former), 2.5 epochs instead of 5, and
        # smaller validation and test prefixes (teacher forwards for the cache, and
        # evaluations). 400 examples would save 30 s but agree with the teacher far less.
        c.num_examples = 500.0
        c.train.num_epochs = 2.5
        c.train.eval_every_steps = 40
        c.train.frozen = "word_embeddings"
        c.meta.interval = 2
        c.optim.update(learning_rate=5e-5, schedule="constant", eps_root=1e-12)
        c.data.max_valid_examples = 250
    elif v == "smoke":
        c.num_examples = 64.0
        common.short_run(c, steps=12, eval_every=4, max_valid=128, max_test=256)
        c.optim.update(learning_rate=1e-3, schedule="constant", eps_root=1e-12, warmup_steps=0)
    elif v == "paper":
        # The original student optimiser: SGD lr 5e-3, clip 5, weight decay 0.01.
        c.num_examples = 500.0
        c.train.num_epochs = 20.0
        c.train.eval_every_steps = 32
        c.optim.update(
            name="sgd",
            learning_rate=5e-3,
            schedule="constant",
            warmup_steps=0,
            grad_clip=5.0,
            weight_decay=0.01,
        )
    return c


def get_config(arg: str | None = None):
    return student_config(arg, "static_teacher")

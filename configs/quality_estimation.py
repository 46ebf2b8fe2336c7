"""Shared by the MLQE-PE configs (mlqe_*.py): a sentence-pair regression teacher and students.

Not a config itself. The data are local MLQE-PE direct-assessment .tsv files (a file, or a
folder whose .tsv files are pooled): `--config.data.source=/path/to/mlqe-pe/data/...`. The
teacher regresses `z_mean` from (source, translation) pairs; students simulate its score and
simulability is the Pearson r between student and teacher outputs.

Variants: default (CPU: the first 2 layers of the offline MiniLM; any .tsv in the format),
smoke (seconds; the test suite uses generated files, `smat.evaluation.synthetic.write_qe_task`),
paper (accelerators: the original protocol with XLM-R base from a local HF folder, 2,100 / 4,100
/ 8,400 student examples, meta lr 2e-4).
"""

from smat import config as common

VARIANTS = ("default", "smoke", "paper")


def teacher_config(arg: str | None):
    v = common.variant(arg, VARIANTS)
    c = common.base()
    c.setup = "no_teacher"
    c.task = "regression"
    c.data.name = "mlqe"
    c.data.source = ""  # required: MLQE-PE .tsv file or folder
    c.data.text_column, c.data.pair_column, c.data.label_column = (
        "original",
        "translation",
        "z_mean",
    )
    c.train.monitor = "val/pearson"
    c.data.split.update(student_test=1000, student_valid=500, student_train=2100, teacher_valid=500)
    c.model.checkpoint = "minilm"
    if v == "default":
        c.model.num_layers = 2
        c.data.max_length = 96
        c.train.num_epochs = 2.0
        c.optim.update(learning_rate=1e-4, warmup_steps=40)
        c.train.eval_every_steps = 100
    elif v == "smoke":
        c.model.num_layers = 1
        c.data.max_length = 32
        c.data.split.update(student_test=64, student_valid=32, student_train=96, teacher_valid=32)
        c.train.batch_size = 16
        common.short_run(c, steps=40, eval_every=20, log_every=10)
        c.optim.update(learning_rate=1e-3, warmup_steps=4)
    elif v == "paper":
        c.model.checkpoint = "REQUIRED: a local HF xlm-roberta-base folder"
        c.model.num_layers = 0
        c.data.max_length = 128
        c.data.split.update(
            student_test=2000, student_valid=1000, student_train=8400, teacher_valid=1000
        )
        c.train.num_epochs = 5.0
        c.optim.update(learning_rate=2e-5, warmup_steps=500)
        c.train.eval_every_steps = 500
        c.ckpt.every_steps = 500
    return c


def student_config(arg: str | None, setup: str):
    v = common.variant(arg, VARIANTS)
    teacher = teacher_config(v)
    c = common.student_of(teacher, setup)
    c.optim.update(schedule="constant", warmup_steps=0, eps_root=1e-12)
    if v == "default":
        c.num_examples = 2100.0
        c.train.num_epochs = 5.0
        c.train.eval_every_steps = 131  # once per epoch
        c.optim.learning_rate = 5e-5
    elif v == "smoke":
        c.num_examples = 64.0
        common.short_run(c, steps=8, eval_every=4)
        c.optim.learning_rate = 1e-3
    elif v == "paper":
        c.num_examples = 2100.0
        c.train.num_epochs = 20.0
        c.train.eval_every_steps = 131
        c.optim.learning_rate = 2e-5
        c.meta.optim.learning_rate = 2e-4
    return c

"""Shared by the image configs (fmnist_*.py, cifar100_*.py): a ViT teacher and its students.

Not a config itself: `teacher_config(dataset, variant)` and `student_config(dataset, variant,
setup)` build the configs the fmnist_* / cifar100_* files return.

Datasets:
  fashion_mnist: 70,000 28x28 grey images (`apt-get install dataset-fashion-mnist`).
  cifar100:      60,000 32x32 colour images from the unpacked `cifar-100-python/` folder
                 (`--config.data.source=/path/to/cifar-100-python`).
Variants: default (CPU, minutes: a small ViT from scratch), smoke (seconds), paper (CIFAR-100
only, accelerators: the original protocol with a pretrained ViT folder in model.checkpoint).
"""

from smat import config as common

# The paper variant is the original CIFAR-100 protocol; Fashion-MNIST was not in the paper.
VARIANTS = {"fashion_mnist": ("default", "smoke"), "cifar100": ("default", "smoke", "paper")}


def teacher_config(dataset: str, arg: str | None):
    v = common.variant(arg, VARIANTS[dataset])
    c = common.base()
    c.setup = "no_teacher"
    c.data.name = dataset
    c.model.name = "vit_classifier"
    c.model.checkpoint = ""
    c.model.pooling = "cls"
    c.model.dropout = 0.0
    c.model.attention_dropout = 0.0
    c.optim.update(learning_rate=1e-3, weight_decay=0.05, warmup_steps=100, schedule="cosine")
    c.train.monitor = "val/accuracy"
    # Student splits sized like the paper's CIFAR-100 protocol (test / valid / up to 9,000
    # student training images); the teacher trains on the rest.
    c.data.split.update(
        student_test=2000, student_valid=1000, student_train=9000, teacher_valid=2000
    )
    if dataset == "fashion_mnist":
        c.data.source = "packaged"
        c.model.update(image_size=28, patch_size=4, num_channels=1, image_mean=(0.286,))
        c.model.image_std = (0.353,)
    else:
        c.data.source = ""  # required: the cifar-100-python folder
        c.model.update(image_size=32, patch_size=4, num_channels=3)
        c.model.image_mean = (0.507, 0.487, 0.441)
        c.model.image_std = (0.267, 0.256, 0.276)
    if v == "default":
        c.model.update(num_layers=4, hidden_size=96, num_heads=4, intermediate_size=192)
        c.data.max_train_examples = 20000
        c.train.batch_size = 64
        c.train.num_epochs = 3.0
        c.train.eval_batch_size = 250
        c.train.eval_every_steps = 250
    elif v == "smoke":
        c.model.update(num_layers=2, hidden_size=32, num_heads=2, intermediate_size=64)
        c.train.batch_size = 32
        common.short_run(
            c, steps=32, eval_every=16, log_every=8, max_train=1024, max_valid=256, max_test=256
        )
        c.optim.update(learning_rate=3e-3, warmup_steps=4)
    elif v == "paper":
        # ViT-base/16 at 224x224 (images are resized inside the model), fine-tuned on a 45k/5k
        # split of the CIFAR-100 training images as in the original; give its HF folder.
        c.model.checkpoint = "REQUIRED: a local HF ViT folder, e.g. google/vit-base-patch16-224"
        c.data.split.update(
            student_test=2000, student_valid=1000, student_train=9000, teacher_valid=5000
        )
        c.train.batch_size = 32
        c.train.num_epochs = 3.0
        c.optim.update(learning_rate=5e-5, weight_decay=0.0, warmup_steps=500, schedule="linear")
        c.train.eval_every_steps = 1000
        c.ckpt.every_steps = 500
    return c


def student_config(dataset: str, arg: str | None, setup: str):
    """A student of `teacher_config(dataset, arg)`: same architecture, fresh initialisation."""
    v = common.variant(arg, VARIANTS[dataset])
    teacher = teacher_config(dataset, v)
    c = common.student_of(teacher, setup)
    c.optim.update(schedule="constant", warmup_steps=0, eps_root=1e-12)
    c.train.batch_size = 32
    c.train.eval_batch_size = 250
    c.beta = 5.0
    c.teacher_explainer.query = "cls"  # what the [CLS] token (the classifier's input) reads
    c.student_explainer.query = "cls"
    if v == "default":
        c.num_examples = 2250.0
        c.train.num_epochs = 12.0
        c.train.eval_every_steps = 70  # once per epoch
        c.optim.update(learning_rate=1e-3, weight_decay=0.05)
    elif v == "smoke":
        c.num_examples = 64.0
        c.train.batch_size = 16
        common.short_run(c, steps=8, eval_every=4, max_valid=64, max_test=128)
        c.train.eval_batch_size = 64
        c.optim.update(learning_rate=3e-3)
    elif v == "paper":
        # The original CIFAR-100 students: 2,250 / 4,500 / 9,000 examples, meta lr 2e-4.
        c.num_examples = 2250.0
        c.train.num_epochs = 20.0
        c.train.eval_every_steps = 100
        c.optim.update(learning_rate=5e-5, weight_decay=0.0)
        c.meta.optim.learning_rate = 2e-4
    return c

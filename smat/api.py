"""`smat.train_explainer`: learn an explainer for your own Flax model in a few lines
(and `smat.train_teacher`, to train a model on in-memory data with the same machinery).

It builds a student config from `smat.config` (the documented defaults, nothing else), then
runs the same trainers as `python -m smat.main` (jitted meta-step, callbacks, Orbax checkpoints,
TensorBoard) with your teacher and data passed in, and returns the explainer of the best step.
"""

from __future__ import annotations

import inspect
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import ml_collections

from smat import config as config_lib
from smat import data as data_lib
from smat import models
from smat.callbacks import Callback
from smat.data.pipeline import as_dataset
from smat.errors import ConfigError
from smat.teacher import Teacher
from smat.trained_explainer import TrainedExplainer

# Explainer names that have parameters SMAT can learn.
LEARNABLE = ("attention",)


def _as_built(model: Any, config: ml_collections.ConfigDict, num_classes: int, vocab: int):
    if isinstance(model, models.BuiltModel):
        return model
    if isinstance(model, str):
        cfg = config.model
        with cfg.ignore_type():
            cfg.name = model
        return models.build_model(cfg, num_classes, vocab)
    models.adapt(model)  # refuses what is not a model, with a message
    return models.BuiltModel(model)


def _student(student: Any, teacher: models.BuiltModel, config, num_classes: int, vocab: int):
    if isinstance(student, str) and student == "same":
        if teacher.adapted.init is None:
            raise ConfigError(
                "student='same' re-initialises the teacher's architecture, but an nnx module is "
                "initialised by its constructor: pass student=YourModel(..., rngs=nnx.Rngs(seed))"
            )
        # Same architecture, fresh initialisation; smat's own models reload their pretraining.
        return models.BuiltModel(teacher.module, teacher.pretrained, teacher.description)
    return _as_built(student, config, num_classes, vocab)


def student_trainer(
    teacher: Any,
    teacher_params: Any = None,
    *,
    train_data: Any,
    valid_data: Any,
    test_data: Any = None,
    num_examples: float = 500.0,
    student: Any = "same",
    task: str = "classification",
    explainer: str | dict[str, Any] = "attention",
    learn: bool = True,
    beta: float = 5.0,
    seed: int = 0,
    num_students: int = 1,
    workdir: str | None = None,
    config: dict[str, Any] | None = None,
    callbacks: Sequence[Callback] = (),
    default_callbacks: bool = True,
):
    """The trainer of `train_explainer`, built but not run (`.fit()` trains; `.setup()` alone
    builds the student, the cached teacher outputs and the jitted step, for inspection).

    Args:
      teacher: a flax.linen Module, an nnx Module instance, or the name of a registered model
        (`smat.register_model`); it must follow `smat.models.protocol` (return
        `smat.ModelOutput` with logits, plus attention_logits for the attention explainer or
        input_embeds for gradient explainers).
      teacher_params: the teacher's trained params (an nnx instance brings its own).
      train_data: the pool of student training examples: a dict of arrays (`input_ids`
        [N, tokens], `attention_mask`, optional `label`), or an iterable of such batches.
      valid_data: student validation examples (the meta-step's outer loss, model selection).
      test_data: examples for the final simulability; default: valid_data (then the reported
        test simulability is the selection metric itself, optimistically biased).
      num_examples: student training examples, a count (>= 1) or a fraction (< 1) of train_data.
      student: "same" (the teacher's architecture, freshly initialised), a registered model
        name (built from `config.model`), or a linen module / nnx instance.
      task: "classification" (simulate the teacher's class; simulability = accuracy) or
        "regression" (simulate its output value, [batch] or [batch, 1]; simulability =
        Pearson r, `test/rmse` too).
      explainer: the teacher explainer's name, or a dict of `smat.config.explainer_section`
        fields (e.g. {"name": "attention", "head_norm": "softmax"}).
      learn: train the explainer with SMAT (attention only); False keeps it fixed (a baseline).
      beta: weight of the explanation loss (the paper: 5 for attention, 0.2 for gradients).
      seed: student initialisation and data order.
      num_students: with learn, K students (seeds seed + 1000 k) trained side by side share the
        explainer, which follows the mean of their meta-gradients: a steadier explainer than
        one student gives, at about K times the step cost.
      workdir: where checkpoints, TensorBoard events and the summary go (default: a new
        temporary folder, printed); an existing run there is resumed.
      config: overrides of any other `smat.config` field, as {"dotted.name": value}, e.g.
        {"train.num_epochs": 10, "optim.learning_rate": 1e-4, "train.batch_size": 32}. Every
        default is the documented one of `smat.config.student_base` (no hidden warmup).
      callbacks: `smat.callbacks.Callback`s run beside the defaults (early stopping,
        checkpoints, metric writers, progress bar) and those `config["callbacks"]` names.
      default_callbacks: False drops the defaults; `callbacks` must then include a
        `smat.callbacks.Checkpoint` (the test reads the best checkpoint), else a ConfigError.
    Returns:
      A StaticTeacherTrainer or (SMAT) LearnableTeacherTrainer.
    """
    from smat.trainers import TRAINERS

    c = config_lib.student_base(config_lib.base())
    c.seed = seed
    c.meta.num_students = num_students
    c.num_examples = float(num_examples)
    c.beta = float(beta)
    c.task = task
    spec = {"name": explainer} if isinstance(explainer, str) else dict(explainer)
    config_lib.override(c, {f"teacher_explainer.{k}": v for k, v in spec.items()})
    learnable = learn and c.teacher_explainer.name in LEARNABLE
    if learn and not learnable and c.teacher_explainer.name != "none":
        print(f"explainer {c.teacher_explainer.name!r} has no parameters: nothing to learn")
    c.setup = "learnable_teacher" if learnable else "static_teacher"
    config_lib.override(c, config or {})
    config_lib.validate(c)

    splits = _splits("student_train", "student_valid", train_data, valid_data, test_data)
    num_classes = 0  # only registered-name models need it; read from the teacher's output below
    vocab = data_lib.vocab_size(splits.values())
    if isinstance(teacher, str):
        num_classes = int(_label_count(splits))
    t_model = _as_built(teacher, c, num_classes, vocab)
    if teacher_params is None:
        teacher_params = t_model.adapted.initial_params
        if teacher_params is None:
            raise ConfigError("teacher_params is required for a linen or registered teacher")
    if num_classes == 0:
        example = data_lib.input_arrays(splits["student_train"].arrays, slice(0, 1))
        out = models.output_shapes(t_model.adapted, teacher_params, example)
        models.check_output(out, "teacher")
        num_classes = out.logits.shape[-1] if len(out.logits.shape) == 2 else 1
    s_model = _student(student, t_model, c, num_classes, vocab)

    if workdir is None:
        workdir = tempfile.mkdtemp(prefix="smat_explainer_")
        print(f"workdir: {workdir}")
    c.lock()
    return TRAINERS.get(c.setup)(
        c,
        workdir,
        callbacks,
        default_callbacks=default_callbacks,
        teacher=Teacher(t_model, teacher_params),
        splits=splits,
        student=s_model,
    )


def train_explainer(
    teacher: Any, teacher_params: Any = None, *, tokenizer: Any = None, **kwargs
) -> TrainedExplainer:
    """Trains a student to simulate `teacher` and (SMAT) the teacher's explainer with it.

    Takes the arguments of `student_trainer` (documented there), and `tokenizer`: the
    tokenizer that made the data's token ids (a `tokenizer.json` or WordPiece `vocab.txt` path,
    a `tokenizers.Tokenizer`, or a transformers fast tokenizer). With it the explainer explains
    raw text (`explainer.explain("some text")`) and saves the tokenizer with itself. Returns the
    explainer of the best validation-simulability step, with `.summary` of the run.
    """
    return fit_explainer(student_trainer(teacher, teacher_params, **kwargs), tokenizer)


def fit_explainer(trainer, tokenizer: Any = None) -> TrainedExplainer:
    """Runs a `student_trainer` to its end; the teacher explainer of its best validation step
    (with `tokenizer`, as in `train_explainer`). KeyboardInterrupt if the run was stopped."""
    from smat.runs import restore_best_of

    tokenizer_file, max_length = None, None
    if tokenizer is not None:  # checked before training: no run is spent on a wrong tokenizer
        ids = trainer.given_splits["student_train"].arrays["input_ids"]
        tokenizer_file, max_length = _save_tokenizer(tokenizer, trainer.workdir, ids)
    summary = trainer.fit()
    if summary["status"] != "finished":
        raise KeyboardInterrupt(
            f"training was interrupted ({summary.get('signal')}); call again with "
            f"workdir={trainer.workdir!r} to resume"
        )
    frozen = trainer.given_teacher
    return TrainedExplainer(
        frozen.model,
        frozen.params,
        config_lib.to_dict(trainer.config)["teacher_explainer"],
        trainer.learnable,
        restore_best_of(trainer.workdir)["phi"],
        tokenizer_file=tokenizer_file,
        max_length=max_length,
        summary=summary,
    )


# train_explainer takes student_trainer's arguments and `tokenizer`: show them (help(), IDEs).
train_explainer.__signature__ = inspect.signature(student_trainer).replace(
    parameters=[
        *inspect.signature(student_trainer).parameters.values(),
        inspect.Parameter("tokenizer", inspect.Parameter.KEYWORD_ONLY, default=None),
    ],
    return_annotation=TrainedExplainer,
)


def _save_tokenizer(tokenizer: Any, workdir: str, input_ids) -> tuple[str, int]:
    """Writes `tokenizer` into the workdir as tokenizer.json; (its path, the data's length).
    Raises ConfigError if it cannot have made `input_ids` (ids beyond its vocabulary)."""
    import tokenizers

    from smat.data.tokenization import load_tokenizer

    max_length = int(input_ids.shape[1])
    if isinstance(tokenizer, str):
        if not os.path.isfile(tokenizer):
            raise ConfigError(f"tokenizer={tokenizer!r}: no such file (a tokenizer.json)")
        tokenizer = load_tokenizer(tokenizer, max_length)
    tokenizer = getattr(tokenizer, "backend_tokenizer", tokenizer)  # transformers' fast ones
    if not isinstance(tokenizer, tokenizers.Tokenizer):
        raise ConfigError(
            f"tokenizer: a tokenizer.json path, a tokenizers.Tokenizer or a transformers fast "
            f"tokenizer, not {type(tokenizer).__name__}"
        )
    vocab = tokenizer.get_vocab_size(with_added_tokens=True)
    if int(input_ids.max()) >= vocab:
        raise ConfigError(
            f"the data has token id {int(input_ids.max())} but the tokenizer only {vocab} "
            "tokens: pass the tokenizer that made the data"
        )
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "tokenizer.json")
    tokenizer.save(path)
    load_tokenizer(path, max_length)  # it must pad: [PAD] or <pad> (a clear error otherwise)
    return path, max_length


def _splits(train_name: str, valid_name: str, train_data, valid_data, test_data):
    """The trainers' named splits from the API's arguments (test defaults to valid)."""
    return {
        train_name: as_dataset(train_data, "train_data"),
        valid_name: as_dataset(valid_data, "valid_data"),
        "student_test": as_dataset(valid_data if test_data is None else test_data, "test_data"),
    }


def _label_count(splits) -> int:
    labels = splits["student_train"].arrays["label"]
    if labels.min() < 0:
        raise ConfigError(
            "a registered-name teacher is built with num_classes from the labels: give "
            "train_data a 'label' array, or pass the module itself"
        )
    return int(labels.max()) + 1


def train_teacher(
    model: Any,
    *,
    train_data: Any,
    valid_data: Any,
    test_data: Any = None,
    seed: int = 0,
    workdir: str | None = None,
    config: dict[str, Any] | None = None,
    callbacks: Sequence[Callback] = (),
    default_callbacks: bool = True,
) -> tuple[Any, dict[str, Any]]:
    """Trains a classifier on gold labels with the `no_teacher` trainer (setup of the CLI).

    Args:
      model: a linen module, an nnx instance, or a `smat.models.BuiltModel` (see
        `smat.models.protocol`); it is initialised with `seed` (nnx: as constructed).
      train_data, valid_data, test_data: dicts of arrays with input_ids, attention_mask and
        label (see `train_explainer`); test_data defaults to valid_data.
      seed, workdir, config, callbacks, default_callbacks: as in `train_explainer`; defaults are
        `smat.config.base()`'s (AdamW 5e-5, 3 epochs, early stopping on val/accuracy).
    Returns:
      (params of the best validation-accuracy step, the run summary).
    """
    from smat.runs import restore_best_of
    from smat.trainers import NoTeacherTrainer

    c = config_lib.base()
    c.seed = seed
    config_lib.override(c, config or {})
    config_lib.validate(c)
    splits = _splits("teacher_train", "teacher_valid", train_data, valid_data, test_data)
    if workdir is None:
        workdir = tempfile.mkdtemp(prefix="smat_teacher_")
        print(f"workdir: {workdir}")
    c.lock()
    built = model if isinstance(model, models.BuiltModel) else models.BuiltModel(model)
    summary = NoTeacherTrainer(
        c, workdir, callbacks, default_callbacks=default_callbacks, splits=splits, model=built
    ).fit()
    if summary["status"] != "finished":
        raise KeyboardInterrupt(
            f"training was interrupted ({summary.get('signal')}); call again with "
            f"workdir={os.path.abspath(workdir)!r} to resume"
        )
    return restore_best_of(workdir), summary

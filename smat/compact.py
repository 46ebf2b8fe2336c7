"""The original SMAT code's Python API, `smat.compact.train_explainer`, on smat's trainer.

A script written for the original repository runs unchanged:

  from smat.compact import train_explainer
  from smat.models import WrappedModel, register_model

  @register_model("my_model")
  class MyModel(WrappedModel): ...           # __call__(**inputs) -> (logits, state)

  explainer, phi = train_explainer(task_type="classification", teacher_model=model,
      teacher_params=params, dataloader=dataloader, train_dataset=train,
      valid_dataset=valid, num_examples=0.1, student_model="my_model")

Each argument maps to a smat config field (table in `train_explainer`); the training itself is
`smat.train_explainer`'s (checkpoints, resume, early stopping on validation simulability).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from smat import config as config_lib
from smat import models
from smat.api import fit_explainer, student_trainer
from smat.errors import ConfigError
from smat.models.wrapped import OriginalModel
from smat.runs import restore_best_of

# The original explainers by their registered names; the gradient ones need a model that takes
# `inputs_embeds` (smat.models.protocol), which the original's wrapped models do not.
EXPLAINERS = {
    "attention_explainer": "attention",
    "gradient_input_explainer": "gradient_x_input",
    "gradient_norm_explainer": "gradient_norm",
    "integrated_gradients": "integrated_gradients",
    "attention_value_explainer": "attention_x_value",
}
HEAD_NORMS = {"sparsemax": "sparsemax", "softmax": "softmax", "entmax": "entmax15", None: "none"}


def _explainer(explainer_type: str, args: dict[str, Any]) -> dict[str, Any]:
    """The smat explainer section of an original `explainer_type` and `explainer_args`."""
    if explainer_type not in EXPLAINERS:
        raise ConfigError(
            f"explainer_type={explainer_type!r}: smat.compact knows {', '.join(EXPLAINERS)}"
        )
    section: dict[str, Any] = {"name": EXPLAINERS[explainer_type]}
    for key, value in args.items():
        if key == "normalize_head_coeffs":
            if value not in HEAD_NORMS and value is not False:
                raise ConfigError(f"normalize_head_coeffs={value!r}: use {list(HEAD_NORMS)}")
            section["head_norm"] = HEAD_NORMS.get(value, "none")
        elif key == "layer_idx":
            section["layer"] = value
        elif key == "head_idx":
            section["head"] = value
        elif key == "aggregator_idx" and value in ("mean", 0):
            section["query"] = "mean" if value == "mean" else "cls"
        elif key == "init_fn" and value == "uniform":
            continue  # smat's head weights start uniform too
        else:
            raise ConfigError(
                f"explainer_args {key}={value!r} has no smat counterpart (known: "
                "normalize_head_coeffs, layer_idx, head_idx, aggregator_idx 'mean' or 0, "
                "init_fn 'uniform')"
            )
    return section


def _arrays(dataloader: Callable, dataset: Any, batch_size: int, name: str) -> dict:
    """All batches `dataloader(dataset, batch_size=..., shuffle=False)` yields, as one dict of
    numpy arrays (input_ids, attention_mask, and label when the targets are class ids)."""
    xs, ys = [], []
    for x, y in dataloader(dataset, batch_size=batch_size, shuffle=False):
        extra = sorted(set(x) - {"input_ids", "attention_mask"})
        if extra or "input_ids" not in x:
            raise ConfigError(
                f"{name}: smat.compact passes input_ids and attention_mask to the models; the "
                f"dataloader's inputs have {sorted(x)}"
            )
        xs.append({k: np.asarray(v) for k, v in x.items()})
        ys.append(np.asarray(y))
    if not xs:
        raise ConfigError(f"{name}: the dataloader yielded no batches")
    out = {k: np.concatenate([x[k] for x in xs]) for k in xs[0]}
    labels = np.concatenate(ys)
    if labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer):
        out["label"] = labels.astype(np.int32)
    return out


def train_explainer(
    task_type: str,
    teacher_model: Any,
    teacher_params: Any,
    dataloader: Callable,
    train_dataset: Any,
    valid_dataset: Any,
    student_model: Any,
    num_examples: int | float = 0.1,
    num_classes: int | None = None,
    student_params: Any = None,
    explainer_type: str = "attention_explainer",
    explainer_args: dict[str, Any] | None = None,
    explanation_regularizer: float = 1.0,
    batch_size: int = 16,
    max_epochs: int = 100,
    patience: int = 5,
    student_optimizer: str = "sgd",
    student_lr: float = 5e-3,
    explainer_optimizer: str = "adamw",
    explainer_lr: float = 5e-4,
    seed: int = 0,
    log: bool = True,
    return_student: bool = False,
    workdir: str | None = None,
):
    """The original `smat.compact.train_explainer`: SMAT on an original-code teacher.

    Arguments as in the original; in smat terms: `task_type` is `task`; `teacher_model` and a
    module `student_model` are original-code modules (`(logits, state)` outputs, wrapped by
    `smat.models.OriginalModel`), `teacher_params` / `student_params` their variables; a
    `student_model` name is any registered model (an original `WrappedModel` class registered
    with `smat.register_model` too). `dataloader(dataset, batch_size, shuffle)` yields
    `(inputs, targets)` and is read once into arrays; `num_examples` a count (int) or fraction
    (float) of them; `num_classes` is read from the teacher's output and only checked.
    `explanation_regularizer` is `beta`; `max_epochs` is `train.num_epochs`, validated every
    epoch with early stopping after `patience` epochs without improvement (as there);
    `student_optimizer`/`student_lr` and `explainer_optimizer`/`explainer_lr` are `optim` and
    `meta.optim` (constant rate, gradient norm clipped at 5, weight decay 0.01 for the student,
    as there). `log` shows the progress bar. New: `workdir` (default: a temporary folder), where
    the run's checkpoints go and from where a killed call resumes.

    Returns:
      (explainer, φ), the explainer a `smat.TrainedExplainer` of the best validation step; with
      `return_student`, also (student module, its variables) and (student explainer section,
      its params ψ), like the original's three pairs.
    """
    if task_type not in ("classification", "regression"):
        raise ConfigError(f"task_type={task_type!r}: classification or regression")
    if isinstance(num_examples, bool) or not isinstance(num_examples, int | float):
        raise ConfigError("num_examples must be an int (a count) or a float (a fraction)")
    section = _explainer(explainer_type, dict(explainer_args or {}))
    train = _arrays(dataloader, train_dataset, batch_size, "train_dataset")
    valid = _arrays(dataloader, valid_dataset, batch_size, "valid_dataset")
    n = len(train["input_ids"])
    count = num_examples if isinstance(num_examples, int) else int(num_examples * n)
    if not 1 <= count <= n:
        raise ConfigError(f"num_examples={num_examples} gives {count} of {n} training examples")
    teacher = models.BuiltModel(OriginalModel(inner=teacher_model))
    if num_classes is not None:
        example = {k: v[:1] for k, v in train.items() if k != "label"}
        out = models.output_shapes(teacher.adapted, {"inner": teacher_params["params"]}, example)
        outputs = out.logits.shape[-1] if len(out.logits.shape) == 2 else 1
        if outputs != num_classes:
            raise ConfigError(f"num_classes={num_classes}, but the teacher has {outputs} outputs")
    if isinstance(student_model, str):
        student: Any = student_model
    else:
        if student_params is None:
            raise ConfigError("a student_model module needs its student_params (as originally)")
        student = models.BuiltModel(
            OriginalModel(inner=student_model), {"inner": student_params["params"]}
        )
    steps_per_epoch = math.ceil(count / batch_size)
    kwargs: dict[str, Any] = dict(
        teacher_params={"inner": teacher_params["params"]},
        train_data=train,
        valid_data=valid,
        num_examples=float(count),
        student=student,
        task=task_type,
        explainer=section,
        beta=explanation_regularizer,
        seed=seed,
        workdir=workdir,
        config={
            "train.batch_size": batch_size,
            "train.eval_batch_size": batch_size,
            "train.num_epochs": float(max_epochs),
            "train.eval_every_steps": steps_per_epoch,
            "train.log_every_steps": steps_per_epoch,
            "ckpt.every_steps": steps_per_epoch,
            "train.patience": patience + 1,  # the original stops after more than `patience`
            "optim.name": student_optimizer,
            "optim.learning_rate": student_lr,
            "optim.schedule": "constant",
            "optim.grad_clip": 5.0,
            "meta.optim.name": explainer_optimizer,
            "meta.optim.learning_rate": explainer_lr,
            "progress": log,
        },
    )
    trainer = student_trainer(teacher, **kwargs)
    explainer = fit_explainer(trainer)
    if not return_student:
        return explainer, explainer.phi
    best = restore_best_of(trainer.workdir)["params"]
    built = trainer.given_student
    wrapped = isinstance(built.module, OriginalModel)
    student_vars = best["model"]["inner"] if wrapped else best["model"]
    return (
        (explainer, explainer.phi),
        (built.module.inner if wrapped else built.module, {"params": student_vars}),
        (config_lib.to_dict(trainer.config)["student_explainer"], best.get("explainer")),
    )

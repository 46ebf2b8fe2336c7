"""A finished run's model on any data: predictions, and the metrics the run would report.

  preds = smat.predict("runs/imdb_teacher", texts=["A gripping film.", "Dull."])
  metrics = smat.evaluate("runs/imdb_static/seed0", split="student_test")

Works on the runs of the command line (their config.json and best checkpoint): a teacher
(`no_teacher`; rebuilt from its model.json) or a student (rebuilt from its config's model;
with `meta.num_students` K > 1, student `student` of the K). Data is raw `texts` (text tasks;
tokenised with the run's tokenizer), a dict of model-input arrays, or a split of the run's own
data (`student_test`, ...). A student's metrics are its simulability against its teacher
(which is run on the same inputs) and, given labels, its accuracy against them.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from smat import data as data_lib
from smat import models, runs, sharding, tasks
from smat import teacher as teacher_lib
from smat.data import tokenization
from smat.errors import ConfigError

SETUPS_WITH_STUDENTS = ("static_teacher", "learnable_teacher")


def _model(workdir: str, student: int):
    """(apply fn, params, tokenizer file, config) of a run's best checkpoint."""
    config = runs.run_config(workdir)
    if config.setup == "no_teacher":
        module, params, tokenizer, _ = runs.load_trained_model(workdir)
        return module.apply, params, tokenizer, config
    params = runs.restore_best_of(workdir)["params"]["model"]
    k = config.meta.num_students
    if not 0 <= student < k:
        trained = f"has students 0..{k - 1}" if k > 1 else "trained one student (0)"
        raise ConfigError(f"student={student}: {workdir!r} {trained}")
    if k > 1:  # several students' params are stacked on axis 0
        params = jax.tree.map(lambda x: x[student], params)
    num_classes = np.asarray(params["classifier"]["bias"]).shape[-1]
    teacher_dir = _teacher_dir(workdir, config)
    tokenizer = ""
    if os.path.isfile(os.path.join(teacher_dir, "model.json")):  # its params are not needed
        tokenizer = runs.tokenizer_file(teacher_dir)
    built = models.build_model(config.model, num_classes, 0)
    return built.apply, params, tokenizer, config


def _teacher_dir(workdir: str, config) -> str:
    return config.teacher_workdir or os.path.join(workdir, "teacher")


def _inputs(config, tokenizer: str, texts, arrays, split: str, limit: int):
    """The examples to run: (dataset of model inputs [+ label], where they came from)."""
    given = sum(x is not None for x in (texts, arrays))
    if given > 1:
        raise ConfigError("give texts or arrays, not both")
    if texts is not None:
        if not tokenizer:
            raise ConfigError("this run has no tokenizer (an image task?): pass arrays or a split")
        if config.data.pair_column:
            raise ConfigError(
                f"a sentence-pair task ({config.data.name}): texts would be read as single "
                "sentences; pass tokenised pairs as arrays, or a split"
            )
        texts = [texts] if isinstance(texts, str) else list(texts)
        encoded = tokenization.as_arrays(
            tokenization.load_tokenizer(tokenizer, config.data.max_length).encode_batch(texts)
        )
        dataset = data_lib.ArrayDataset(encoded)
    elif arrays is not None:
        dataset = data_lib.ArrayDataset({k: np.asarray(v) for k, v in arrays.items()})
    else:
        splits = data_lib.load(config, tokenizer or None).splits
        if split not in splits:
            raise ConfigError(f"split={split!r}; choose one of {', '.join(splits)}")
        dataset = splits[split]
    if limit:
        dataset = dataset.take(np.arange(min(limit, len(dataset))))
    return dataset


def _logits(apply_fn, params, dataset, batch_size: int) -> np.ndarray:
    mesh = sharding.make_mesh(-1)
    with mesh:
        out = teacher_lib.cache_outputs(dataset, apply_fn, params, None, batch_size, mesh)
    return out.arrays["teacher_logits"]


def predict(
    workdir: str,
    texts: str | list[str] | None = None,
    arrays: dict[str, Any] | None = None,
    split: str = "student_test",
    limit: int = 0,
    student: int = 0,
    batch_size: int = 64,
) -> dict[str, np.ndarray]:
    """Runs a finished run's model (a teacher, or a student) on new data or one of its splits.

    Give one of `texts` or `arrays`; with neither, the run's own `split` is used.

    Args:
      workdir: the workdir of a finished (or interrupted) `python -m smat.main` run: its
        config.json and best checkpoint are read.
      texts: a text or a list of texts (text tasks), tokenised with the run's tokenizer.
      arrays: model inputs as a dict of arrays (`input_ids` and `attention_mask`, or `pixels`
        for image runs).
      split: a split of the run's own data (`student_test`, `student_valid`, ...).
      limit: only the first `limit` examples (0: all).
      student: in a run of K students (`meta.num_students`), which one (0 to K - 1).
      batch_size: examples per forward pass.

    Returns:
      A dict of numpy arrays over the examples: `logits`, `prediction` (the class, or the value
      for regression) and, for classification, `probabilities`; with `label` and `index` where
      the data has them.
    """
    apply_fn, params, tokenizer, config = _model(workdir, student)
    dataset = _inputs(config, tokenizer, texts, arrays, split, limit)
    return _predictions(config.task, _logits(apply_fn, params, dataset, batch_size), dataset)


def _predictions(task: str, logits: np.ndarray, dataset) -> dict[str, np.ndarray]:
    out = {"logits": logits, "prediction": np.asarray(tasks.prediction(task, jnp.asarray(logits)))}
    if task == "classification":
        out["probabilities"] = np.asarray(jax.nn.softmax(jnp.asarray(logits, jnp.float32), -1))
    for key in ("label", "index"):
        if key in dataset.arrays:
            out[key] = dataset.arrays[key]
    return out


def evaluate(
    workdir: str,
    texts: str | list[str] | None = None,
    arrays: dict[str, Any] | None = None,
    labels: Any = None,
    split: str = "student_test",
    limit: int = 0,
    student: int = 0,
    batch_size: int = 64,
) -> dict[str, float]:
    """Metrics of a finished run's model on new data or one of its splits.

    On the run's own test split the numbers equal its summary's.

    Args:
      workdir, texts, arrays, split, limit, student, batch_size: as in `predict`.
      labels: gold labels of `texts` / `arrays` (default: the data's own, where it has them).

    Returns:
      A dict of floats: `examples`; against the labels, `accuracy` (classification) or
      `pearson_r` and `rmse` (regression); for a student, also `simulability` against its
      teacher, which is run on the same examples.

    Raises:
      smat.errors.ConfigError: a teacher's examples without labels (nothing to score against).
    """
    apply_fn, params, tokenizer, config = _model(workdir, student)
    dataset = _inputs(config, tokenizer, texts, arrays, split, limit)
    if labels is not None:
        dataset = data_lib.ArrayDataset({**dataset.arrays, "label": np.asarray(labels)})
    logits = jnp.asarray(_logits(apply_fn, params, dataset, batch_size))
    ones = jnp.ones(len(dataset))
    metrics: dict[str, float] = {"examples": float(len(dataset))}
    if "label" in dataset.arrays:
        gold = jnp.asarray(dataset.arrays["label"])
        if config.task == "classification":
            metrics["accuracy"] = float(tasks.agreement(config.task, logits, gold, ones))
        else:
            metrics["pearson_r"] = float(tasks.agreement(config.task, logits, gold, ones))
            value = tasks.prediction(config.task, logits)
            metrics["rmse"] = float(jnp.sqrt(jnp.mean(jnp.square(value - gold))))
    if config.setup in SETUPS_WITH_STUDENTS:
        t_apply, t_params, _, _ = _model(_teacher_dir(workdir, config), 0)
        teacher_logits = jnp.asarray(_logits(t_apply, t_params, dataset, batch_size))
        target = tasks.target(config.task, teacher_logits)
        metrics["simulability"] = float(tasks.agreement(config.task, logits, target, ones))
    elif "label" not in dataset.arrays:
        raise ConfigError("a teacher is evaluated against labels: pass labels, or use a split")
    return metrics

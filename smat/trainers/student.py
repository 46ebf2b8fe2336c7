"""Setups `static_teacher` and `learnable_teacher`: a student learns to simulate a teacher.

Both load (or first train) the teacher, cache its predictions and explainer features on the
student's examples, and train a student on `num_examples` of them; the learnable teacher also
updates the teacher explainer with the meta-step of `smat.steps.meta` in the same jitted function.
Selection and early stopping use validation simulability (agreement with the teacher).

(Over 350 lines: the two setups share all but their step, which `learnable.py` overrides.)
"""

import functools
import math
import os
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from smat import callbacks as cb
from smat import config as config_lib
from smat import data as data_lib
from smat import (
    explainers,
    heatmaps,
    models,
    optim,
    runs,
    sharding,
    tasks,
    teacher,
    transfer,
)
from smat.errors import ConfigError
from smat.simulation import Simulation
from smat.steps import student as student_steps
from smat.trainers.base import Trainer
from smat.trainers.common import cap, init_params, run_eval
from smat.trainers.explainer_stats import movement
from smat.trainers.on_demand import ensure_trained
from smat.trainers.several_students import mean_over_students, stack, take


class StaticTeacherTrainer(Trainer):
    """A student trained on the teacher's predictions, with a fixed teacher explainer (or none).

    By default the teacher comes from `config.teacher_workdir` and the data from `config.data`.
    The Python API (`smat.train_explainer`) passes them in instead: `teacher` (a frozen model and
    its params), `splits` (student_train / student_valid / student_test datasets) and `student`
    (a built model; default: `config.model` from the registry).
    """

    eval_metrics = ("val/simulability", "val/loss", "val/accuracy")
    learnable = False

    def __init__(
        self,
        config: ml_collections.ConfigDict,
        workdir: str,
        callbacks: Sequence[cb.Callback] = (),
        *,
        default_callbacks: bool = True,
        teacher: teacher.Teacher | None = None,
        splits: dict[str, data_lib.ArrayDataset] | None = None,
        student: models.BuiltModel | None = None,
    ):
        super().__init__(config, workdir, callbacks, default_callbacks)
        if (teacher is None) != (splits is None):
            raise ValueError("pass both teacher and splits (the Python API), or neither")
        self.given_teacher, self.given_splits, self.given_student = teacher, splits, student
        self.transferred: np.ndarray | None = None  # teacher_explainer.from_run's weights

    @property
    def teacher_workdir(self) -> str | None:
        if self.given_teacher is not None:
            return None
        return os.path.abspath(self.config.teacher_workdir or os.path.join(self.workdir, "teacher"))

    def begin(self) -> dict[str, Any] | None:
        # Refuse a busy or conflicting workdir or a bad transfer run before spending minutes
        # on the teacher.
        self.hold_workdir()
        self.transferred = (
            transfer.load_weights(self.config, self.teacher_workdir)
            if self.config.teacher_explainer.from_run
            else None
        )
        if self.given_teacher is None and self._check_workdir() is None:
            summary = ensure_trained(self.config, self.teacher_workdir)
            if summary["status"] != "finished":
                return summary  # interrupted while training the teacher: resume both later
        return super().begin()

    # ----- setup ---------------------------------------------------------------------------
    def _teacher_and_splits(self) -> tuple[teacher.Teacher, dict[str, data_lib.ArrayDataset]]:
        if self.given_teacher is not None:
            return self.given_teacher, self.given_splits
        c = self.config
        t_module, t_params, tokenizer_file, t_config = runs.load_trained_model(self.teacher_workdir)
        teacher.check_same_data(c, t_config, self.teacher_workdir)
        models.check_max_length(c.model, c.data.max_length)
        splits = data_lib.load(c, tokenizer_file=tokenizer_file).splits
        return teacher.Teacher(models.BuiltModel(t_module), t_params), splits

    def setup(self) -> None:
        c = self.config
        frozen, splits = self._teacher_and_splits()
        pool = splits["student_train"]
        n = config_lib.num_student_examples(c, len(pool))
        explainer_cfg = c.teacher_explainer
        if self.transferred is not None and not self.learnable:  # the weights, used as they are
            explainer_cfg = explainer_cfg.copy_and_resolve_references()
            explainer_cfg.head_norm = "none"
        self.teacher_explainer = (
            explainers.build(explainer_cfg, learnable=self.learnable) if c.beta > 0 else None
        )
        self.student_explainer = (
            explainers.build(c.student_explainer, learnable=True)
            if self.teacher_explainer is not None
            else None
        )
        example = data_lib.input_arrays(pool.arrays, slice(0, 1))
        if hasattr(frozen.model.module, "example_inputs"):  # image models: positions must match
            want = frozen.model.module.example_inputs()["attention_mask"].shape[1]
            if example["attention_mask"].shape[1] != want:
                raise ConfigError(
                    f"the teacher sees {want} positions ([CLS] + patches) but this config's "
                    f"model.image_size/patch_size give {example['attention_mask'].shape[1]}: "
                    "use the teacher's values"
                )
        t_out = models.output_shapes(frozen.model.adapted, frozen.params, example)
        models.check_output(t_out, "teacher")
        explainers.check_model(
            self.teacher_explainer, t_out, frozen.model.adapted.accepts_embeds, "teacher"
        )
        t_params = jax.device_put(frozen.params, sharding.replicated(self.mesh))
        cache = functools.partial(
            teacher.cache_outputs,
            apply_fn=frozen.model.apply,
            params=t_params,
            batch_size=c.train.eval_batch_size,
            mesh=self.mesh,
            store=self.teacher_workdir and os.path.join(self.teacher_workdir, teacher.OUTPUTS),
        )
        with self.timings.phase("teacher_cache"):
            self.train_set = cache(cap(pool, n), explainer=self.teacher_explainer)
            self.valid_set = cache(
                cap(splits["student_valid"], c.data.max_valid_examples), explainer=None
            )
            self.test_set = cache(
                cap(splits["student_test"], c.data.max_test_examples), explainer=None
            )
        num_classes = t_out.logits.shape[-1]
        vocab_size = data_lib.vocab_size(splits.values())
        self.model = self.given_student or models.build_model(c.model, num_classes, vocab_size)
        # One seed per student (meta.num_students; K > 1: a leading axis of K in the state's
        # params, optimizer state and rng, and in the batches).
        self.seeds = config_lib.student_seeds(c)
        self.batch_axes = int(len(self.seeds) > 1)
        self.batches = [
            data_lib.TrainBatches(self.train_set, c.train.batch_size, s) for s in self.seeds
        ]
        self.total_steps = c.train.num_steps or math.ceil(
            c.train.num_epochs * self.batches[0].steps_per_epoch
        )
        self.sim = Simulation(
            self.model.apply, self.teacher_explainer, self.student_explainer, c.beta, c.task
        )
        tx = optim.for_student(c, self.total_steps)
        meta_tx = optim.make(c.meta.optim, self.total_steps) if self.learnable else None
        self.state = self._init_state(tx, meta_tx, t_out, example)
        self.set_train_step(self._step_fn(tx, meta_tx))
        self._explain_pair = jax.jit(
            lambda params, phi, batch: (
                self.sim.teacher_explanation(phi, batch),
                self.sim.student_explanation(params, batch),
            )
        )
        self.set_eval_step(
            functools.partial(student_steps.eval_step, apply_fn=self.model.apply, task=c.task),
            self.student(self.state.params, 0),
        )

    # ----- several students (meta.num_students) --------------------------------------------
    def stack(self, trees: list[Any]) -> Any:
        """One tree per student -> their stack on a leading axis (one student: the tree)."""
        return stack(trees)

    def student(self, tree: Any, k: int) -> Any:
        """Student k's part of a stacked tree (params, optimizer state)."""
        return take(tree, k, len(self.seeds))

    def _per_student_eval(self, params, dataset) -> list[tuple[dict[str, float], np.ndarray]]:
        bs = self.config.train.eval_batch_size
        return [
            run_eval(self.eval_step, self.student(params, k), dataset, bs, self.mesh)
            for k in range(len(self.seeds))
        ]

    def evaluate(self) -> dict[str, float]:
        per = self._per_student_eval(self.state.params, self.valid_set)
        return mean_over_students([m for m, _ in per], "val")

    def _step_fn(self, tx, meta_tx):
        c = self.config
        lr = optim.learning_rate(c.optim, self.total_steps, c.train.accumulate_steps)
        step = functools.partial(student_steps.static_step, sim=self.sim, tx=tx, lr_schedule=lr)
        return lambda state, batches: step(state, batches["train"])

    def _init_state(self, tx, meta_tx, teacher_out, example) -> student_steps.StudentState:
        c = self.config
        keys = [jax.random.split(jax.random.PRNGKey(s)) for s in self.seeds]
        model_params = [init_params(self.model, example, k[0], self.mesh) for k in keys]
        student_out = models.output_shapes(self.model.adapted, model_params[0], example)
        models.check_output(student_out, "student")
        if student_out.logits.shape[-1] != teacher_out.logits.shape[-1]:
            raise ConfigError(
                f"the student predicts {student_out.logits.shape[-1]} outputs, the teacher "
                f"{teacher_out.logits.shape[-1]}: they must match"
            )
        explainers.check_model(
            self.student_explainer, student_out, self.model.adapted.accepts_embeds, "student"
        )
        psi = self._explainer_params(self.student_explainer, student_out)
        params = [{"model": m, "explainer": psi} for m in model_params]
        phi = self._explainer_params(self.teacher_explainer, teacher_out)
        if self.transferred is not None:
            shape = phi["head_logits"].shape
            transfer.check_shape(self.transferred, shape, c.teacher_explainer.from_run)
            # Static: the weights as they are (head_norm "none"). SMAT: where φ starts.
            phi = self.teacher_explainer.params_for(self.transferred)
        repl = sharding.replicated(self.mesh)
        state = student_steps.StudentState(
            step=jnp.zeros((), jnp.int32),
            params=self.stack(params),
            opt_state=self.stack([jax.jit(tx.init, out_shardings=repl)(p) for p in params]),
            rng=self.stack([k[1] for k in keys]),
            phi=phi,
            meta_opt_state=meta_tx.init(phi) if meta_tx else optax.EmptyState(),
            last_meta_grad=(
                jax.tree.map(jnp.zeros_like, phi) if meta_tx else {"none": jnp.zeros(())}
            ),
        )
        return jax.device_put(
            state, sharding.state_shardings(state, self.mesh, self.config.mesh.shard_params)
        )

    @staticmethod
    def _explainer_params(explainer, out):
        # A scalar stands for "no parameters", so every state has the same pytree structure
        # whatever the explainer (Orbax restores onto it leaf by leaf, and refuses empty arrays).
        # It gets zero gradients and no weight decay (ndim 0), so it stays 0.
        params = {}
        if explainer is not None:
            params = explainer.init(*models.attention_grid(out))
        return params or {"none": jnp.zeros((), jnp.float32)}

    # ----- loop parts ----------------------------------------------------------------------
    def next_batch(self, step: int):
        return {"train": self.stack([b.batch(step) for b in self.batches])}

    def best_params(self):
        return {"params": self.state.params, "phi": self.state.phi}

    def head_weights(self, phi) -> np.ndarray | None:
        """The teacher explainer's normalised [layers, heads] weights (attention only)."""
        if not isinstance(self.teacher_explainer, explainers.AttentionExplainer):
            return None
        return np.asarray(self.teacher_explainer.head_weights(phi))

    def student_head_weights(self, params) -> np.ndarray | None:
        """The student explainer's (ψ) normalised [layers, heads] weights."""
        if self.student_explainer is None:
            return None
        return np.asarray(self.student_explainer.head_weights(params["explainer"]))

    def explainer_weights(self) -> dict[str, np.ndarray | None]:
        """Current head weights of the learned teacher explainer φ and the student's ψ."""
        return {
            "teacher": self.head_weights(self.state.phi) if self.learnable else None,
            "student": self.student_head_weights(self.student(self.state.params, 0)),
        }

    def default_callbacks(self) -> list[cb.Callback]:
        # Before MetricLogger, so that the trajectory image includes this evaluation.
        return [cb.ExplainerTrajectory(), *super().default_callbacks()]

    def _trajectory(self) -> cb.ExplainerTrajectory | None:
        return next((c for c in self.callbacks if isinstance(c, cb.ExplainerTrajectory)), None)

    def explainer_movement(self, best) -> dict[str, Any]:
        """How far φ (SMAT) and ψ moved from their uniform start, at the best step (see
        `explainer_stats.movement`), and the meta-steps taken in the whole run."""
        psi = [self.student(best["params"], k).get("explainer") for k in range(len(self.seeds))]
        pairs = [("psi", self.student_explainer, psi)]
        out: dict[str, Any] = {}
        if self.learnable:
            pairs.insert(0, ("phi", self.teacher_explainer, [best["phi"]]))
            out["meta/steps"] = math.ceil(self.step / self.config.meta.interval)
        return {**out, **movement(pairs)}

    def eval_images(self) -> dict[str, np.ndarray]:
        images = {}
        w = self.head_weights(self.state.phi) if self.learnable else None
        if w is not None:
            images["teacher_explainer/head_weights"] = w / max(float(w.max()), 1e-12)
        trajectory = self._trajectory()
        if self.learnable and trajectory is not None:
            # Rows: evaluations in order; columns: heads (layer-major).
            images["teacher_explainer/trajectory"] = trajectory.image("teacher")
        if self.sim.explains and "pixels" in self.train_set.arrays:
            # Four fixed training images: image | teacher explanation | student explanation.
            batch = self.train_set.take(np.arange(4)).arrays
            teacher_e, student_e = self._explain_pair(
                self.student(self.state.params, 0), self.state.phi, batch
            )
            images["explanations/teacher_student"] = heatmaps.grid_image(
                batch["pixels"],
                {"teacher": np.asarray(teacher_e), "student": np.asarray(student_e)},
            )
        return images

    def test(self, best) -> dict[str, Any]:
        c = self.config
        per = self._per_student_eval(best["params"], self.test_set)
        metrics = [m for m, _ in per]
        logits = self.stack([x for _, x in per])  # [students, examples, ...] for several
        a = self.test_set.arrays
        summary = mean_over_students(metrics, "test")
        teacher_pred = np.asarray(tasks.prediction(c.task, a["teacher_logits"]))
        if np.all(a["label"] == -1):  # no gold labels (the Python API allows that)
            del summary["test/accuracy"]
        elif c.task == "classification":
            summary["test/teacher_accuracy"] = float(np.mean(teacher_pred == a["label"]))
        else:  # Pearson r with the gold scores
            summary["test/teacher_accuracy"] = float(np.corrcoef(teacher_pred, a["label"])[0, 1])
        if c.task == "regression":
            summary["test/rmse"] = float(np.mean([np.sqrt(m["loss"]) for m in metrics]))
        summary["test/examples"] = len(self.test_set)
        summary["num_examples"] = len(self.train_set)
        if self.teacher_workdir is not None:
            summary["teacher_workdir"] = self.teacher_workdir
        summary.update(self.explainer_movement(best))
        weights = self.head_weights(best["phi"])
        if jax.process_index() == 0:
            np.savez(
                self._path("test_predictions.npz"),
                index=a["index"],
                label=a["label"],
                teacher_logits=a["teacher_logits"],
                student_logits=logits,
            )
            if weights is not None:
                np.save(self._path("teacher_head_weights.npy"), weights)
        if weights is not None:
            e = self.teacher_explainer
            summary.update(head_weight_summary(weights, e.layer, e.head))
        return summary


def head_weight_summary(
    weights: np.ndarray, layer: int | None = None, head: int | None = None
) -> dict[str, str]:
    """What a [layers, heads] explainer weighs, for the summary a run prints: its six heaviest
    heads and each layer's share (uniform: 1 / layers each), so a glance shows what it learned.
    `layer` / `head`: the one layer or head an explainer restricted to them uses (as configured;
    -1 is the last), so that its weights are named by the teacher's own indices."""

    def name(i: int, j: int | None = None) -> str:
        ly = f"L{i if layer is None else layer}"
        return ly if j is None else f"{ly}H{j if head is None else head}"

    order = np.argsort(-weights, axis=None, kind="stable")[:6]
    rows, cols = np.unravel_index(order, weights.shape)
    heads = ", ".join(
        f"{name(i, j)}:{weights[i, j]:.3f}"
        for i, j in zip(rows, cols, strict=True)
        if weights[i, j] > 0
    )
    layers = ", ".join(f"{name(k)}:{share:.2f}" for k, share in enumerate(weights.sum(axis=1)))
    return {"teacher_heads": heads, "teacher_layers": layers}

"""The training loop shared by every setup: resume, jitted steps, evaluation, callbacks.

A subclass provides the setup-specific parts: `setup()` (data, model, initial state and the jitted
`train_step`), `next_batch(step)`, `evaluate()` and `test()`. Everything else - workdir checks,
restoring the latest checkpoint, metric averaging, non-finite loss detection, Ctrl-C/SIGTERM
handling and the final summary - lives here, once.

(Over 350 lines on purpose: the loop's parts - begin, record_step, end - and the callback
hooks they fire stay in one class, so `lockstep` drives the same code as `fit`.)
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from typing import Any

import jax
import ml_collections
import numpy as np

from smat import callbacks as cb
from smat import checkpointing, sharding, timing
from smat import config as config_lib
from smat import workdir as workdir_lib
from smat.callbacks import imported as imported_callbacks
from smat.errors import ConfigError
from smat.trainers import resume
from smat.trainers.common import run_eval
from smat.trainers.signals import StopSignal


class Trainer:
    """Base class of the per-setup trainers (see `smat.trainers.TRAINERS`).

    Attributes set by `setup()` in subclasses:
      state: the train state pytree (on the mesh).
      train_step: jitted `(state, batch) -> (state, metrics)` with clu metrics.
      eval_step: jitted `(state.params, batch) -> (clu metrics, logits)`.
      valid_set: the validation dataset.
      total_steps: number of training steps.
    """

    # Metrics `evaluate()` returns; the config's train.monitor must be one of them.
    eval_metrics: tuple[str, ...] = ()
    # Unsplit axes before the batch axis in `next_batch`'s arrays (1: one per student).
    batch_axes: int = 0

    def __init__(
        self,
        config: ml_collections.ConfigDict,
        workdir: str,
        callbacks: Sequence[cb.Callback] = (),
        default_callbacks: bool = True,
    ):
        """`callbacks` add to the defaults (early stopping, checkpoints, metric writers,
        progress) and to those the config names (`callbacks`); `default_callbacks=False` drops
        the defaults, and then `callbacks` must bring a `smat.callbacks.Checkpoint` (the test
        reads the best checkpoint)."""
        config_lib.validate(config)
        self.config = config
        if config.train.monitor not in self.eval_metrics:
            raise ConfigError(
                f"train.monitor={config.train.monitor!r} is not computed by setup "
                f"{config.setup!r}; choose one of {list(self.eval_metrics)}"
            )
        self.workdir = os.path.abspath(workdir)
        self.monitor = config.train.monitor
        self.mesh = sharding.make_mesh(config.mesh.data)
        sharding.check_batch_size(config.train.batch_size, self.mesh, "train.batch_size")
        sharding.check_batch_size(config.train.eval_batch_size, self.mesh, "train.eval_batch_size")
        self.step = 0
        self.total_steps = 0
        self.should_stop = False
        self.stop_reason = ""
        self.evaluated_at = -1
        self.elapsed_before = 0.0
        self.checkpointer: checkpointing.Checkpointer | None = None
        self.state: Any = None
        self.timings = timing.Timings()
        self._lock: workdir_lib.WorkdirLock | None = None
        chosen = [
            *(self.default_callbacks() if default_callbacks else []),
            *imported_callbacks.build(config.callbacks),
            *callbacks,
        ]
        if not any(isinstance(c, cb.Checkpoint) for c in chosen):
            raise ConfigError(
                "the callbacks replace the defaults but none is a smat.callbacks.Checkpoint, "
                "which keeps the best params for the test: add "
                f"Checkpoint({self.monitor!r}, {config.train.monitor_mode!r}) or keep the defaults"
            )
        # Checkpoints last: the state they save holds every other callback's update of the step.
        self.callbacks = sorted(chosen, key=lambda c: isinstance(c, cb.Checkpoint))

    # ----- setup-specific parts -----------------------------------------------------------
    def setup(self) -> None:
        raise NotImplementedError

    def next_batch(self, step: int) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def evaluate(self) -> dict[str, float]:
        """Validation metrics (`val/...`) of `eval_step` on `valid_set`, set by `setup()`."""
        metrics, _ = run_eval(
            self.eval_step,
            self.state.params,
            self.valid_set,
            self.config.train.eval_batch_size,
            self.mesh,
        )
        return {f"val/{k}": v for k, v in metrics.items()}

    def test(self, params: Any) -> dict[str, Any]:
        """Final metrics (named `test/...`) of the best params; may save predictions."""
        raise NotImplementedError

    def eval_images(self) -> dict[str, Any]:
        """Images ([height, width] in [0, 1]) to log after each evaluation."""
        return {}

    def write_artifacts(self) -> None:
        """Writes what rebuilds the model for inference into the workdir (process 0 only)."""

    def best_params(self) -> Any:
        """What the `best` checkpoint holds (the params used at test time)."""
        return self.state.params

    # ----- shared machinery ---------------------------------------------------------------
    def default_callbacks(self) -> list[cb.Callback]:
        c = self.config
        # Early stopping updates its state before the checkpoint of the same step saves it.
        return [
            cb.EarlyStopping(c.train.monitor, c.train.monitor_mode, c.train.patience),
            cb.Checkpoint(c.train.monitor, c.train.monitor_mode),
            cb.MetricLogger(self.workdir, c.logging),
            cb.Progress(c.progress),
            *(
                [cb.Profiler(self.workdir, *steps)]
                if (steps := cb.profiler.parse_steps(c.train.profile_steps))
                else []
            ),
        ]

    def checkpoint_meta(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "elapsed_s": self.elapsed_before + time.time() - self._started,
            "time_s": dict(self.timings.seconds),
            "callbacks": {key: c.state_dict() for key, c in self._keyed_callbacks()},
        }

    def _keyed_callbacks(self) -> list[tuple[str, cb.Callback]]:
        """(key of its saved state, callback): the name, numbered where several share one."""
        names = _unique_names([c.name for c in self.callbacks])
        return list(zip(names, self.callbacks, strict=True))

    def emit(self, hook: str, *args: Any) -> None:
        """Calls `hook` of every callback, in order, with (self, *args)."""
        for c in self.callbacks:
            getattr(c, hook)(self, *args)

    def _path(self, name: str) -> str:
        return os.path.join(self.workdir, name)

    def _check_workdir(self) -> dict[str, Any] | None:
        """A finished run's summary (None: train on); see `smat.trainers.resume`."""
        return resume.check_workdir(self.workdir, self.config)

    def _restore(self) -> None:
        if self.checkpointer.latest_step() is None:
            return
        self.state, meta, step = self.checkpointer.restore_latest(self.state)
        self.step = step
        self.elapsed_before = meta["elapsed_s"]
        self.timings.load(meta.get("time_s", {}))
        for key, c in self._keyed_callbacks():
            if key in meta["callbacks"]:
                c.load_state_dict(meta["callbacks"][key])
        if jax.process_index() == 0:
            print(f"resuming {self.workdir} from step {step}", flush=True)
        self.emit("on_checkpoint_restored", step)

    def checkpoint_due(self, step: int | None = None) -> bool:
        """Whether `ckpt.every_steps` asks for a checkpoint at `step` (default: the current)."""
        every = self.config.ckpt.every_steps
        return bool(every) and (self.step if step is None else step) % every == 0

    def _log(self, acc, first_step: int) -> None:
        scalars = {f"train/{k}": float(v) for k, v in acc.compute().items()}
        if not np.isfinite(scalars["train/loss"]):
            saved = self.checkpointer.latest_step()
            kept = "no checkpoint was written" if saved is None else f"checkpoint {saved} is intact"
            raise FloatingPointError(
                f"non-finite train/loss ({scalars['train/loss']}) in steps {first_step + 1}.."
                f"{self.step}. Lower optim.learning_rate, enable optim.grad_clip, or check the "
                f"data; {kept}"
            )
        self.emit("on_log", self.step, scalars)

    def set_train_step(self, step_fn) -> None:
        """`train_step` = `step_fn(state, batch) -> (state, metrics)` jitted on the mesh, the
        state donated; `step_fn` itself is kept for `smat.trainers.lockstep` to vmap."""
        self.step_fn = step_fn
        state_sh = jax.tree.map(lambda x: x.sharding, self.state)
        self.train_step = jax.jit(
            step_fn,
            in_shardings=(state_sh, sharding.batch_sharding(self.mesh, self.batch_axes)),
            out_shardings=(state_sh, sharding.replicated(self.mesh)),
            donate_argnums=0,
        )

    def set_eval_step(self, eval_fn, params: Any = None) -> None:
        """`eval_step` = `eval_fn(params, batch) -> (metrics, logits)` jitted on the mesh, for
        params like `params` (default: `state.params`)."""
        repl = sharding.replicated(self.mesh)
        like = self.state.params if params is None else params
        self.eval_step = jax.jit(
            eval_fn,
            in_shardings=(
                jax.tree.map(lambda x: x.sharding, like),
                sharding.batch_sharding(self.mesh),
            ),
            out_shardings=(repl, repl),
        )

    def fit(self) -> dict[str, Any]:
        """Trains to the end (or early stop / interrupt) and returns the run's summary."""
        try:
            summary = self.begin()
            if summary is not None:
                return summary
            with StopSignal() as stop, self.mesh:
                with self.timings.phase("train"):
                    while self.running:
                        batch = sharding.put_batch(
                            self.next_batch(self.step), self.mesh, self.batch_axes
                        )
                        self.state, metrics = self.train_step(self.state, batch)
                        self.record_step(metrics)
                        if stop.signum is not None:
                            break
                return self.end(stop.ending())
        except Exception as error:
            for c in self.callbacks:  # each one told, none hiding the error (a full disk...)
                try:
                    c.on_exception(self, error)
                except Exception as also:
                    error.add_note(f"{c.name}.on_exception failed too: {also!r}")
            raise
        finally:
            self.release_workdir()

    def hold_workdir(self) -> None:
        """Creates the workdir and takes its lock (once): a second live process on it is
        refused (`smat.workdir.WorkdirBusy`) before it can write anything."""
        if self._lock is None:
            workdir_lib.prepare(self.workdir)
            if jax.process_index() == 0:  # the other processes of a multi-host run share it
                self._lock = workdir_lib.WorkdirLock(self.workdir)

    def release_workdir(self) -> None:
        """Lets the workdir go (`fit` does it however it ends; callers of `begin` must), its
        checkpoint saves ended first (after a failure too)."""
        if self.checkpointer is not None:
            self.checkpointer.abandon()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # `fit` in parts, so that `smat.trainers.lockstep` can drive several trainers at once.
    def begin(self) -> dict[str, Any] | None:
        """Sets up and restores the latest checkpoint; returns the summary instead when there
        is nothing to train (a finished run)."""
        self.hold_workdir()
        finished = self._check_workdir()
        if finished is not None:
            print(f"{self.workdir} has already finished; nothing to do.", flush=True)
            print(cb.progress.format_summary(finished), flush=True)
            return finished
        with self.timings.phase("setup"):
            self.setup()
        if jax.process_index() == 0:
            checkpointing.write_json(self._path("config.json"), config_lib.to_dict(self.config))
            self.write_artifacts()
        self.checkpointer = checkpointing.Checkpointer(
            self.workdir, self.config.ckpt.keep, self.config.ckpt.async_save
        )
        with self.timings.phase("checkpoint"):
            self._restore()
        self.checkpointer.check_space(self.state, self.best_params())
        self._started = time.time()
        self.emit("on_train_start")
        self._acc, self._acc_start = None, self.step
        return None

    @property
    def running(self) -> bool:
        return self.step < self.total_steps and not self.should_stop

    def eval_due(self, step: int) -> bool:
        return step % self.config.train.eval_every_steps == 0 or step >= self.total_steps

    def state_needed(self, step: int) -> bool:
        """Whether `record_step` reads `self.state` when it brings the run to `step`
        (evaluation, checkpoints, the end)."""
        return self.eval_due(step) or self.checkpoint_due(step)

    def record_step(self, metrics) -> None:
        """After a train step (`self.state` updated): metrics, evaluation and callbacks."""
        self.step += 1
        self._acc = metrics if self._acc is None else self._acc.merge(metrics)
        self.emit("on_train_batch_end", self.step, metrics)
        eval_due = self.eval_due(self.step)
        # Log (which checks the loss is finite) before any checkpoint of this step can be
        # written, so a non-finite state never reaches the latest checkpoint.
        if self.step % self.config.train.log_every_steps == 0 or eval_due or self.checkpoint_due():
            self._log(self._acc, self._acc_start)
            self._acc, self._acc_start = None, self.step
        if eval_due:
            # The steps dispatched so far are train time, not evaluation time.
            jax.block_until_ready(self.state)
            self.emit("on_eval_start", self.step)
            with self.timings.phase("evaluation"):
                scalars = self.evaluate()
            self.evaluated_at = self.step
            self.emit("on_eval_end", self.step, scalars)
        self.emit("on_step_end", self.step)

    def end(self, signum: int | None) -> dict[str, Any]:
        """Final log, test of the best params (unless interrupted by `signum`), summary."""
        if self._acc is not None:
            self._log(self._acc, self._acc_start)
        summary = self._summary(signum)
        self.emit("on_train_end", summary)
        self.checkpointer.close()
        if summary["status"] == "finished" and jax.process_index() == 0:
            checkpointing.write_json(self._path("summary.json"), summary)
        return summary

    def _summary(self, signum: int | None) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "status": "finished",
            "setup": self.config.setup,
            "steps": self.step,
            "total_steps": self.total_steps,
        }
        if signum is not None:
            summary["status"] = "interrupted"
            summary["signal"] = signal.Signals(signum).name
            summary["resume"] = "run the same command again to resume from this step"
        else:
            summary["stopped_by"] = self.stop_reason or "end of schedule"
            with self.timings.phase("checkpoint"):
                self.checkpointer.wait()  # the best checkpoint must be on disk before reading
                params, meta = self.checkpointer.restore_best(self.best_params())
            summary["best_step"] = meta["step"]
            summary[f"best_{self.monitor}"] = meta[self.monitor]
            with self.timings.phase("test"):
                tested = self.test(params)
            self.emit("on_test_end", tested)
            summary.update(tested)
            summary["checkpoint"] = os.path.join(
                self.workdir, "checkpoints", "best", str(meta["step"])
            )
        summary["wall_time_s"] = round(self.elapsed_before + time.time() - self._started, 1)
        # Includes setup (data, teacher caching), which wall_time_s leaves out; not the final
        # checkpoint save, which comes after the summary.
        summary["time_s"] = self.timings.rounded()
        summary["workdir"] = self.workdir
        return summary


def _unique_names(names: list[str]) -> list[str]:
    """Names made unique by numbering repeats: [A, B, A] -> [A, B, A-2] (the first keeps its
    name, so checkpoints written before a second instance was added still restore it)."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return out

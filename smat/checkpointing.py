"""Orbax checkpoints of a run's workdir: the latest train states for resuming, the best params.

Layout of a workdir:
  config.json               the resolved config of the run
  model.json                how to rebuild the model (architecture, tokenizer file)
  tokenizer.json / vocab.txt a copy of the run's tokenizer file
  checkpoints/latest/<step> full train state + callback state (JSON), last `keep` kept
  checkpoints/best/<step>   parameters with the best validation metric, for inference
  summary.json              written when the run has finished
  events.*                  TensorBoard event files
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import time
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from smat.errors import CheckpointError
from smat.workdir import write_text


def _abstract(tree):
    """Shape/dtype/sharding of every leaf: restores land on the current shardings."""
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None)),
        tree,
    )


@contextlib.contextmanager
def _quiet_orbax():
    """Orbax logs a damaged file at ERROR before raising; the caller's one line says it."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


ABANDON_GRACE_S = 1.0
ORBAX_LOG = "orbax_errors.log"  # in checkpoints/: Orbax's own error reports, off the screen


class _OrbaxErrorsToFile(logging.Filter):
    """Orbax's background save threads log each failure at ERROR with tracebacks (hundreds of
    lines for one full disk); the run reports it in one line (`Checkpointer._saving`), and the
    details go to `checkpoints/orbax_errors.log`."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.last = ""  # the latest error's message, for the one line

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR or "orbax" not in record.pathname:
            return True
        self.last = record.getMessage()
        try:
            with open(self.path, "a") as f:
                f.write(logging.Formatter().format(record) + "\n")
        except OSError:  # the disk that failed the save may refuse this too
            pass
        return False


class Checkpointer:
    """Saves and restores the `latest` train states and the `best` params of a workdir."""

    def __init__(self, workdir: str, keep: int = 2, async_save: bool = True):
        root = os.path.join(os.path.abspath(workdir), "checkpoints")
        self.root = root
        self.keep = keep
        self._pending: int | None = None  # the latest save still being written in the background
        self._errors = _OrbaxErrorsToFile(os.path.join(root, ORBAX_LOG))
        logging.getLogger("absl").addFilter(self._errors)
        self.latest = ocp.CheckpointManager(
            os.path.join(root, "latest"),
            options=ocp.CheckpointManagerOptions(
                max_to_keep=keep,
                enable_async_checkpointing=async_save,
                cleanup_tmp_directories=True,
            ),
            item_names=("state", "meta"),
        )
        self.best = ocp.CheckpointManager(
            os.path.join(root, "best"),
            options=ocp.CheckpointManagerOptions(
                max_to_keep=1, enable_async_checkpointing=False, cleanup_tmp_directories=True
            ),
            item_handlers={
                "params": ocp.StandardCheckpointHandler(),
                "meta": ocp.JsonCheckpointHandler(),
            },
        )

    def latest_step(self) -> int | None:
        return self.latest.latest_step()

    def save_latest(self, step: int, state: Any, meta: dict[str, Any]) -> None:
        """Saves the train state at `step` (asynchronously if configured)."""
        if step in self.latest.all_steps():
            return
        self._check_pending()
        self._pending = step
        with self._saving(f"latest/{step}"):
            self.latest.save(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)
                ),
            )

    def _check_pending(self) -> None:
        """Raises for the previous background save if it did not land: Orbax reports such a
        failure only in its log, and training would go on without checkpoints."""
        if self._pending is None:
            return
        step, self._pending = self._pending, None
        with self._saving(f"latest/{step}"):
            self.latest.wait_until_finished()
            self.latest.reload()
            if step not in self.latest.all_steps():
                cause = _cause(self._errors.last) or "no error reported"
                raise OSError(f"{cause} (Orbax's report: {os.path.join(self.root, ORBAX_LOG)})")

    def check_space(self, state: Any, params: Any) -> None:
        """Refuses (CheckpointError) before training when the disk cannot hold one latest and
        one best checkpoint: each holds the parameters, dense floats that hardly compress, so
        twice their size is a floor. Below the most the kept checkpoints can take (their
        uncompressed size; optimizer moments compress while they are mostly zeros): a warning
        line."""
        state_mb, params_mb = (_megabytes(tree) for tree in (state, params))
        os.makedirs(self.root, exist_ok=True)
        free_mb = shutil.disk_usage(self.root).free / 2**20
        floor_mb = 2 * params_mb
        full_mb = (self.keep + 1) * state_mb + 2 * params_mb  # a new one before the old goes
        if free_mb < floor_mb:
            raise CheckpointError(
                f"{self.root}: {free_mb:.0f} MB free, but a latest and a best checkpoint need "
                f"at least {floor_mb:.0f} MB (the parameters alone are {params_mb:.0f} MB each "
                f"time; up to {full_mb:.0f} MB with ckpt.keep={self.keep}); free space or choose "
                "another --workdir"
            )
        if free_mb < full_mb:
            print(
                f"warning: {self.root} has {free_mb:.0f} MB free; with ckpt.keep={self.keep} the "
                f"checkpoints can take up to {full_mb:.0f} MB",
                flush=True,
            )

    @contextlib.contextmanager
    def _saving(self, what: str):
        """Turns a failed write (a full disk, a vanished mount) into one CheckpointError: Orbax
        writes into a temporary folder and renames it when complete, so the checkpoints saved
        before stay intact and the next start resumes from the newest of them."""
        try:
            with self._stderr_to_log():
                yield
        except Exception as e:
            with self._stderr_to_log():  # Orbax's threads are still failing: end them here
                intact = [s for s in self.latest.all_steps() if f"latest/{s}" != what]
                self.abandon()
            kept = f"the checkpoint of step {max(intact)} is intact" if intact else "none was kept"
            reason = _cause(str(e))
            raise CheckpointError(
                f"saving checkpoint {what} under {self.root} failed ({type(e).__name__}: "
                f"{reason}); {kept}: free space (or fix the folder) and run the same command "
                "again to resume"
            ) from None

    def restore_latest(self, like_state: Any) -> tuple[Any, dict[str, Any], int]:
        """Restores the newest readable train state onto the shardings of `like_state`.

        A checkpoint that cannot be read (truncated files, a half-copied folder) is moved to
        `checkpoints/damaged/` with a one-line notice and the next older one is tried; when
        none reads, CheckpointError names the folder.
        """
        args = ocp.args.Composite(
            state=ocp.args.StandardRestore(_abstract(like_state)), meta=ocp.args.JsonRestore()
        )
        out, step, moved = None, None, []
        for candidate in sorted(self.latest.all_steps(), reverse=True):
            try:
                with _quiet_orbax():
                    out, step = self.latest.restore(candidate, args=args), candidate
                break
            except Exception as e:  # any reader error: the files are not what was saved
                moved.append(self._quarantine(self.latest, candidate, e))
        if out is None:
            raise CheckpointError(
                f"no checkpoint under {self.latest.directory} can be read (moved to "
                f"{', '.join(moved)}); restore the files from a copy, or delete "
                f"{os.path.dirname(self.root)} to start the run again"
            )
        # Best checkpoints newer than the restored step were written by the interrupted run after
        # this state; the resumed run will recompute them identically.
        for s in self.best.all_steps():
            if s > step:
                self.best.delete(s)
        return out.state, out.meta, step

    def save_best(self, step: int, params: Any, meta: dict[str, Any]) -> None:
        with self._saving(f"best/{step}"):
            self.best.save(
                step,
                args=ocp.args.Composite(
                    params=ocp.args.StandardSave(params), meta=ocp.args.JsonSave(meta)
                ),
                force=True,
            )

    def best_step(self) -> int | None:
        return self.best.latest_step()

    def restore_best(self, like_params: Any | None = None) -> tuple[Any, dict[str, Any]]:
        """The best params (onto `like_params`' shardings if given) and their metadata."""
        step = self.best.latest_step()
        if step is None:
            raise FileNotFoundError(f"no best checkpoint under {self.best.directory}")
        try:
            with _quiet_orbax():
                if like_params is None:
                    # Replicated over every device of every process: the saved shardings name
                    # devices of the run that wrote them, which a multi-process reader may not
                    # address.
                    everywhere = NamedSharding(
                        Mesh(np.asarray(jax.devices()), ("all",)), PartitionSpec()
                    )
                    like_params = jax.tree.map(
                        lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=everywhere),
                        self.best.item_metadata(step)["params"],
                    )
                restore = ocp.args.StandardRestore(_abstract(like_params))
                out = self.best.restore(
                    step, args=ocp.args.Composite(params=restore, meta=ocp.args.JsonRestore())
                )
        except Exception as e:  # any reader error: the files are not what was saved
            moved = self._quarantine(self.best, step, e)
            raise CheckpointError(
                f"the best checkpoint (step {step}) cannot be read; moved to {moved}. Restore it "
                f"from a copy, or delete {os.path.dirname(self.root)} and train the run again"
            ) from None
        return out.params, out.meta

    def _quarantine(self, manager: ocp.CheckpointManager, step: int, error: Exception) -> str:
        """Moves an unreadable checkpoint aside (never deletes it); returns where it went."""
        source = os.path.join(str(manager.directory), str(step))
        kind = os.path.basename(str(manager.directory))
        target = os.path.join(self.root, "damaged", f"{kind}-{step}")
        k = 1
        while os.path.exists(target):
            k += 1
            target = os.path.join(self.root, "damaged", f"{kind}-{step}.{k}")
        if jax.process_index() == 0:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(source, target)
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            print(
                f"checkpoint {kind}/{step} cannot be read ({type(error).__name__}: {reason}); "
                f"moved to {target}",
                flush=True,
            )
        manager.reload()
        return target

    def wait(self) -> None:
        self._check_pending()
        with self._saving("best"):
            self.best.wait_until_finished()

    def close(self) -> None:
        """Waits for and ends the background saves (once; later calls do nothing)."""
        if self._errors is None:
            return
        try:
            self.latest.close()
            self.best.close()
        finally:  # after the managers: their last errors still go to the file
            logging.getLogger("absl").removeFilter(self._errors)
            self._errors = None

    def abandon(self) -> None:
        """`close` after a failure, whose error the caller is already reporting: the
        background threads end now, and what they print while failing goes to the log."""
        if self._errors is None:
            return
        with self._stderr_to_log():
            for manager in (self.latest, self.best):  # let the failing writes run out first
                with contextlib.suppress(Exception):
                    manager.wait_until_finished()
            with contextlib.suppress(Exception):
                self.close()
            time.sleep(ABANDON_GRACE_S)  # late callbacks of the failed writes land in the log

    @contextlib.contextmanager
    def _stderr_to_log(self):
        """File descriptor 2 into `orbax_errors.log` while Orbax works: a failing save's
        tensorstore callbacks into Orbax's closed event loop write tracebacks straight to
        it, dozens for one full disk, which the run's one-line error already covers."""
        if self._errors is None:
            yield
            return
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            try:
                with open(self._errors.path, "ab") as log:
                    os.dup2(log.fileno(), 2)
            except OSError:  # no room even to open the log: leave stderr as it is
                pass
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


_CAUSES = ("No space left on device", "Disk quota exceeded", "Read-only file system")


def _cause(text: str) -> str:
    """What a user can act on in a (long, nested) storage error: a known cause, or its first
    line cut to 200 characters."""
    known = next((c for c in _CAUSES if c in text), None)
    return known or (text.strip().splitlines() or [""])[0][:200]


def _megabytes(tree: Any) -> float:
    return sum(getattr(x, "nbytes", 0) for x in jax.tree.leaves(tree)) / 2**20


def write_json(path: str, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str))


def read_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)

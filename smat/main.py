"""Command-line entry point.

  python -m smat.main --config=configs/imdb_learnable.py[:variant] [--workdir=runs/imdb/smat] \
      [--config.field=value ...]

Builds the trainer named by `config.setup` and trains to the end; run again with the same
arguments to resume an interrupted run (a finished one says so and exits).
Seeds together: `--seeds=0,1,2` trains one run per seed (in <workdir>/seed<k>, sharing the
teacher in <workdir>/teacher) in one compiled program, vmapped over the seeds.
Multi-process: the same command in every process, plus `--coordinator_address=host:port
--num_processes=N --process_id=i` (or nothing extra under Slurm / MPI / a TPU pod).
"""

from __future__ import annotations

import difflib
import os
import shlex
import signal
import sys
import threading

from absl import app, flags, logging
from ml_collections import config_flags

from smat import config as config_lib

_CONFIG = config_flags.DEFINE_config_file(
    "config",
    None,
    "Experiment config file, optionally with a :variant (e.g. :smoke).",
    lock_config=True,
)
_WORKDIR = flags.DEFINE_string(
    "workdir",
    None,
    "Directory for checkpoints, logs and results (default: runs/<config name>[_<variant>]).",
)
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address",
    "",
    "Multi-process runs: host:port of process 0 (default: detected under Slurm, MPI or a TPU "
    "pod; single process otherwise).",
)
_NUM_PROCESSES = flags.DEFINE_integer(
    "num_processes", 1, "Multi-process runs: how many processes (with --coordinator_address)."
)
_PROCESS_ID = flags.DEFINE_integer(
    "process_id", 0, "Multi-process runs: this process's index, 0 to N-1 (0 writes the logs)."
)
_SEEDS = flags.DEFINE_list(
    "seeds",
    [],
    "Train these seeds together in one compiled program (vmap over seeds), each run in "
    "<workdir>/seed<k>, students sharing the teacher in <workdir>/teacher; e.g. --seeds=0,1,2.",
)
_CALLBACKS = flags.DEFINE_string(
    "callbacks",
    "",
    "Callbacks added to the defaults and to the config's `callbacks`: comma-separated "
    "package.module:Name or package.module:Name(key=value, ...), e.g. "
    "--callbacks=my_lab.hooks:PrintEvery(every=10).",
)
flags.mark_flags_as_required(["config"])


def default_workdir(config_spec: str) -> str:
    """runs/imdb_learnable for configs/imdb_learnable.py, runs/imdb_learnable_smoke for :smoke."""
    path, _, variant = config_spec.partition(":")
    name = os.path.splitext(os.path.basename(path))[0]
    return os.path.join("runs", f"{name}_{variant}" if variant else name)


def _override_problem(argv: list[str]) -> str | None:
    """Names the first `--config.a.b=v` whose field is unknown or whose value has a wrong type."""
    spec = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None)
    if spec is None:
        return None
    config = config_lib.from_file(spec)
    for arg in argv:
        if not arg.startswith("--config."):
            continue
        path, _, value = arg[len("--config.") :].partition("=")
        node, walked = config, []
        for part in path.split("."):
            if not hasattr(node, "keys") or part not in node:
                known = list(node.keys()) if hasattr(node, "keys") else []
                where = ".".join(walked) or "the config"
                close = difflib.get_close_matches(part, known, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                return (
                    f"unknown config field {path!r} in {arg}: {where} has no {part!r}; {hint}"
                    f"known: {', '.join(known)} (all fields are documented in smat/config.py)"
                )
            node = node[part]
            walked.append(part)
        if not hasattr(node, "keys"):
            try:
                type(node)(value) if not isinstance(node, bool) else None
            except ValueError:
                return f"{arg}: {path} must be of type {type(node).__name__} (default {node!r})"
    return None


def _parse_flags(argv: list[str]) -> list[str]:
    """absl flag parsing, with bad config overrides reported as one line instead of a traceback."""
    for arg in argv:
        path = arg.split("=", 1)[1].partition(":")[0] if arg.startswith("--config=") else None
        if path and not os.path.isfile(path):
            sys.exit(
                f"config error: no config file {path!r} (relative paths start from the current "
                "directory, e.g. configs/imdb_teacher.py from the repository root)"
            )
    try:
        return flags.FLAGS(argv)
    except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as e:
        try:
            problem = _override_problem(argv)
        except Exception as load_error:  # the config file or its variant is the problem
            problem = f"{type(load_error).__name__}: {load_error}"
        sys.exit(f"config error: {problem or e}\nPass --helpshort to see the flags.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO
    import jax

    from smat import distributed
    from smat.errors import CheckpointError, ConfigError
    from smat.trainers import TRAINERS
    from smat.trainers.lockstep import fit_together
    from smat.workdir import WorkdirBusy

    threading.excepthook = _one_line_background_error
    sys.stderr = _WithoutClosedLoopTracebacks(sys.stderr)
    distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
    config = _CONFIG.value
    if _CALLBACKS.value:
        config.callbacks = ",".join(filter(None, (config.callbacks, _CALLBACKS.value)))
    workdir = _WORKDIR.value or default_workdir(
        config_flags.get_config_filename(flags.FLAGS["config"])
    )
    try:
        if _SEEDS.value:
            summaries = fit_together(_seed_trainers(config, workdir, _SEEDS.value))
        else:
            summaries = [TRAINERS.get(config.setup)(config, workdir).fit()]
    except KeyError as e:
        sys.exit(f"config error: setup: {e.args[0]}")
    except WorkdirBusy as e:
        sys.exit(f"error: {e}")
    except ConfigError as e:
        sys.exit(f"config error: {e}")
    except CheckpointError as e:
        sys.exit(f"checkpoint error: {e}")
    except OSError as e:  # a full disk or a vanished folder while writing logs or results
        sys.exit(
            f"error: {e.strerror or e} ({e.filename or 'a run file'}); the newest checkpoint "
            "is intact: fix the cause and run the same command again to resume"
        )
    except FloatingPointError as e:
        sys.exit(f"training error: {e}")
    for summary in summaries:
        if summary["status"] == "interrupted":
            sys.exit(128 + signal.Signals[summary["signal"]].value)
    if jax.process_index() == 0:
        print("\n".join(next_steps(config, workdir, sys.argv[1:], bool(_SEEDS.value))), flush=True)


def next_steps(config, workdir: str, argv: list[str], seeds: bool = False) -> list[str]:
    """The commands a user wants after a run: its curves, its explanations, and for a student
    the baseline (same teacher, same seed, same settings) that makes its number comparable."""
    workdir = os.path.normpath(workdir)
    lines = ["Next:", f"  curves:       tensorboard --logdir {shlex.quote(workdir)}"]
    if config.setup == "no_teacher":
        return lines
    explained = config.beta > 0 and config.teacher_explainer.name != "none"
    if explained and not seeds:  # the viewer reads one run; --seeds writes several
        lines.append(
            f"  explanations: python -m smat.explain --workdir {shlex.quote(workdir)} "
            f"--html {shlex.quote(os.path.join(workdir, 'view.html'))}"
        )
    if config.setup == "learnable_teacher":
        label, suffix, change = "static attention", "static", ["--config.setup=static_teacher"]
        if config.meta.num_students > 1:  # one static student per SMAT student, same seeds
            label += ", one student per seed"
            change += [
                "--config.meta.num_students=1",
                "--seeds=" + ",".join(map(str, config_lib.student_seeds(config))),
            ]
    elif explained:
        label, suffix = "no explanation", "none"
        change = ["--config.teacher_explainer.name=none", "--config.beta=0"]
    else:
        return lines
    teacher = os.path.normpath(config.teacher_workdir or os.path.join(workdir, "teacher"))
    change += [f"--config.teacher_workdir={teacher}", f"--workdir={workdir}_{suffix}"]
    replaced = tuple(c.partition("=")[0] for c in change)
    kept, skip = [], False
    for arg in argv:  # the user's arguments, less those the baseline sets itself
        if skip:
            skip = False
        elif arg.partition("=")[0] in replaced:
            skip = "=" not in arg  # `--workdir DIR`: drop the value too
        else:
            kept.append(arg)
    baseline = shlex.join(["python", "-m", "smat.main", *kept, *change])
    lines.append(f"  baseline ({label}, same teacher and seed): {baseline}")
    return lines


class _WithoutClosedLoopTracebacks:
    """sys.stderr less the tracebacks that end in "RuntimeError: Event loop is closed":
    tensorstore prints one for each callback of a failed checkpoint write that finds Orbax's
    event loop closed (dozens for one full disk, from its own threads, at any moment until
    the process ends); the run's one-line checkpoint error already says what happened. Every
    other line passes through; a traceback is held until its last line."""

    def __init__(self, stream):
        self._stream = stream
        self._held: list[str] = []
        self._partial = ""  # Python prints a traceback's last line in pieces
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            lines = (self._partial + text).splitlines(keepends=True)
            self._partial = lines.pop() if lines and not lines[-1].endswith("\n") else ""
            if self._partial and not self._held and not self._partial.startswith("Trace"):
                lines.append(self._partial)  # a plain partial line (a progress bar): now
                self._partial = ""
            for line in lines:
                if self._held or line.startswith("Traceback (most recent call last)"):
                    self._held.append(line)
                    if not line.startswith((" ", "Traceback")):  # the exception's own line
                        if line.strip() != "RuntimeError: Event loop is closed":
                            self._stream.write("".join(self._held))
                        self._held = []
                else:
                    self._stream.write(line)
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _one_line_background_error(args: threading.ExceptHookArgs) -> None:
    """A log writer's thread that hits a full disk: one line (the main thread's checkpoint
    save then stops the run with its own message)."""
    if isinstance(args.exc_value, OSError):
        print(f"error in {args.thread.name}: {args.exc_value}", file=sys.stderr, flush=True)
    else:
        threading.__excepthook__(args)


def _seed_trainers(config, workdir: str, seeds: list[str]) -> list:
    """One trainer per seed, in <workdir>/seed<k>; students share <workdir>/teacher."""
    from smat.errors import ConfigError
    from smat.trainers import TRAINERS

    try:
        values = [int(s) for s in seeds]
    except ValueError:
        raise ConfigError(f"--seeds={','.join(seeds)}: give integers, e.g. --seeds=0,1,2") from None
    trainers = []
    for seed in values:
        c = config.copy_and_resolve_references()
        c.seed = seed
        if c.setup != "no_teacher" and not c.teacher_workdir:
            c.teacher_workdir = os.path.join(os.path.abspath(workdir), "teacher")
        trainers.append(TRAINERS.get(c.setup)(c, os.path.join(workdir, f"seed{seed}")))
    return trainers


def run() -> None:
    app.run(main, flags_parser=_parse_flags)


if __name__ == "__main__":
    run()

"""Callbacks and metric writers a user adds: from the config / command line and from Python,
beside the defaults, their state through kill -9 and resume, and logs holding each step once."""

import csv
import json
import os
import subprocess
import sys
import textwrap

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from smat.callbacks import Callback, Checkpoint, imported
from smat.errors import ConfigError
from smat.trainers import NoTeacherTrainer
from tests.conftest import REPO
from tests.test_trackers import TRACKERS, mlflow_history, wandb_rows

# A user's module of callbacks, imported by name ("user_hooks:StepCounter(...)").
USER_HOOKS = textwrap.dedent(
    """
    import json, os, signal
    from smat.callbacks import Callback

    class StepCounter(Callback):
        '''Counts train steps (its state) and records the hooks it sees in `path`.'''

        def __init__(self, path, kill_at=0):
            self.path, self.kill_at, self.count = path, kill_at, 0

        def _note(self, *event):
            with open(self.path, "a") as f:
                f.write(json.dumps(event) + "\\n")

        def on_checkpoint_restored(self, trainer, step):
            self._note("restored", step, self.count)

        def on_train_batch_end(self, trainer, step, metrics):
            self.count += 1
            assert "loss" in metrics.compute()

        def on_eval_start(self, trainer, step):
            self._note("eval_start", step)

        def on_eval_end(self, trainer, step, scalars):
            self._note("eval_end", step)

        def on_checkpoint_saved(self, trainer, step, kind):
            self._note("saved", step, kind)

        def on_step_end(self, trainer, step):
            marker = self.path + ".killed"
            if step == self.kill_at and not os.path.exists(marker):
                # Die as kill -9 would, having logged past the latest checkpoint (24): the
                # resumed run must drop those steps from every log.
                for c in trainer.callbacks:
                    if type(c).__name__ == "MetricLogger":
                        c.writer.flush()
                trainer.checkpointer.wait()
                open(marker, "w").close()
                os.kill(os.getpid(), signal.SIGKILL)

        def on_test_end(self, trainer, metrics):
            self._note("test_end", sorted(k for k in metrics if k.startswith("test/")))

        def on_train_end(self, trainer, summary):
            self._note("train_end", summary["status"], self.count)

        def state_dict(self):
            return {"count": self.count}

        def load_state_dict(self, state):
            self.count = state["count"]
    """
)


@pytest.fixture
def user_hooks(tmp_path, monkeypatch):
    folder = tmp_path / "user_code"
    folder.mkdir()
    (folder / "user_hooks.py").write_text(USER_HOOKS)
    monkeypatch.syspath_prepend(str(folder))
    return str(folder)


def _events(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_a_command_line_callback_and_writers_survive_kill_9_with_each_step_logged_once(
    tmp_path, cache_dir, user_hooks
):
    workdir, notes = tmp_path / "run", str(tmp_path / "notes.jsonl")
    cmd = [
        sys.executable,
        "-m",
        "smat.main",
        "--config=configs/imdb_teacher.py:smoke",
        f"--workdir={workdir}",
        f"--config.data.cache_dir={cache_dir}",
        "--config.progress=False",
        "--config.train.log_every_steps=2",
        f"--config.logging.writers={','.join(['tensorboard', 'csv', 'jsonl', *TRACKERS])}",
        "--config.logging.wandb_mode=offline",
        f"--config.logging.mlflow_tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}",
        f"--callbacks=user_hooks:StepCounter(path={notes!r}, kill_at=30)",
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([user_hooks, REPO])}
    killed = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr[-2000:]
    resumed = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]

    events = _events(notes)
    # The checkpoint of step 24 holds the count after step 24's own update (checkpoints are
    # written after every other callback), the resumed run counts on: 48, not 24 or 47.
    assert ["restored", 24, 24] in events
    assert [e for e in events if e[0] == "train_end"] == [["train_end", "finished", 48]]
    assert events[-1] == ["saved", 48, "latest"]  # the final save comes after the others' end
    assert any(e[0] == "test_end" and "test/accuracy" in e[1] for e in events)
    assert ["eval_start", 32] in events and ["eval_end", 32] in events
    assert ["saved", 32, "best"] in events or ["saved", 16, "best"] in events
    assert ["saved", 40, "latest"] in events

    steps = list(range(2, 49, 2))
    tb = EventAccumulator(str(workdir))
    tb.Reload()
    assert [e.step for e in tb.Scalars("train/loss")] == steps
    with open(workdir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    loss = [int(r["step"]) for r in rows if r["name"] == "train/loss"]
    assert loss == steps
    assert len({(r["step"], r["name"]) for r in rows}) == len(rows)
    assert any(r["name"] == "test/accuracy" for r in rows)
    records = _events(workdir / "metrics.jsonl")
    assert [r["step"] for r in records if "train/loss" in r] == steps
    tb_loss = [e.value for e in tb.Scalars("train/loss")]
    assert [float(r["value"]) for r in rows if r["name"] == "train/loss"] == pytest.approx(tb_loss)
    # The trackers: one run each over both processes, every step once, the same values.
    if "mlflow" in TRACKERS:
        assert mlflow_history(f"sqlite:///{tmp_path / 'mlflow.db'}", "train/loss") == (
            pytest.approx(dict(zip(steps, tb_loss, strict=True)))
        )
    if "wandb" in TRACKERS:
        # Offline, W&B writes its files every 15 s: the killed process's last rows can be
        # lost (they are not recomputed: the run resumes at 24), never doubled.
        rows = [
            (step, row["train/loss"]) for step, row in wandb_rows(workdir) if "train/loss" in row
        ]
        held = dict(rows)
        assert len(held) == len(rows), "a step logged twice"
        before = [s for s in held if s <= 24]
        assert list(held) == before + [s for s in steps if s > 24]
        assert before == steps[: len(before)]
        assert list(held.values()) == pytest.approx([tb_loss[steps.index(s)] for s in held])
    missing = {"wandb", "mlflow"} - set(TRACKERS)
    if missing:
        pytest.skip(f"{', '.join(sorted(missing))} not installed: those writers went untested")


class _Recorder(Callback):
    def __init__(self):
        self.hooks = []

    def on_train_start(self, trainer):
        self.hooks.append("train_start")

    def on_train_end(self, trainer, summary):
        self.hooks.append("train_end")


def test_python_callbacks_run_beside_the_defaults_and_state_is_kept_per_instance(
    smoke_config, tmp_path, user_hooks
):
    smoke_config.train.num_steps = 16
    notes = str(tmp_path / "notes.jsonl")
    smoke_config.callbacks = f"user_hooks:StepCounter(path={notes!r})"
    a, b = _Recorder(), _Recorder()
    trainer = NoTeacherTrainer(smoke_config, str(tmp_path / "run"), [a, b])
    names = [type(c).__name__ for c in trainer.callbacks]
    assert names[:4] == ["EarlyStopping", "MetricLogger", "Progress", "StepCounter"]
    assert names[-1] == "Checkpoint" and names.count("_Recorder") == 2
    summary = trainer.fit()
    assert summary["status"] == "finished" and a.hooks == b.hooks == ["train_start", "train_end"]
    keys = [key for key, _ in trainer._keyed_callbacks()]
    assert "_Recorder" in keys and "_Recorder-2" in keys and len(set(keys)) == len(keys)
    assert ["train_end", "finished", 16] in _events(notes)


def test_replacing_the_defaults_without_a_checkpoint_is_refused_before_training(
    smoke_config, tmp_path
):
    with pytest.raises(ConfigError, match="none is a smat.callbacks.Checkpoint"):
        NoTeacherTrainer(smoke_config, str(tmp_path), [_Recorder()], default_callbacks=False)
    kept = NoTeacherTrainer(
        smoke_config,
        str(tmp_path),
        [Checkpoint("val/accuracy", "max"), _Recorder()],
        default_callbacks=False,
    )
    assert [type(c).__name__ for c in kept.callbacks] == ["_Recorder", "Checkpoint"]
    assert not os.path.exists(tmp_path / "config.json")  # nothing written yet


@pytest.mark.parametrize(
    "spec, problem",
    [
        ("no_such_module_xyz:Thing", "cannot import 'no_such_module_xyz'"),
        ("json:NoSuchName", "module 'json' has no 'NoSuchName'"),
        ("json:JSONDecoder", "gave a JSONDecoder, not a smat.callbacks.Callback"),
        ("json", "names no object"),
        ("user_hooks:StepCounter('x')", "arguments go by keyword"),
        ("user_hooks:StepCounter(path=open('x'))", "path= is not a literal"),
        ("user_hooks:StepCounter(paht='x')", "unexpected keyword argument 'paht'"),
        ("user_hooks:Step Counter", "does not parse"),
    ],
)
def test_a_callback_spec_that_does_not_resolve_is_one_config_error(spec, problem, user_hooks):
    with pytest.raises(ConfigError, match="callbacks: ") as e:
        imported.build(spec)
    assert problem in str(e.value) and "\n" not in str(e.value)


def test_callback_specs_split_at_top_level_commas_only():
    spec = "a.b:C(x=[1, 2], y={'k': 'v,w'}), d:E ,f.g:H(z='(')"
    assert imported.parse(spec) == [
        ("a.b", "C", {"x": [1, 2], "y": {"k": "v,w"}}),
        ("d", "E", {}),
        ("f.g", "H", {"z": "("}),
    ]


def test_unknown_metric_writers_are_refused(smoke_config, tmp_path):
    smoke_config.logging.writers = "tensorboard,wandbb"
    with pytest.raises(ConfigError, match="no writer wandbb; choose from tensorboard, csv, jsonl"):
        NoTeacherTrainer(smoke_config, str(tmp_path))


def test_a_resumed_run_may_change_its_callbacks_and_writers_but_nothing_else(
    smoke_config, tmp_path
):
    from smat import checkpointing
    from smat import config as config_lib

    checkpointing.write_json(str(tmp_path / "config.json"), config_lib.to_dict(smoke_config))
    smoke_config.logging.writers = "csv"
    smoke_config.callbacks = "smat.callbacks:Progress"
    smoke_config.progress = True
    assert NoTeacherTrainer(smoke_config, str(tmp_path))._check_workdir() is None
    smoke_config.optim.learning_rate = 0.5
    with pytest.raises(ConfigError, match="optim.learning_rate"):
        NoTeacherTrainer(smoke_config, str(tmp_path))._check_workdir()


def test_profile_steps_write_a_trace_tensorboard_and_perfetto_read(smoke_config, tmp_path):
    import glob
    import gzip

    smoke_config.train.num_steps = 8
    smoke_config.train.profile_steps = "2:4"
    assert NoTeacherTrainer(smoke_config, str(tmp_path))._check_workdir() is None
    NoTeacherTrainer(smoke_config, str(tmp_path)).fit()
    (run,) = glob.glob(str(tmp_path / "plugins" / "profile" / "*"))  # TensorBoard's layout
    assert glob.glob(os.path.join(run, "*.xplane.pb"))
    (perfetto,) = glob.glob(os.path.join(run, "*perfetto_trace.json.gz"))
    with gzip.open(perfetto) as f:
        events = json.load(f)["traceEvents"]
    assert any("jit" in str(e.get("name", "")) for e in events), len(events)


@pytest.mark.parametrize("spec", ["5", "4:2", "a:b", "-1:3"])
def test_a_bad_profile_range_is_refused_before_training(smoke_config, tmp_path, spec):
    smoke_config.train.profile_steps = spec
    with pytest.raises(ConfigError, match="train.profile_steps=.*give START:END"):
        NoTeacherTrainer(smoke_config, str(tmp_path))

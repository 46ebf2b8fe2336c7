"""The command line: overrides, and bad input rejected before training with one clear message."""

import os
import subprocess
import sys

import pytest

from smat import config as config_lib
from smat.errors import ConfigError
from smat.trainers import NoTeacherTrainer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _main(*args, cache_dir, workdir):
    # --config must come before its --config.field overrides.
    cmd = [
        sys.executable,
        "-m",
        "smat.main",
        f"--workdir={workdir}",
        *args,
        f"--config.data.cache_dir={cache_dir}",
        "--config.progress=False",
    ]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--config=configs/imdb_teacher.py:smoke", "--config.train.bogus=1"],
            "config error: unknown config field 'train.bogus'",
        ),
        (
            ["--config=configs/imdb_teacher.py:smoke", "--config.trian.batch_size=8"],
            "did you mean 'train'?",
        ),
        (
            ["--config=configs/imdb_teacher.py:smoke", "--config.train.batch_size=abc"],
            "train.batch_size must be of type int",
        ),
        (
            ["--config=configs/imdb_teacher.py:nope"],
            "config error: ValueError: unknown config variant 'nope'; "
            "known: default, deep, quick, smoke, paper",
        ),
        (["--config=configs/missing.py"], "config error: no config file 'configs/missing.py'"),
        (
            ["--config=configs/imdb_teacher.py:smoke", "--config.model.pooling=max"],
            "config error: model.pooling='max'; choose one of scalar_mix, cls",
        ),
        (
            ["--config=configs/imdb_teacher.py:smoke", "--config.setup=magic"],
            "config error: setup: unknown setup 'magic'; known: learnable_teacher, no_teacher, "
            "static_teacher",
        ),
        (
            ["--config=configs/imdb_teacher.py:smoke", "--config.data.source=/no/such/file.csv"],
            "config error: data.source '/no/such/file.csv' is neither",
        ),
        (
            ["--config=configs/imdb_teacher.py:smoke", "--config.model.checkpoint=/no/such/ckpt"],
            "config error: '/no/such/ckpt' does not exist",
        ),
        (
            ["--config=configs/imdb_teacher.py:smoke", "--config.train.monitor=val/f1"],
            "train.monitor='val/f1' is not computed",
        ),
        (
            ["--config=configs/imdb_teacher.py:smoke", "--config.model.num_layers=9"],
            "model.num_layers=9 but checkpoint 'minilm' has 6 layers",
        ),
        (
            ["--config=configs/imdb_teacher.py:smoke", "--config.data.max_length=600"],
            "data.max_length=600 exceeds",
        ),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(args, message, tmp_path, cache_dir):
    out = _main(*args, cache_dir=cache_dir, workdir=tmp_path / "run")
    assert out.returncode != 0
    assert message in out.stderr, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()  # nothing was trained


def test_overrides_reach_the_config():
    c = config_lib.from_file(os.path.join(REPO, "configs/imdb_teacher.py:paper"))
    assert c.data.max_length == 256 and c.optim.warmup_steps > 0 and c.train.patience == 5
    assert c.optim.grad_clip == 1.0 and c.train.batch_size == 16 and c.model.num_layers == 0
    with pytest.raises(AttributeError):
        c.train.nonexistent = 1  # locked


def test_validation_errors_name_the_field(smoke_config):
    smoke_config.train.eval_every_steps = 0
    with pytest.raises(ConfigError, match="train.eval_every_steps=0 must be > 0"):
        NoTeacherTrainer(smoke_config, "unused")


def test_random_init_without_tokenizer_is_explained(smoke_config, tmp_path):
    smoke_config.model.checkpoint = ""
    smoke_config.model.num_layers = 1
    with pytest.raises(ConfigError, match="needs a tokenizer"):
        NoTeacherTrainer(smoke_config, str(tmp_path)).fit()


def test_default_workdir_is_named_after_the_config():
    from smat.main import default_workdir

    assert default_workdir("configs/imdb_learnable.py") == os.path.join("runs", "imdb_learnable")
    assert default_workdir("configs/imdb_teacher.py:smoke") == os.path.join(
        "runs", "imdb_teacher_smoke"
    )


def test_a_run_ends_with_the_commands_to_look_at_it_next(smoke_config):
    from smat.main import next_steps

    learnable = config_lib.from_file(os.path.join(REPO, "configs/imdb_learnable.py:smoke"))
    argv = ["--config=configs/imdb_learnable.py:smoke", "--workdir", "runs/a", "--config.seed=3"]
    lines = next_steps(learnable, "runs/a/", argv)
    assert lines[1].split(":", 1)[1].strip() == "tensorboard --logdir runs/a"
    assert "python -m smat.explain --workdir runs/a --html runs/a/view.html" in lines[2]
    baseline = lines[3].split(": ", 1)[1].split()
    assert baseline == [
        "python", "-m", "smat.main", "--config=configs/imdb_learnable.py:smoke", "--config.seed=3",
        "--config.setup=static_teacher", "--config.teacher_workdir=runs/a/teacher",
        "--workdir=runs/a_static",
    ]  # fmt: skip
    # The baseline is a valid config: the same student, its teacher explainer fixed.
    static = learnable.copy_and_resolve_references()
    static.setup = "static_teacher"
    config_lib.validate(static)
    lines = next_steps(static, "runs/a_static", ["--config=x.py", "--workdir=runs/a_static"])
    assert lines[-1].endswith(
        "--config.teacher_explainer.name=none --config.beta=0 "
        "--config.teacher_workdir=runs/a_static/teacher --workdir=runs/a_static_none"
    )
    static.teacher_explainer.name, static.beta = "none", 0.0
    assert len(next_steps(static, "runs/b", [])) == 2  # nothing to explain or compare with
    assert len(next_steps(smoke_config, "runs/t", [])) == 2  # a teacher: its curves


@pytest.mark.parametrize("variant", ["", ":deep", ":quick", ":smoke", ":paper"])
@pytest.mark.parametrize("name", ["imdb_teacher", "imdb_static", "imdb_learnable"])
def test_every_imdb_variant_is_a_valid_config_with_a_matching_teacher(name, variant):
    c = config_lib.from_file(os.path.join(REPO, "configs", f"{name}.py{variant}"))
    config_lib.validate(c)
    if name != "imdb_teacher":  # the teacher it would train is that variant of imdb_teacher.py
        teacher = config_lib.from_file(os.path.join(REPO, "configs", f"imdb_teacher.py{variant}"))
        assert config_lib.to_dict(c.teacher) == config_lib.to_dict(teacher)


def test_stderr_drops_closed_event_loop_tracebacks_only():
    import io

    from smat.main import _WithoutClosedLoopTracebacks

    out = io.StringIO()
    err = _WithoutClosedLoopTracebacks(out)
    closed = [
        "Traceback (most recent call last):\n",
        '  File "base_events.py", line 806, in call_soon_threadsafe\n',
        "    self._check_closed()\n",
        "RuntimeError",
        ": ",
        "Event loop is closed",
        "\n",
    ]
    for piece in ["checkpoint error: one line\n", *closed, "\rstep 3/10", *closed]:
        err.write(piece)
    err.write('Traceback (most recent call last):\n  File "x.py"\nValueError: real\n')
    assert out.getvalue() == (
        "checkpoint error: one line\n\rstep 3/10"
        'Traceback (most recent call last):\n  File "x.py"\nValueError: real\n'
    )

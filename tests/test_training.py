"""End-to-end teacher training on the smoke config: learning, outputs, resume after kills."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from smat import checkpointing, runs
from smat.callbacks import Callback
from smat.trainers import NoTeacherTrainer
from tests.conftest import kill_after_checkpoint
from tests.conftest import predictions as _predictions

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_smoke_teacher_beats_chance_on_held_out_data(reference):
    _, workdir, summary = reference
    assert summary["status"] == "finished"
    assert summary["steps"] == summary["total_steps"] == 48
    # 512 balanced held-out reviews: chance is 0.5 with a standard deviation of 0.022.
    assert summary["test/examples"] == 512
    assert summary["test/accuracy"] > 0.62
    preds = _predictions(workdir)
    accuracy = np.mean(preds["logits"].argmax(-1) == preds["label"])
    assert accuracy == pytest.approx(summary["test/accuracy"], abs=1e-6)


def test_run_writes_config_model_checkpoints_and_summary(reference):
    _, workdir, summary = reference
    for name in ("config.json", "model.json", "tokenizer.json", "summary.json"):
        assert os.path.isfile(os.path.join(workdir, name)), name
    assert os.path.isdir(summary["checkpoint"])
    latest = os.listdir(os.path.join(workdir, "checkpoints", "latest"))
    assert "48" in latest and len([d for d in latest if d.isdigit()]) <= 2  # keep=2


def test_tensorboard_events_read_back(reference):
    _, workdir, summary = reference
    events = EventAccumulator(workdir)
    events.Reload()
    scalars = events.Tags()["scalars"]
    for tag in ("train/loss", "train/learning_rate", "val/accuracy", "test/accuracy"):
        assert tag in scalars, tag
    val = events.Scalars("val/accuracy")
    assert [e.step for e in val] == [16, 32, 48]
    lr = [e.value for e in events.Scalars("train/learning_rate")]
    assert max(lr) <= 1e-3 + 1e-9 and lr[-1] < lr[0]  # linear decay after warmup
    assert any("config" in t for t in events.Tags()["tensors"])


def test_summary_breaks_the_time_down_into_phases(reference):
    _, _, summary = reference
    phases = summary["time_s"]
    assert {"setup", "compile", "train", "evaluation", "checkpoint", "test"} <= set(phases)
    assert all(v >= 0 for v in phases.values()) and phases["compile"] > 0
    # The phases cover the run's wall time (which leaves setup out) and little more.
    assert summary["wall_time_s"] <= sum(phases.values()) + 1.0


def test_trained_model_reloads_from_workdir(reference):
    _, workdir, _ = reference
    module, params, tokenizer, config = runs.load_trained_model(workdir)
    assert os.path.isfile(tokenizer) and config["setup"] == "no_teacher"
    ids = np.full((2, 8), 101, np.int32)
    logits = module.apply({"params": params}, ids, np.ones_like(ids)).logits
    assert logits.shape == (2, 2) and np.all(np.isfinite(logits))


def test_finished_run_started_again_does_not_retrain(reference, capsys):
    c, workdir, summary = reference
    trainer = NoTeacherTrainer(c, workdir)
    again = trainer.fit()
    assert again == summary
    assert trainer.state is None  # nothing was built or trained
    assert "already finished" in capsys.readouterr().out


def test_changed_config_in_same_workdir_is_refused(reference):
    from smat.errors import ConfigError

    c, workdir, _ = reference
    c = c.copy_and_resolve_references()
    c.optim.learning_rate = 0.5
    with pytest.raises(ConfigError, match="optim.learning_rate"):
        NoTeacherTrainer(c, workdir).fit()


def test_a_field_added_after_the_run_is_no_difference_at_its_default(smoke_config, tmp_path):
    from smat import config as config_lib
    from smat.errors import ConfigError

    def check(absent: str):  # the run's config.json predates the field `absent`
        saved = config_lib.to_dict(smoke_config)
        section, field = absent.split(".")
        del saved[section][field]
        checkpointing.write_json(str(tmp_path / "config.json"), saved)
        return NoTeacherTrainer(smoke_config, str(tmp_path))._check_workdir()

    assert check("data.pair_column") is None  # "" is its default: the old run had it
    # The smoke config's 64 tokens are not the default 128 an old run would have had.
    with pytest.raises(ConfigError, match="data.max_length: '<absent>' -> 64"):
        check("data.max_length")


class _SignalAt(Callback):
    def __init__(self, step, signum):
        self.step, self.signum = step, signum

    def on_step_end(self, trainer, step):
        if step == self.step:
            os.kill(os.getpid(), self.signum)


def test_sigterm_then_resume_is_bit_identical(reference, tmp_path):
    c, ref_dir, ref = reference
    trainer = NoTeacherTrainer(c, str(tmp_path))
    trainer.callbacks.append(_SignalAt(21, signal.SIGTERM))  # between checkpoints (every 8)
    first = trainer.fit()
    assert first["status"] == "interrupted" and first["steps"] == 21
    assert not os.path.exists(tmp_path / "summary.json")
    second = NoTeacherTrainer(c, str(tmp_path)).fit()
    assert second["status"] == "finished"
    for key in ("best_step", "best_val/accuracy", "test/accuracy", "test/loss"):
        assert second[key] == ref[key], key
    np.testing.assert_array_equal(_predictions(tmp_path)["logits"], _predictions(ref_dir)["logits"])


def test_a_signal_while_the_run_finishes_stops_the_caller_after_saving(reference, tmp_path):
    c, _, ref = reference

    class SignalAtEnd(Callback):
        def on_train_end(self, trainer, summary):
            os.kill(os.getpid(), signal.SIGINT)

    trainer = NoTeacherTrainer(c, str(tmp_path))
    trainer.callbacks.append(SignalAtEnd())
    with pytest.raises(KeyboardInterrupt, match="SIGINT while the run finished"):
        trainer.fit()
    summary = checkpointing.read_json(str(tmp_path / "summary.json"))
    assert summary["status"] == "finished" and summary["test/accuracy"] == ref["test/accuracy"]


def test_sigkill_then_resume_is_bit_identical(reference, tmp_path, cache_dir):
    _, ref_dir, ref = reference
    cmd = [
        sys.executable,
        "-m",
        "smat.main",
        "--config=configs/imdb_teacher.py:smoke",
        f"--workdir={tmp_path}",
        f"--config.data.cache_dir={cache_dir}",
        "--config.progress=False",
    ]
    kill_after_checkpoint(cmd, tmp_path, 24)
    assert not (tmp_path / "summary.json").exists()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming" in done.stdout
    summary = checkpointing.read_json(str(tmp_path / "summary.json"))
    for key in ("best_step", "best_val/accuracy", "test/accuracy", "test/loss"):
        assert summary[key] == ref[key], key
    np.testing.assert_array_equal(_predictions(tmp_path)["logits"], _predictions(ref_dir)["logits"])


def test_non_finite_loss_stops_before_it_reaches_a_checkpoint(smoke_config, tmp_path):
    # A step size that overflows the weights: the loss turns inf/NaN within the first steps.
    smoke_config.optim.name = "sgd"
    smoke_config.optim.learning_rate = 1e30
    smoke_config.optim.grad_clip = 0.0
    with pytest.raises(
        FloatingPointError,
        match=r"non-finite train/loss .* in steps 1\.\.8\. "
        r"Lower optim.learning_rate.*no checkpoint was written",
    ):
        NoTeacherTrainer(smoke_config, str(tmp_path)).fit()
    latest = tmp_path / "checkpoints" / "latest"
    assert not [d for d in os.listdir(latest) if d.isdigit()]


def test_an_extended_run_continues_exactly_as_one_configured_long_from_the_start(
    smoke_config, tmp_path
):
    smoke_config.optim.schedule = "constant"  # a decaying one would depend on the length
    smoke_config.train.eval_every_steps = 8
    smoke_config.train.num_steps = 8
    short = NoTeacherTrainer(smoke_config.copy_and_resolve_references(), str(tmp_path / "ext"))
    assert short.fit()["steps"] == 8
    smoke_config.train.num_steps = 16
    smoke_config.train.patience = 7
    extended = NoTeacherTrainer(smoke_config, str(tmp_path / "ext")).fit()
    reference = NoTeacherTrainer(smoke_config, str(tmp_path / "ref")).fit()
    assert extended["steps"] == reference["steps"] == 16
    for key in ("best_step", "best_val/accuracy", "test/accuracy", "test/loss"):
        assert extended[key] == reference[key], key
    np.testing.assert_array_equal(
        _predictions(tmp_path / "ext")["logits"], _predictions(tmp_path / "ref")["logits"]
    )
    before = checkpointing.read_json(str(tmp_path / "ext" / "summary.before_extension.json"))
    assert before["steps"] == 8


def test_extending_a_run_under_a_decaying_schedule_is_refused(smoke_config, tmp_path):
    from smat import config as config_lib
    from smat.errors import ConfigError

    checkpointing.write_json(str(tmp_path / "config.json"), config_lib.to_dict(smoke_config))
    smoke_config.train.patience = 3  # safe at any schedule
    assert NoTeacherTrainer(smoke_config, str(tmp_path))._check_workdir() is None
    smoke_config.train.num_steps = 96
    with pytest.raises(ConfigError, match=r"optim.schedule='linear' decays over the run's length"):
        NoTeacherTrainer(smoke_config, str(tmp_path))._check_workdir()


def test_accumulating_two_batches_equals_one_batch_twice_as_large(smoke_config, tmp_path):
    import jax

    smoke_config.model.dropout = smoke_config.model.attention_dropout = 0.0  # no step RNG
    # 1024 examples: batches of 16 and 32 tile every epoch alike, so steps 2i and 2i+1 of 16
    # hold the examples of step i of 32.
    big = smoke_config.copy_and_resolve_references()
    big.train.batch_size, big.train.num_steps = 32, 8
    smoke_config.train.accumulate_steps, smoke_config.train.num_steps = 2, 16
    trainers = {}
    for name, c in (("accumulated", smoke_config), ("big", big)):
        trainers[name] = NoTeacherTrainer(c, str(tmp_path / name))
        assert trainers[name].fit()["status"] == "finished"
    a, b = (jax.tree.leaves(t.state.params) for t in trainers.values())
    gaps = [float(np.abs(np.asarray(x) - np.asarray(y)).max()) for x, y in zip(a, b, strict=True)]
    assert max(gaps) < 1e-5, max(gaps)  # float32 sums in another order, nothing more
    from smat import config as config_lib
    from smat.errors import ConfigError

    learnable = config_lib.from_file(os.path.join(REPO, "configs", "imdb_learnable.py:smoke"))
    learnable.train.accumulate_steps = 2
    with pytest.raises(ConfigError, match="meta-step differentiates through one student update"):
        config_lib.validate(learnable)

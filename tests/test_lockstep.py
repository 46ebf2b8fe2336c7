"""Seeds trained together (one vmapped program) end as the same runs trained one by one."""

import os
import signal

import numpy as np
import pytest

from smat import config as config_lib
from smat.callbacks import Callback
from smat.errors import ConfigError
from smat.trainers import LearnableTeacherTrainer, NoTeacherTrainer
from smat.trainers.lockstep import fit_together

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = (0, 1)


def _config(name, cache_dir, seed, **overrides):
    # The smoke config, shortened (8 steps, smaller eval sets): compilation dominates anyway.
    c = config_lib.from_file(os.path.join(REPO, "configs", f"{name}.py:smoke"))
    c.data.cache_dir = cache_dir
    c.progress = False
    c.seed = seed
    c.train.num_steps = 8
    c.data.max_valid_examples = c.data.max_test_examples = 64
    c.teacher.data.cache_dir = cache_dir
    c.teacher.progress = False
    c.teacher.train.num_steps = 8
    c.update_from_flattened_dict(overrides)
    return c


def _outputs(workdir):
    with np.load(os.path.join(workdir, "test_predictions.npz")) as z:
        out = {"student_logits": z["student_logits"]}
    out["head_weights"] = np.load(os.path.join(workdir, "teacher_head_weights.npy"))
    return out


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory, cache_dir):
    workdir = str(tmp_path_factory.mktemp("teacher"))
    c = _config("imdb_learnable", cache_dir, 0).teacher
    c.seed = 0
    assert NoTeacherTrainer(c, workdir).fit()["status"] == "finished"
    return workdir


@pytest.fixture(scope="module")
def separate(tmp_path_factory, cache_dir, teacher_dir):
    root = tmp_path_factory.mktemp("separate")
    runs = {}
    for seed in SEEDS:
        c = _config("imdb_learnable", cache_dir, seed, teacher_workdir=teacher_dir)
        workdir = str(root / f"seed{seed}")
        runs[seed] = (workdir, LearnableTeacherTrainer(c, workdir).fit())
    return runs


def _together(root, cache_dir, teacher_dir, callbacks=(), **overrides):
    trainers = []
    for seed in SEEDS:
        c = _config("imdb_learnable", cache_dir, seed, teacher_workdir=teacher_dir, **overrides)
        t = LearnableTeacherTrainer(c, str(root / f"seed{seed}"))
        t.callbacks.extend(callbacks)
        trainers.append(t)
    return fit_together(trainers)


def _assert_same_runs(separate, root, summaries):
    for seed, summary in zip(SEEDS, summaries, strict=True):
        ref_dir, ref = separate[seed]
        assert summary["status"] == "finished"
        for key in ("steps", "best_step", "test/simulability", "teacher_heads"):
            assert summary[key] == ref[key], (seed, key)
        assert summary["test/loss"] == pytest.approx(ref["test/loss"], abs=1e-5)
        got, want = _outputs(root / f"seed{seed}"), _outputs(ref_dir)
        np.testing.assert_allclose(got["student_logits"], want["student_logits"], atol=1e-4)
        np.testing.assert_allclose(got["head_weights"], want["head_weights"], atol=1e-5)


def test_seeds_together_equal_separate_runs_even_interrupted(
    separate, tmp_path, cache_dir, teacher_dir
):
    # The seeds really differ (otherwise equality would prove little).
    logits = [_outputs(separate[s][0])["student_logits"] for s in SEEDS]
    assert not np.allclose(logits[0], logits[1], atol=1e-3)

    class StopAt(Callback):
        def on_step_end(self, trainer, step):
            if step == 5 and trainer.config.seed == SEEDS[-1]:
                os.kill(os.getpid(), signal.SIGTERM)

    summaries = _together(tmp_path, cache_dir, teacher_dir, callbacks=[StopAt()])
    assert [s["status"] for s in summaries] == ["interrupted"] * len(SEEDS)
    assert all(s["steps"] == 5 for s in summaries)
    _assert_same_runs(separate, tmp_path, _together(tmp_path, cache_dir, teacher_dir))


def test_seeds_together_refuse_other_differences(tmp_path, cache_dir, teacher_dir):
    trainers = [
        LearnableTeacherTrainer(
            _config("imdb_learnable", cache_dir, seed, teacher_workdir=teacher_dir, beta=beta),
            str(tmp_path / f"seed{seed}"),
        )
        for seed, beta in ((0, 5.0), (1, 1.0))
    ]
    with pytest.raises(ConfigError, match=r"differ only in their seed.*beta: 5.0 -> 1.0"):
        fit_together(trainers)

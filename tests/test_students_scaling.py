"""SMAT at scale on the smoke configs: several students sharing one explainer, several devices,
several processes, and runs stopped (SIGTERM, kill -9) then resumed bit-identically.

Apart from tests/test_students.py so that pytest-xdist can give the two halves to two workers.
"""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from smat.callbacks import Callback
from smat.trainers import LearnableTeacherTrainer
from tests.conftest import REPO, kill_after_checkpoint
from tests.conftest import predictions as _predictions
from tests.conftest import student_config as _config


def test_learnable_sigterm_then_resume_is_bit_identical(smat_run, tmp_path, cache_dir):
    _, ref_dir, ref = smat_run
    c = _config("imdb_learnable", cache_dir, teacher_workdir=os.path.join(ref_dir, "teacher"))

    class StopAt(Callback):
        def on_step_end(self, trainer, step):
            if step == 6:
                os.kill(os.getpid(), signal.SIGTERM)

    trainer = LearnableTeacherTrainer(c, str(tmp_path))
    trainer.callbacks.append(StopAt())
    assert trainer.fit()["status"] == "interrupted"
    done = LearnableTeacherTrainer(c, str(tmp_path)).fit()
    for key in ("best_step", "test/simulability", "test/loss", "teacher_heads"):
        assert done[key] == ref[key], key
    np.testing.assert_array_equal(
        _predictions(tmp_path)["student_logits"], _predictions(ref_dir)["student_logits"]
    )
    np.testing.assert_array_equal(
        np.load(tmp_path / "teacher_head_weights.npy"),
        np.load(os.path.join(ref_dir, "teacher_head_weights.npy")),
    )


@pytest.fixture(scope="module")
def two_students(smat_run, tmp_path_factory, cache_dir):
    """SMAT with two students sharing the explainer (meta.num_students=2), smat_run's teacher."""
    _, ref_dir, _ = smat_run
    teacher = os.path.join(ref_dir, "teacher")
    c = _config("imdb_learnable", cache_dir, teacher_workdir=teacher, **{"meta.num_students": 2})
    workdir = str(tmp_path_factory.mktemp("two_students"))
    return c, workdir, LearnableTeacherTrainer(c, workdir).fit()


def test_two_students_share_one_explainer_and_each_is_reported(two_students):
    _, workdir, summary = two_students
    assert summary["status"] == "finished"
    per_student = [summary[f"test/student{k}/simulability"] for k in (0, 1)]
    assert summary["test/simulability"] == pytest.approx(np.mean(per_student))
    preds = _predictions(workdir)
    assert preds["student_logits"].shape == (2, 256, 2)
    teacher = preds["teacher_logits"].argmax(-1)
    agree = (preds["student_logits"].argmax(-1) == teacher[None]).mean(-1)
    np.testing.assert_allclose(agree, per_student, atol=1e-6)
    # Different seeds: different students (initialisation, data order).
    assert not np.allclose(preds["student_logits"][0], preds["student_logits"][1])
    weights = np.load(os.path.join(workdir, "teacher_head_weights.npy"))
    assert weights.shape == (1, 12) and np.ptp(weights) > 1e-4  # one φ, and it moved
    events = EventAccumulator(workdir)
    events.Reload()
    assert {"val/simulability", "val/student1/simulability"} <= set(events.Tags()["scalars"])


def test_two_students_killed_then_resumed_are_bit_identical(two_students, tmp_path, cache_dir):
    c, ref_dir, ref = two_students
    cmd = [
        sys.executable,
        "-m",
        "smat.main",
        "--config=configs/imdb_learnable.py:smoke",
        f"--workdir={tmp_path}",
        f"--config.teacher_workdir={c.teacher_workdir}",
        f"--config.data.cache_dir={cache_dir}",
        f"--config.teacher.data.cache_dir={cache_dir}",
        "--config.progress=False",
        "--config.teacher.progress=False",
        "--config.meta.num_students=2",
    ]
    kill_after_checkpoint(cmd, tmp_path, 4)
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming" in done.stdout
    with open(tmp_path / "summary.json") as f:
        summary = json.load(f)
    for key in ("best_step", "test/simulability", "test/student1/simulability", "teacher_heads"):
        assert summary[key] == ref[key], key
    np.testing.assert_array_equal(
        _predictions(tmp_path)["student_logits"], _predictions(ref_dir)["student_logits"]
    )


SHARDED = """
import json, os, sys
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
import jax, numpy as np
from smat import config as config_lib, sharding
from smat.trainers import LearnableTeacherTrainer

cache_dir, teacher, out_dir = sys.argv[1:4]
runs = {}
for n, fsdp in ((1, False), (8, False), (8, True)):
    c = config_lib.from_file("configs/imdb_learnable.py:smoke")
    c.data.cache_dir = cache_dir
    c.teacher_workdir = teacher
    c.mesh.data = n
    c.mesh.shard_params = fsdp
    key = f"{n}{'f' if fsdp else ''}"
    t = LearnableTeacherTrainer(c, os.path.join(out_dir, key))
    t.setup()
    with t.mesh:
        for step in range(2):
            batch = sharding.put_batch(t.next_batch(step), t.mesh)
            t.state, m = t.train_step(t.state, batch)
    leaves = jax.tree.leaves((t.state.params, t.state.opt_state))
    runs[key] = {
        "leaves": [np.asarray(x) for x in jax.tree.leaves((t.state.params, t.state.phi))],
        "meta_loss": float(m.compute()["meta_loss"]),
        "shards": len(batch["train"]["input_ids"].sharding.device_set),
        "split": sum(not x.sharding.is_fully_replicated for x in leaves),
    }
def diff(a, b):
    return max(float(np.max(np.abs(x - y))) for x, y in zip(runs[a]["leaves"], runs[b]["leaves"]))
print(json.dumps({"diff": diff("1", "8"), "diff_fsdp": diff("1", "8f"),
                  "phi_moved": float(np.ptp(runs["8"]["leaves"][-1])),
                  "shards": runs["8"]["shards"],
                  "split": [runs["8"]["split"], runs["8f"]["split"]],
                  "meta_loss": [runs[k]["meta_loss"] for k in ("1", "8", "8f")]}))
"""


def test_learnable_step_on_8_devices_matches_1_device_replicated_or_fsdp(
    smat_run, tmp_path, cache_dir, run_json_script
):
    _, ref_dir, _ = smat_run
    out = run_json_script(SHARDED, cache_dir, os.path.join(ref_dir, "teacher"), str(tmp_path))
    assert out["shards"] == 8
    assert out["phi_moved"] > 0  # two meta-steps changed the teacher explainer
    assert out["diff"] < 1e-5, out
    assert abs(out["meta_loss"][0] - out["meta_loss"][1]) < 1e-5
    # FSDP: params and optimizer state split over the 8 devices, same result.
    assert out["split"][0] == 0 and out["split"][1] > 0, out
    assert out["diff_fsdp"] < 1e-5, out
    assert abs(out["meta_loss"][0] - out["meta_loss"][2]) < 1e-5


def test_learnable_with_implicit_hypergradient(smat_run, tmp_path, cache_dir):
    _, ref_dir, _ = smat_run
    c = _config(
        "imdb_learnable",
        cache_dir,
        teacher_workdir=os.path.join(ref_dir, "teacher"),
        **{"meta.hypergradient": "implicit", "train.num_steps": 4},
    )
    summary = LearnableTeacherTrainer(c, str(tmp_path)).fit()
    assert summary["status"] == "finished"
    weights = np.load(tmp_path / "teacher_head_weights.npy")
    assert np.ptp(weights) > 0


def test_two_processes_give_the_single_process_result(smat_run, tmp_path, cache_dir):
    """JAX's multi-process runtime on localhost (CPU, one device per process) against one
    process with two devices: the same global mesh, so the same result to the bit."""
    import socket
    import subprocess
    import sys

    _, ref_dir, _ = smat_run
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    common = [
        sys.executable,
        "-m",
        "smat.main",
        f"--config={os.path.join(REPO, 'configs', 'imdb_learnable.py')}:smoke",
        f"--config.teacher_workdir={os.path.join(ref_dir, 'teacher')}",
        f"--config.data.cache_dir={cache_dir}",
        "--config.progress=False",
    ]
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    multi = str(tmp_path / "multi")
    procs = [
        subprocess.Popen(
            [
                *common,
                f"--workdir={multi}",
                f"--coordinator_address=localhost:{port}",
                "--num_processes=2",
                f"--process_id={i}",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    single = str(tmp_path / "single")
    subprocess.run(
        [*common, f"--workdir={single}"],
        cwd=REPO,
        env={**env, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
        check=True,
        capture_output=True,
        timeout=600,
    )
    assert "test/simulability" in outputs[0] and "test/simulability" not in outputs[1]
    a, b = _predictions(single), _predictions(multi)
    np.testing.assert_array_equal(a["index"], b["index"])
    np.testing.assert_allclose(a["student_logits"], b["student_logits"], atol=1e-6)
    np.testing.assert_allclose(
        np.load(os.path.join(single, "teacher_head_weights.npy")),
        np.load(os.path.join(multi, "teacher_head_weights.npy")),
        atol=1e-6,
    )


def test_each_of_several_students_can_be_evaluated(two_students):
    from smat import inference
    from smat.errors import ConfigError

    _, workdir, summary = two_students
    for k in (0, 1):
        got = inference.evaluate(workdir, split="student_test", limit=256, student=k)
        assert got["simulability"] == pytest.approx(
            summary[f"test/student{k}/simulability"], abs=1e-6
        )
    with pytest.raises(ConfigError, match="has students 0..1"):
        inference.evaluate(workdir, student=2)


def test_select_keeps_the_best_run_on_validation_and_exports_it_for_teaching(
    smat_run, two_students, tmp_path, cache_dir, capsys
):
    from smat import select_explainer, transfer

    (_, one, s1), (_, two, s2) = smat_run, two_students
    out = str(tmp_path / "chosen")
    assert select_explainer.main([one, two, "--out", out]) == 0
    record = json.load(open(os.path.join(out, transfer.SELECTION)))
    best = one if s1["best_val/simulability"] >= s2["best_val/simulability"] else two
    assert record["chosen"] == best and len(record["candidates"]) == 2
    assert "<- chosen" in capsys.readouterr().out
    # Fresh students read the export as they read a run: same checks, the chosen weights.
    c = _config("imdb_static", cache_dir, teacher_workdir=os.path.join(one, "teacher"))
    c.teacher_explainer.from_run = out
    np.testing.assert_array_equal(
        transfer.load_weights(c, c.teacher_workdir),
        np.load(os.path.join(best, transfer.WEIGHTS)),
    )
    # Not a SMAT run among the candidates: one line, nothing written.
    assert select_explainer.main([one, os.path.join(one, "teacher"), "--out", out + "2"]) == 2
    assert "not a SMAT run" in capsys.readouterr().err and not os.path.exists(out + "2")

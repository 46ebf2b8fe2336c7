"""What a run survives, done for real on smoke configs: damaged checkpoints, a second process on
the same workdir, a full disk, bad paths, config errors found before any work, and annotators
who try each other's pages (README: "What a run survives")."""

import glob
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from smat import checkpointing, runs, sweep, workdir
from smat.callbacks import Callback
from smat.errors import CheckpointError
from smat.trainers import NoTeacherTrainer, on_demand
from tests.conftest import REPO, predictions
from tests.test_annotate import _form, _free_port, _key, _post, _serve, _text_study
from tests.test_training import _SignalAt

COMPARED = ("best_step", "best_val/accuracy", "test/accuracy", "test/loss")


def _truncate(files) -> int:
    n = 0
    for path in files:
        if os.path.isfile(path) and os.path.getsize(path) > 0:
            with open(path, "r+b") as f:
                f.truncate(os.path.getsize(path) // 2)
            n += 1
    return n


def _step_files(run: str, kind: str, step: int, under: str = "") -> list[str]:
    return glob.glob(os.path.join(run, "checkpoints", kind, str(step), under, "**"), recursive=True)


def _interrupted_at_21(reference, run: str) -> None:
    c, _, _ = reference
    trainer = NoTeacherTrainer(c, run)
    trainer.callbacks.append(_SignalAt(21, signal.SIGTERM))  # checkpoints 16 and 21 kept
    assert trainer.fit()["status"] == "interrupted"


def test_a_damaged_latest_checkpoint_is_moved_aside_and_the_older_one_resumes_exactly(
    reference, tmp_path, capsys
):
    c, ref_dir, ref = reference
    run = str(tmp_path / "run")
    _interrupted_at_21(reference, run)
    # The array data of the newest checkpoint cut in half (a node died while copying it).
    assert _truncate(_step_files(run, "latest", 21, "state/ocdbt.process_0/d")) > 0
    capsys.readouterr()
    summary = NoTeacherTrainer(c, run).fit()
    out = capsys.readouterr().out
    assert "checkpoint latest/21 cannot be read" in out and "resuming" in out
    assert "from step 16" in out
    assert os.path.isdir(os.path.join(run, "checkpoints", "damaged", "latest-21"))  # kept
    assert summary["status"] == "finished"
    for key in COMPARED:
        assert summary[key] == ref[key], key
    np.testing.assert_array_equal(predictions(run)["logits"], predictions(ref_dir)["logits"])
    # Nothing readable left: one error naming the folder and what to do.
    os.remove(os.path.join(run, "summary.json"))
    for step in (40, 48):
        _truncate(_step_files(run, "latest", step))
    with pytest.raises(CheckpointError, match=r"no checkpoint under .*latest can be read"):
        NoTeacherTrainer(c, run).fit()


def test_a_damaged_best_checkpoint_gives_one_error_and_stays_on_disk(reference, tmp_path):
    _, ref_dir, ref = reference
    run = str(tmp_path / "copy")
    shutil.copytree(ref_dir, run)
    _truncate(_step_files(run, "best", ref["best_step"]))
    with pytest.raises(CheckpointError, match=r"best checkpoint \(step 48\) cannot be read"):
        runs.load_trained_model(run)
    assert os.listdir(os.path.join(run, "checkpoints", "damaged")) == ["best-48"]


def _hold_in_subprocess(folder: str) -> subprocess.Popen:
    code = (
        "import sys, time; from smat.workdir import WorkdirLock; "
        "WorkdirLock(sys.argv[1]); print('held', flush=True); time.sleep(600)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, folder], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_one_live_run_per_workdir_and_a_killed_holder_does_not_block(reference, tmp_path):
    c, _, _ = reference
    run = str(tmp_path / "run")
    os.makedirs(run)
    holder = _hold_in_subprocess(run)
    try:
        with pytest.raises(workdir.WorkdirBusy, match=rf"in use by pid {holder.pid} on "):
            NoTeacherTrainer(c, run).fit()
        assert sorted(os.listdir(run)) == [".lock"]  # refused before writing anything
        assert workdir.holder(run)["pid"] == holder.pid
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert workdir.holder(run) is None
    workdir.WorkdirLock(run).release()  # the dead holder's lock is gone with it


def test_a_second_sweep_skips_the_cell_a_live_process_trains(tmp_path, capsys):
    root = str(tmp_path)
    os.makedirs(sweep.teacher_dir(root))
    checkpointing.write_json(
        os.path.join(sweep.teacher_dir(root), "summary.json"), {"status": "finished"}
    )
    config = os.path.join(REPO, "configs", "imdb_static.py:smoke")
    cell = sweep.Cell("n16/none/seed0", config, {}, {"explainer": "none"})
    held = workdir.WorkdirLock(workdir.prepare(sweep.cell_dir(root, cell)))
    try:
        result = sweep.run(sweep.Sweep(cells=[cell]), root)
    finally:
        held.release()
    assert result["busy"] == [cell.name] and result["failed"] == []
    assert "skipped: workdir" in capsys.readouterr().out
    assert not os.path.exists(os.path.join(sweep.cell_dir(root, cell), sweep.FAILED))


def test_a_student_waits_for_the_teacher_another_process_trains(tmp_path, monkeypatch, capsys):
    from smat import config as config_lib

    monkeypatch.setattr(on_demand, "WAIT_S", 0.05)
    folder = workdir.prepare(str(tmp_path / "teacher"))
    held = workdir.WorkdirLock(folder)

    def finish():
        time.sleep(0.5)
        checkpointing.write_json(os.path.join(folder, "summary.json"), {"status": "finished"})
        held.release()

    threading.Thread(target=finish).start()
    c = config_lib.from_file(os.path.join(REPO, "configs", "imdb_static.py:smoke"))
    assert on_demand.ensure_trained(c, folder) == {"status": "finished"}
    assert "being trained by pid" in capsys.readouterr().out


def _mount_tmpfs(path: str, options: str) -> None:
    os.makedirs(path, exist_ok=True)
    mount = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", path]
    done = subprocess.run(mount, capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")


def test_a_full_disk_stops_the_run_keeps_the_last_checkpoint_and_resume_is_exact(
    reference, tmp_path
):
    c, ref_dir, ref = reference
    disk = str(tmp_path / "disk")
    _mount_tmpfs(disk, "size=400m")  # room for the run, until it is filled up
    run = os.path.join(disk, "run")
    filler = os.path.join(disk, "filler")

    class FillTheDisk(Callback):
        def on_step_end(self, trainer, step):
            if step == 10:
                trainer.checkpointer.wait()  # checkpoint 8 is on disk
                with open(filler, "wb") as f:
                    try:
                        while True:
                            f.write(b"\0" * (1 << 20))
                            f.flush()
                    except OSError:
                        pass

    try:
        trainer = NoTeacherTrainer(c, run)
        trainer.callbacks.append(FillTheDisk())
        # Whichever write meets the full disk first stops the run: the next checkpoint's (a
        # CheckpointError naming the intact step 8) or the metric writers' flush at the same
        # validation (an OSError; `smat.main` prints either as one line).
        with pytest.raises((CheckpointError, OSError), match=r"No space left on device"):
            trainer.fit()
        assert trainer.checkpointer.latest_step() == 8
        os.remove(filler)
        summary = NoTeacherTrainer(c, run).fit()
        for key in COMPARED:
            assert summary[key] == ref[key], key
        np.testing.assert_array_equal(predictions(run)["logits"], predictions(ref_dir)["logits"])
    finally:
        subprocess.run(["umount", "-l", disk], capture_output=True)


def test_a_disk_too_small_for_one_checkpoint_is_refused_before_training(tmp_path, cache_dir):
    disk = str(tmp_path / "disk")
    _mount_tmpfs(disk, "size=60m")  # the smoke teacher's parameters alone are 52 MB
    try:
        done = _smoke_teacher(f"{disk}/run", cache_dir)
        _one_line_error(done, "checkpoint error:", "MB free, but a latest and a best checkpoint")
        for kind in ("latest", "best"):  # nothing trained, nothing saved
            folder = os.path.join(disk, "run", "checkpoints", kind)
            assert not os.path.isdir(folder) or not os.listdir(folder)
    finally:
        subprocess.run(["umount", "-l", disk], capture_output=True)


def test_a_disk_that_fills_up_gives_one_line_naming_the_failed_save(tmp_path, cache_dir):
    """Room for the first checkpoints, not for the next: one line (Orbax's own reports, and
    tensorstore's tracebacks from its threads, go to checkpoints/orbax_errors.log), naming
    the save that failed and the one that is intact."""
    disk = str(tmp_path / "disk")
    _mount_tmpfs(disk, "size=150m")
    try:
        done = _smoke_teacher(f"{disk}/run", cache_dir)
        _one_line_error(done, "checkpoint error: saving checkpoint latest/", "No space left")
        line = done.stderr.strip()
        failed = int(line.split("latest/")[1].split()[0])
        intact = int(line.split("the checkpoint of step ")[1].split()[0])
        latest = os.path.join(disk, "run", "checkpoints", "latest")
        assert intact < failed and str(intact) in os.listdir(latest)
        assert str(failed) not in os.listdir(latest)
        assert os.path.isfile(os.path.join(disk, "run", "checkpoints", "orbax_errors.log"))
    finally:
        subprocess.run(["umount", "-l", disk], capture_output=True)


def _smoke_teacher(workdir: str, cache_dir: str) -> subprocess.CompletedProcess:
    """The CLI training the smoke teacher in `workdir`, quietly, with the session's cache."""
    return _cli(
        "--config=configs/imdb_teacher.py:smoke",
        f"--workdir={workdir}",
        f"--config.data.cache_dir={cache_dir}",
        "--config.progress=False",
    )


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "smat.main", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _one_line_error(done: subprocess.CompletedProcess, *needles: str) -> None:
    assert done.returncode not in (0, None), done.stdout[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_bad_workdirs_get_one_line(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    _one_line_error(
        _cli("--config=configs/imdb_teacher.py:smoke", f"--workdir={a_file}/run"),
        "is a file, not a folder",
    )
    read_only = str(tmp_path / "ro")
    _mount_tmpfs(read_only, "ro,size=1m")
    try:
        with pytest.raises(Exception, match="Read-only file system|not writable"):
            workdir.prepare(os.path.join(read_only, "run"))
    finally:
        subprocess.run(["umount", "-l", read_only], capture_output=True)


@pytest.mark.parametrize(
    "override, needle",
    [
        ("--config.num_examples=99999", "exceeds the student_train pool"),
        ("--config.teacher_explainer.name=lime", "unknown explainer 'lime'"),
    ],
)
def test_student_config_errors_come_before_the_teacher_trains(tmp_path, override, needle):
    run = tmp_path / "student"
    done = _cli("--config=configs/imdb_static.py:smoke", f"--workdir={run}", override)
    _one_line_error(done, needle)
    assert not run.exists()  # not even the workdir, let alone its teacher


def test_annotators_reach_only_their_own_answers_over_http(tmp_path):
    study = _text_study(tmp_path / "s", n=3)
    port = _free_port()
    proc = _serve(study.folder, port)
    base = f"http://127.0.0.1:{port}"
    try:
        ana = _key(_post(f"{base}/start", {"name": "ana"})[1])
        bo = _key(_post(f"{base}/start", {"name": "bo"})[1])
        assert _post(f"{base}/a/{ana}/1", _form([1, 2, 3, 4]))[0] == 303
        before = study.store().answers()
        # bo tries ana's number, a guessed key, ana's name, and ana's form on a made-up key.
        assert _post(f"{base}/a/1/1", _form([4, 3, 2, 1], revision=1))[0] == 404
        assert _post(f"{base}/a/{ana[:-2]}xx/1", _form([4, 3, 2, 1], revision=1))[0] == 404
        assert _post(f"{base}/start", {"name": "ana"})[0] == 409
        assert _post(f"{base}/a/{bo}x/2", _form([4, 3, 2, 1]))[0] == 404
        assert study.store().answers() == before  # nothing changed
        # bo's own pages work, and answering there does not touch ana's answers.
        assert _post(f"{base}/a/{bo}/1", _form([4, 3, 2, 1]))[0] == 303
        assert [a.annotator for a in study.store().answers()] == ["ana", "bo"]
        keys = subprocess.run(
            [sys.executable, "-m", "smat.annotate", "keys", study.folder, "--base", base],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout.splitlines()
        assert keys == [f"ana\t{base}/a/{ana}", f"bo\t{base}/a/{bo}"]
    finally:
        proc.kill()
        proc.wait()

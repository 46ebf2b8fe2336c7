"""smat.sweep (resumable grid runner) and smat.report (statistics from the cells' predictions)."""

import csv
import json
import os
import shlex
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from smat import config as config_lib
from smat import report, statistics, sweep, transfer
from smat.reporting import restore
from smat.sweeps import runner
from tests.conftest import REPO

PAPER = os.path.join(REPO, "experiments", "imdb_paper.py")


def _seed_value(value, seed: int):
    return value[seed] if isinstance(value, list) else value


def _fake_sweep(
    root,
    agreements: dict[str, list[float]],
    n: int = 400,
    seed: int = 0,
    val_offsets=None,
    kinds=None,
    wall_times=None,
):
    """Cells whose students agree with the teacher on a given fraction of n test examples (and
    on that fraction plus `val_offsets[explainer]` of the validation examples)."""
    val_offsets = val_offsets or {}
    rng = np.random.default_rng(seed)
    teacher = rng.normal(size=(n, 2))
    cells = []
    for explainer, per_seed in agreements.items():
        for s, frac in enumerate(per_seed):
            workdir = os.path.join(root, "cells", explainer, f"seed{s}")
            os.makedirs(workdir)
            agree = rng.permutation(n) < int(round(frac * n))
            student = np.where(agree[:, None], teacher, -teacher)  # flipped = disagree
            np.savez(
                os.path.join(workdir, "test_predictions.npz"),
                index=np.arange(n),
                label=np.zeros(n, np.int32),
                teacher_logits=teacher,
                student_logits=student,
            )
            setup = "learnable_teacher" if explainer.startswith("smat") else "static_teacher"
            with open(os.path.join(workdir, "config.json"), "w") as f:
                json.dump({"task": "classification", "setup": setup}, f)
            with open(os.path.join(workdir, "summary.json"), "w") as f:
                # Validation a little off the test value, so selection on it is visible.
                json.dump(
                    {
                        "best_val/simulability": frac + val_offsets.get(explainer, 0.0),
                        "test/simulability": float(np.mean(agree)),
                        "wall_time_s": _seed_value((wall_times or {}).get(explainer, 10.0), s),
                    },
                    f,
                )
            if explainer == "smat":
                np.save(os.path.join(workdir, "teacher_head_weights.npy"), np.full((2, 3), 1 / 6))
            cells.append(
                {
                    "name": f"{explainer}/seed{s}",
                    "workdir": workdir,
                    "labels": {
                        "explainer": explainer,
                        "num_examples": 100,
                        "seed": s,
                        **({"kind": kinds[explainer]} if explainer in (kinds or {}) else {}),
                    },
                }
            )
    with open(os.path.join(root, "sweep.json"), "w") as f:
        json.dump({"sweep_file": PAPER, "variant": "test", "cells": cells}, f)


def test_report_statistics_are_computed_from_the_prediction_files(tmp_path):
    root = str(tmp_path)
    _fake_sweep(
        root,
        {
            "none": [0.70, 0.72, 0.74],
            "attention_all": [0.80, 0.81, 0.85],
            "smat": [0.90, 0.91, 0.92],
        },
    )
    result = report.write(root, samples=400)
    rows = {r["explainer"]: r for r in result["rows"]}
    np.testing.assert_allclose(rows["none"]["per_seed"], [0.70, 0.72, 0.74])
    assert rows["attention_all"]["median"] == pytest.approx(0.81)
    assert rows["attention_all"]["q25"] == pytest.approx(0.805)
    assert rows["attention_all"]["q75"] == pytest.approx(0.83)
    r = rows["smat"]
    assert r["mean"] == pytest.approx(0.91) and r["sd"] == pytest.approx(0.01)
    assert r["worst"] == pytest.approx(0.90)
    # Seed level: t(2 df) = 4.30 x sqrt(0.01^2 / 3 + the examples' share) > 0.0248.
    assert r["ci_high"] - r["mean"] > 4.30 * 0.01 / np.sqrt(3)
    # These students only: the example bootstrap is far narrower.
    assert r["examples_ci_high"] - r["examples_ci_low"] < r["ci_high"] - r["ci_low"]
    assert not r["spread_flag"]  # 0.01 < attention_all's 0.026
    (test,) = result["tests"]
    assert test["explainer"] == "smat" and test["baseline"] == "attention_all"
    c = test["comparison"]
    assert c.difference == pytest.approx(0.91 - 0.82) and c.paired and c.method == "sign-flip"
    # Three pairs, all positive: the exact sign-flip p is 2/8, however large the difference;
    # the example bootstrap of these students says < 0.01.
    assert c.p == pytest.approx(0.25) and test["p_holm"] == pytest.approx(0.25)
    assert test["examples"].p < 0.01
    assert c.seeds_needed == 6  # the fewest pairs a sign-flip test can reject with
    for name in ("report.md", "results.csv", "tests.csv", "simulability.png", "heads_n100.png"):
        assert os.path.getsize(os.path.join(root, name)) > 0
    with open(os.path.join(root, "results.csv")) as f:
        assert [row["explainer"] for row in csv.DictReader(f)] == ["none", "attention_all", "smat"]
    text = open(os.path.join(root, "report.md")).read()
    assert "| 100 | smat | learned | 3 | 0.9100 | 0.9100 [" in text
    assert "` beats `" not in text and "no difference shown" not in text
    assert "too few seeds to test" in text and "3 pairs cannot give a p below 0.250" in text


def test_only_the_holm_adjusted_seed_level_result_says_beats(tmp_path):
    root = str(tmp_path)
    # Ten seeds, SMAT ahead on every one: p = 2/1024 alone, Holm over 3 tests 0.006.
    _fake_sweep(
        root,
        {
            "attention_all": [0.80 + 0.002 * s for s in range(10)],
            "layer1": [0.83 + 0.002 * s for s in range(10)],
            "smat": [0.84 + 0.002 * s + 0.001 * (s % 2) for s in range(10)],
        },
        val_offsets={"attention_all": -0.05},
        n=1000,
    )
    result = report.write(root, samples=200)
    tests = {(t["explainer"], t["baseline"]): t for t in result["tests"]}
    t = tests[("smat", "layer1")]
    assert t["comparison"].p == pytest.approx(2 / 1024)
    assert t["p_holm"] == pytest.approx(3 * 2 / 1024)
    text = open(os.path.join(root, "report.md")).read()
    assert "**`smat` beats `layer1`**" in text
    assert "**`layer1` beats `attention_all`**" in text


def test_spread_is_flagged_and_one_seed_gets_no_test(tmp_path):
    root = str(tmp_path)
    _fake_sweep(
        root,
        {"attention_all": [0.80, 0.81, 0.80], "smat": [0.70, 0.90, 0.80], "smat_once": [0.9]},
    )
    result = report.write(root, samples=100)
    rows = {r["explainer"]: r for r in result["rows"]}
    assert rows["smat"]["spread_flag"] and rows["smat"]["worst"] == pytest.approx(0.70)
    assert rows["smat_once"]["ci_low"] is None
    once = next(t for t in result["tests"] if t["explainer"] == "smat_once")
    assert once["comparison"].p is None and once["p_holm"] is None
    text = open(os.path.join(root, "report.md")).read()
    assert "0.1000 ⚠" in text and "single seed: no seed-level test" in text


def test_a_search_arm_picks_on_validation_per_seed_and_costs_every_run(tmp_path):
    root = str(tmp_path)
    # Per seed, validation prefers layer1 on seeds 0-1 and layer0 on seed 2 (its offset).
    _fake_sweep(
        root,
        {"layer0": [0.70, 0.70, 0.86], "layer1": [0.85, 0.84, 0.80], "smat": [0.86, 0.85, 0.87]},
        # Seed 1's layer1 run shared a loaded machine (or was paused): 3x its time.
        wall_times={"layer0": 100.0, "layer1": [200.0, 600.0, 200.0], "smat": 150.0},
    )
    result = report.write(root, samples=100, search=["layer*"])
    rows = {r["explainer"]: r for r in result["rows"]}
    search = rows["search:layer*"]
    assert search["kind"] == "search"
    np.testing.assert_allclose(search["per_seed"], [0.85, 0.84, 0.86])
    # A search costs all its runs on a seed: 300, 700, 300 s; the fastest seed's is the cost.
    assert search["cost_s"] == pytest.approx(300.0)
    assert search["cost_median_s"] == pytest.approx(300.0)
    assert rows["layer1"]["cost_s"] == 200.0 and rows["layer1"]["cost_median_s"] == 200.0
    assert "2× layer1, 1× layer0" in search["note"]
    t = next(t for t in result["tests"] if t["baseline"] == "search:layer*")
    assert t["explainer"] == "smat" and t["comparison"].difference == pytest.approx(0.01)
    text = open(os.path.join(root, "report.md")).read()
    assert "| 150 s (150 s) | 0.50 (0.50) |" in text  # 150 s vs 300 s
    assert "| 300 s (300 s) |" in text


def test_a_report_recomputes_from_its_archive(tmp_path):
    root = str(tmp_path / "root")
    os.makedirs(root)
    _fake_sweep(root, {"attention_all": [0.8, 0.82], "smat": [0.85, 0.84]})
    archive = str(tmp_path / "archive")
    report.write(root, samples=100, archive=archive)
    assert set(os.listdir(archive)) == {"predictions.json", "predictions.npz"}
    again = str(tmp_path / "again")
    report.write(archive, samples=100, out=again)
    for name in ("report.md", "results.csv", "tests.csv", "cells.csv"):
        first = open(os.path.join(root, name)).read().replace("# Sweep report: root", "")
        second = open(os.path.join(again, name)).read().replace("# Sweep report: archive", "")
        assert first == second, name


def test_report_chooses_the_baseline_on_validation_and_tests_headroom(tmp_path):
    root = str(tmp_path)
    # L0H1 is best on test, but layer1 on validation: the baseline is layer1.
    _fake_sweep(
        root,
        {
            "attention_all": [0.80, 0.80],
            "layer1": [0.84, 0.84],
            "L0H1": [0.86, 0.86],
            "smat": [0.85, 0.85],
        },
        val_offsets={"L0H1": -0.05},
    )
    tests = {(t["explainer"], t["baseline"]): t for t in report.write(root, samples=300)["tests"]}
    assert set(tests) == {
        ("smat", "layer1"),
        ("smat", "attention_all"),  # does the learned one beat the uniform mix?
        ("layer1", "attention_all"),  # is there headroom?
    }
    assert tests[("layer1", "attention_all")]["comparison"].difference == pytest.approx(0.04)
    assert tests[("smat", "attention_all")]["comparison"].difference == pytest.approx(0.05)


def test_a_derived_explainer_is_compared_with_the_best_static_one_not_chosen_as_it(tmp_path):
    root = str(tmp_path)
    # L3H7 (a head picked from SMAT's weights) is best on validation, but it is not a static
    # candidate: layer1 stays the baseline, and L3H7 is tested against it.
    _fake_sweep(
        root,
        {"attention_all": [0.80, 0.80], "layer1": [0.84, 0.84], "L3H7": [0.86, 0.86]},
        kinds={"L3H7": "derived"},
    )
    result = report.write(root, samples=300)
    tests = {(t["explainer"], t["baseline"]) for t in result["tests"]}
    assert tests == {("L3H7", "layer1"), ("L3H7", "attention_all"), ("layer1", "attention_all")}
    assert {r["explainer"]: r["kind"] for r in result["rows"]}["L3H7"] == "derived"
    assert "| 100 | L3H7 | derived |" in open(os.path.join(root, "report.md")).read()


def test_report_narrows_to_the_cells_asked_for(tmp_path):
    root = str(tmp_path)
    _fake_sweep(root, {"none": [0.7, 0.7], "attention_all": [0.8, 0.8], "smat": [0.9, 0.9]})
    rows = report.write(root, samples=50, only=["smat/*", "none/seed1"])["rows"]
    assert [(r["explainer"], r["seeds"]) for r in rows] == [("none", 1), ("smat", 2)]
    assert report.main([root, "--bootstrap", "50", "--explainers", "attention_all"]) == 0
    with open(os.path.join(root, "results.csv")) as f:
        assert [r["explainer"] for r in csv.DictReader(f)] == ["attention_all"]
    # A narrowed report written beside the full one leaves the full one as it was.
    full = open(os.path.join(root, "report.md")).read()
    out = os.path.join(root, "replication")
    assert report.main([root, "--bootstrap", "50", "--only", "smat/*", "--out", out]) == 0
    assert open(os.path.join(root, "report.md")).read() == full
    with open(os.path.join(out, "results.csv")) as f:
        assert [r["explainer"] for r in csv.DictReader(f)] == ["smat"]
    assert "cells matching smat/*" in open(os.path.join(out, "report.md")).read()


def test_paired_test_finds_no_difference_between_equal_explainers(tmp_path):
    root = str(tmp_path)
    _fake_sweep(root, {"attention_all": [0.8, 0.8], "smat": [0.8, 0.8]}, seed=1)
    (test,) = report.write(root, samples=300)["tests"]
    c = test["comparison"]
    assert abs(c.difference) < 0.05 and c.p > 0.05 and test["examples"].p > 0.05


def test_paired_test_compares_the_seeds_both_explainers_have(tmp_path):
    root = str(tmp_path)
    # Seed 2 exists for the static explainer only, and its student is poor: counting it would
    # credit SMAT with a difference of students, not of explainers.
    _fake_sweep(root, {"attention_all": [0.8, 0.8, 0.5], "smat": [0.8, 0.8]}, seed=1)
    (test,) = report.write(root, samples=300)["tests"]
    c = test["comparison"]
    assert c.paired and c.seeds_a == (0, 1) and abs(c.difference) < 0.05 and c.p > 0.05


def test_lost_predictions_still_give_the_seed_level_report_from_cells_csv(tmp_path):
    root = str(tmp_path / "root")
    os.makedirs(root)
    _fake_sweep(root, {"attention_all": [0.80, 0.81, 0.79], "smat": [0.84, 0.86, 0.83]})
    full = report.write(root, samples=100)
    lost = str(tmp_path / "lost")
    os.makedirs(lost)
    shutil.copy(os.path.join(root, "cells.csv"), lost)  # all that is left of the runs
    again = report.write(lost, samples=100)
    assert [r["per_seed"] for r in again["rows"]] == [
        pytest.approx(r["per_seed"]) for r in full["rows"]
    ]
    (a,), (b,) = full["tests"], again["tests"]
    assert b["comparison"].p == a["comparison"].p and b["examples"] is None
    text = open(os.path.join(lost, "report.md")).read()
    assert "predictions are lost" in text


def test_a_cell_without_predictions_says_why(tmp_path):
    from smat.reporting import cells

    workdir = tmp_path / "cell"
    assert cells.status(str(workdir)) == "not started"
    workdir.mkdir()  # a sweep prepares every cell's folder before it runs the first
    assert cells.status(str(workdir)) == "not started"
    (workdir / "config.json").write_text("{}")
    assert cells.status(str(workdir)) == "started, no checkpoint yet"
    (workdir / "checkpoints" / "latest" / "8").mkdir(parents=True)
    assert cells.status(str(workdir)) == "interrupted at step 8"
    (workdir / runner.FAILED).write_text(json.dumps({"error": "Traceback\nValueError: bad"}))
    assert cells.status(str(workdir)) == "failed: ValueError: bad"
    (workdir / "summary.json").write_text("{}")
    assert cells.status(str(workdir)) == "finished"


def test_a_pre_registered_family_replaces_the_default_tests(tmp_path):
    root = str(tmp_path)
    _fake_sweep(
        root,
        {"attention_all": [0.8, 0.81], "layer1": [0.84, 0.85], "smat": [0.85, 0.86]},
    )
    result = report.write(root, samples=50, compare_pairs=[("smat", "layer1")], default_tests=False)
    assert [(t["explainer"], t["baseline"]) for t in result["tests"]] == [("smat", "layer1")]
    assert result["tests"][0]["p_holm"] == result["tests"][0]["comparison"].p  # a family of 1
    text = open(os.path.join(root, "report.md")).read()
    assert "Comparisons: only the pairs asked for with `--compare`" in text
    assert "against the best static one" not in text  # no test the report did not run


def test_a_pre_registered_test_not_yet_run_still_counts_in_the_family(tmp_path):
    root = str(tmp_path)
    _fake_sweep(root, {"layer1": [0.84, 0.85, 0.83], "smat": [0.85, 0.86, 0.84]})
    pairs = [("smat", "layer1"), ("smat_k4", "layer1"), ("transfer_smat", "layer1")]
    result = report.write(root, samples=50, compare_pairs=pairs, default_tests=False)
    (test,) = result["tests"]
    assert test["p_holm"] == pytest.approx(min(1.0, 3 * test["comparison"].p))
    assert test["pending"] == ["smat_k4 vs layer1", "transfer_smat vs layer1"]
    text = open(os.path.join(root, "report.md")).read()
    assert "3 tests (2 of them pre-registered but not yet computable, counted at p = 1)" in text


def test_a_report_killed_while_writing_leaves_whole_files(tmp_path):
    """Every file a report writes is replaced atomically: killed at random moments, what is
    on disk is always the previous complete report (the output is deterministic, so equal
    bytes), never a torn file."""
    root = str(tmp_path)
    _fake_sweep(root, {f"e{i}": [0.8, 0.81, 0.82, 0.83] for i in range(8)}, n=2000)
    cmd = [sys.executable, "-m", "smat.report", root, "--bootstrap", "3000"]
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, timeout=600)
    names = ("report.md", "results.csv", "tests.csv", "cells.csv", "simulability.png")
    reference = {n: open(os.path.join(root, n), "rb").read() for n in names}
    rng = np.random.default_rng(0)
    for _ in range(4):
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(1.0, 6.0))  # past start-up, somewhere in the writing
        proc.kill()
        proc.wait()
        for n in names:
            assert open(os.path.join(root, n), "rb").read() == reference[n], n


def test_two_sweeps_starting_on_one_root_keep_both_records(tmp_path):
    """sweep.json is read, merged and written under a lock: six sweeps started at once on one
    root leave six invocations and all their cells (without the lock, some were lost: each
    sweep reads the record, checks its 60 cells' configs, then writes)."""
    root = str(tmp_path / "root")
    procs = []
    for i in range(6):
        (tmp_path / f"s{i}.py").write_text(
            "from smat.sweep import Cell, Sweep\n"
            "def get_sweep(variant):\n"
            f"    return Sweep([Cell(f'c{i}_{{j}}', '{REPO}/configs/imdb_static.py:smoke', {{}}, "
            f"{{'explainer': 'e', 'num_examples': 1, 'seed': j}}) for j in range(60)])\n"
        )
        cmd = [sys.executable, "-m", "smat.sweep", str(tmp_path / f"s{i}.py")]
        procs.append(
            subprocess.Popen(
                [*cmd, "--root", root, "--print-commands"],
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )  # fmt: skip
        )
    assert all(p.wait(timeout=600) == 0 for p in procs), [p.stderr.read() for p in procs]
    manifest = json.load(open(os.path.join(root, "sweep.json")))
    assert len(manifest["invocations"]) == 6 and len(manifest["cells"]) == 6 * 60


@pytest.fixture(scope="module")
def smoke_sweep(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("imdb_paper_smoke"))
    code = sweep.main([PAPER, "--root", root, "--variant", "smoke"])
    return root, code


def test_smoke_sweep_runs_every_cell_then_reports_from_their_predictions(smoke_sweep):
    root, code = smoke_sweep
    assert code == 0
    cells = sweep.load_sweep(PAPER, "smoke").cells
    assert len(cells) == 4
    for cell in cells:
        with open(os.path.join(sweep.cell_dir(root, cell), "summary.json")) as f:
            assert json.load(f)["status"] == "finished"
    assert report.main([root, "--bootstrap", "200"]) == 0
    rows = {r["explainer"]: r for r in report.write(root, samples=200)["rows"]}
    assert set(rows) == {"none", "attention_last", "gradient_x_input", "smat"}
    for cell in cells:
        with np.load(os.path.join(sweep.cell_dir(root, cell), "test_predictions.npz")) as z:
            agree = np.mean(z["student_logits"].argmax(-1) == z["teacher_logits"].argmax(-1))
        with open(os.path.join(sweep.cell_dir(root, cell), "summary.json")) as f:
            summary = json.load(f)
        assert rows[cell.labels["explainer"]]["per_seed"] == [pytest.approx(agree)]
        assert summary["test/simulability"] == pytest.approx(agree, abs=1e-6)


def test_a_study_whose_runs_were_lost_goes_on_from_its_archive(smoke_sweep, tmp_path):
    """`--restore` puts an archive's finished cells back into a new root (after one of them ran
    again there, to check the teacher): the sweep skips them, a transfer reads the restored SMAT
    run's head weights, and the report is the lost root's, saying how many cells were restored."""
    root, _ = smoke_sweep
    archive = str(tmp_path / "archive")
    full = report.write(root, samples=50, out=str(tmp_path / "full"), archive=archive)
    new = str(tmp_path / "new")
    shutil.copytree(os.path.join(root, "teacher"), os.path.join(new, "teacher"))
    argv = [PAPER, "--root", new, "--variant", "smoke"]
    with pytest.raises(ValueError, match="no finished cell of its own"):
        restore.restore(sweep.load_sweep(PAPER, "smoke"), new, archive)
    assert sweep.main([*argv, "--only", "n64/none/seed0"]) == 0  # the teacher check
    assert sweep.main([*argv, "--restore", archive]) == 0  # restores 3, runs nothing
    smat_dir = os.path.join(new, "cells", "n64", "smat", "seed0")
    assert os.path.isfile(os.path.join(smat_dir, "restored.json"))
    assert not os.path.isdir(os.path.join(smat_dir, "checkpoints"))
    np.testing.assert_array_equal(
        np.load(os.path.join(smat_dir, "teacher_head_weights.npy")),
        np.load(os.path.join(root, "cells", "n64", "smat", "seed0", "teacher_head_weights.npy")),
    )
    cells = sweep.load_sweep(PAPER, "smoke").cells
    config = sweep.cell_config(next(c for c in cells if c.labels["explainer"] == "smat"), new)
    config.teacher_explainer.from_run = smat_dir  # what a transfer cell reads
    np.testing.assert_array_equal(
        transfer.load_weights(config, sweep.teacher_dir(new)),
        np.load(os.path.join(smat_dir, "teacher_head_weights.npy")),
    )
    again = report.write(new, samples=50)
    assert [r["per_seed"] for r in again["rows"]] == [r["per_seed"] for r in full["rows"]]
    assert "; 3 cells restored from an archive of it" in open(os.path.join(new, "report.md")).read()
    # Another teacher: the root's own cell disagrees with the archive's teacher on the test set.
    shutil.rmtree(smat_dir)
    own = os.path.join(new, "cells", "n64", "none", "seed0", "test_predictions.npz")
    with np.load(own) as z:
        arrays = dict(z)
    arrays["teacher_logits"] = arrays["teacher_logits"][:, ::-1]  # every class flipped
    np.savez(own, **arrays)
    with pytest.raises(ValueError, match="not the same teacher"):
        restore.restore(sweep.load_sweep(PAPER, "smoke"), new, archive)
    assert sweep.main([*argv, "--restore", archive, "--print-commands"]) == 2


def test_a_restored_transfer_cell_names_its_source_under_either_root():
    """A transfer cell's from_run is its source's workdir: restoring into another root must
    compare the source cell, not the old root's path (which would refuse every transfer)."""
    field = "teacher_explainer.from_run"
    assert restore._same(field, "/new/cells/n500/smat/seed0", "/old/cells/n500/smat/seed0")
    assert not restore._same(field, "/new/cells/n500/smat/seed0", "/old/cells/n500/smat/seed1")
    assert not restore._same("seed", 0, 1) and restore._same(field, "", "")


def test_a_finished_sweep_is_skipped_and_a_failing_cell_is_reported(smoke_sweep, tmp_path):
    root, _ = smoke_sweep
    configs = os.path.join(REPO, "configs")
    (tmp_path / "mixed.py").write_text(
        "from smat.sweep import Cell, Sweep\n"
        "def get_sweep(variant):\n"
        "    return Sweep(cells=[\n"
        f"        Cell('n64/none/seed0', '{configs}/imdb_static.py:smoke',\n"
        "             {'teacher_explainer.name': 'none', 'beta': 0.0, 'num_examples': 64.0,\n"
        "              'seed': 0}, {'explainer': 'none', 'num_examples': 64, 'seed': 0}),\n"
        f"        Cell('too_many', '{configs}/imdb_static.py:smoke',\n"
        "             {'teacher_explainer.name': 'none', 'beta': 0.0,\n"
        "              'data.source': '/no/such/reviews.csv'},\n"
        "             {'explainer': 'x', 'num_examples': 1, 'seed': 0}),\n"
        "    ])\n"
    )
    assert sweep.main([str(tmp_path / "mixed.py"), "--root", root]) == 1  # one cell failed
    assert not os.path.exists(os.path.join(root, "cells", "too_many", "summary.json"))
    # The root remembers both sweeps: one report over all their cells, each missing one with why.
    manifest = sweep.read_manifest(root)
    assert len(manifest["invocations"]) == 2 and len(manifest["cells"]) == 5
    result = report.write(root, samples=50)
    assert {r["explainer"] for r in result["rows"]} == {
        "none",
        "attention_last",
        "gradient_x_input",
        "smat",
    }
    (missing,) = result["missing"]
    assert missing.startswith("too_many (failed: ") and "differs from the teacher" in missing
    with open(os.path.join(root, "cells.csv")) as f:
        cells = {r["name"]: r for r in csv.DictReader(f)}
    assert len(cells) == 5 and cells["too_many"]["status"].startswith("failed: ")
    smat_cell = cells["n64/smat/seed0"]
    assert smat_cell["status"] == "finished" and smat_cell["setup"] == "learnable_teacher"
    assert float(smat_cell["test/simulability"]) > 0 and float(smat_cell["wall_time_s"]) > 0
    narrowed = report.write(root, samples=50, explainers=["smat", "none"])
    assert {r["explainer"] for r in narrowed["rows"]} == {"none", "smat"}
    assert not narrowed["missing"]
    report.write(root, samples=50)  # the full report again, for the tests that read it


def test_a_cell_name_reused_with_another_config_is_refused(smoke_sweep, tmp_path, capsys):
    root, _ = smoke_sweep
    configs = os.path.join(REPO, "configs")
    (tmp_path / "clash.py").write_text(
        "from smat.sweep import Cell, Sweep\n"
        "def get_sweep(variant):\n"
        f"    return Sweep(cells=[Cell('n64/none/seed0', '{configs}/imdb_static.py:smoke',\n"
        "             {'teacher_explainer.name': 'none', 'beta': 0.0, 'num_examples': 64.0,\n"
        "              'seed': 0, 'optim.learning_rate': 0.5}, {'explainer': 'none'})])\n"
    )
    before = open(os.path.join(root, "sweep.json")).read()
    assert sweep.main([str(tmp_path / "clash.py"), "--root", root]) == 2
    err = capsys.readouterr().err
    assert "n64/none/seed0 is already in" in err and "optim.learning_rate" in err
    assert open(os.path.join(root, "sweep.json")).read() == before


def test_a_field_added_to_smat_after_a_sweep_does_not_clash_with_its_cells(smoke_sweep):
    root, _ = smoke_sweep
    path = os.path.join(root, "sweep.json")
    manifest = json.load(open(path))
    for cell in manifest["cells"]:  # as recorded before teacher_explainer.top_k existed
        cell["config"]["teacher_explainer"].pop("top_k", None)
    with open(path, "w") as f:
        json.dump(manifest, f)
    smoke = sweep.load_sweep(PAPER, "smoke")
    sweep.write_manifest(smoke, root, PAPER, "smoke", {})  # accepted: the cells ran at 0
    recorded = {c["name"]: c["config"] for c in json.load(open(path))["cells"]}
    assert all(recorded[c.name]["teacher_explainer"]["top_k"] == 0 for c in smoke.cells)
    # Not at the default: a change.
    assert config_lib.diff({"e": {}}, {"e": {"top_k": 2}}, defaults={"e": {"top_k": 0}}) == [
        "e.top_k: '<absent>' -> 2"
    ]


def test_print_commands_lists_the_teacher_then_one_command_per_cell(smoke_sweep, capsys):
    root, _ = smoke_sweep
    assert sweep.main([PAPER, "--root", root, "--variant", "smoke", "--print-commands"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5 and "ensure_trained" in lines[0]
    args = shlex.split(lines[-1])
    assert args[1:3] == ["-m", "smat.main"] and "--config.seed=0" in args
    assert any(a.startswith("--config.teacher_workdir=") for a in args)
    argv = [PAPER, "--root", root, "--variant", "smoke", "--print-commands", "--only", "*/smat/*"]
    assert sweep.main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "--workdir=" + os.path.join(root, "cells", "n64", "smat") in lines[1]
    assert sweep.main([*argv[:-1], "nothing*"]) == 2


def test_seeds_together_groups_the_cells_that_differ_only_in_their_seed(tmp_path):
    cells = sweep.load_sweep(PAPER, "cpu").cells
    assert [len(g) for g in runner.groups(cells, str(tmp_path), False)] == [1] * len(cells)
    groups = runner.groups(cells, str(tmp_path), True)
    assert len(groups) == len(cells) // 2 and sum(groups, []) == cells
    for group in groups:
        assert [c.labels["seed"] for c in group] == [0, 1]
        assert len({c.labels["explainer"] for c in group}) == 1


def test_bad_sweep_cells_are_refused_before_anything_runs(tmp_path, capsys):
    (tmp_path / "bad.py").write_text(
        "from smat.sweep import Cell, Sweep\n"
        "def get_sweep(variant):\n"
        f"    return Sweep(cells=[Cell('a', '{REPO}/configs/imdb_static.py:smoke',\n"
        "                             {'train.nope': 1}, {})])\n"
    )
    assert sweep.main([str(tmp_path / "bad.py"), "--root", str(tmp_path / "r")]) == 2
    assert "'train.nope': no such field" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "r" / "teacher")


@pytest.mark.parametrize(
    "source, needle",
    [
        ("def get_sweep(variant):\n    return [\n", "bad.py line 2: '[' was never closed"),
        ("def get_sweep(variant):\n    x = {}\n    return x['cells']\n", "bad.py line 3: KeyError"),
        ("cells = []\n", "bad.py: defines no get_sweep(variant) function"),
    ],
)
def test_a_broken_sweep_file_gets_one_line_with_its_file_and_line(tmp_path, capsys, source, needle):
    (tmp_path / "bad.py").write_text(source)
    assert sweep.main([str(tmp_path / "bad.py"), "--root", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sweep error: ") and needle in err and err.count("\n") == 1, err


def test_viewer_writes_a_page_that_renders_in_a_headless_browser(smoke_sweep, tmp_path, capsys):
    import shutil
    import subprocess

    from smat import explain

    root, _ = smoke_sweep
    cells = os.path.join(root, "cells", "n64")
    page = str(tmp_path / "view.html")
    code = explain.main(
        [
            "--workdir",
            os.path.join(cells, "smat", "seed0"),
            "--compare",
            os.path.join(cells, "attention_last", "seed0"),
            "--html",
            page,
            "--examples",
            "3",
        ]
    )
    assert code == 0
    run = os.path.join(cells, "smat", "seed0")
    assert explain.main(["--workdir", run, "--text", "A gripping, beautifully acted film."]) == 0
    out = capsys.readouterr().out
    assert "\x1b[48;2;255;" in out and "gripping" in out  # the terminal heatmap
    html = open(page).read()
    for name in (
        "attention (learned (SMAT))",
        "attention (attention_last/seed0)",
        "gradient_x_input",
        "integrated_gradients",
        "teacher predicts",
    ):
        assert name in html
    assert html.count("<table>") == 3
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium (Debian: apt-get install chromium) to render the page")
    shot = str(tmp_path / "view.png")
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={shot}",
            "--window-size=1000,700",
            f"file://{page}",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.std() > 0.05  # not a blank page
    reddish = (pixels[..., 0] > pixels[..., 1] + 0.2).mean()
    assert reddish > 0.005  # heatmap spans were painted


def test_viewer_explains_a_file_of_texts_by_word_for_a_chosen_class(smoke_sweep, tmp_path, capsys):
    from smat import explain
    from smat.attribution import Attributions

    root, _ = smoke_sweep
    run = os.path.join(root, "cells", "n64", "smat", "seed0")
    texts = tmp_path / "texts.txt"
    texts.write_text("A <i>gripping</i> film!\n\nDull, don't bother.\n")
    page, saved = str(tmp_path / "texts.html"), str(tmp_path / "texts.json")
    args = ["--workdir", run, "--texts-file", str(texts), "--aggregate", "word"]
    assert explain.main(args + ["--target", "0", "--html", page, "--json", saved]) == 0
    out = capsys.readouterr().out
    assert "explains class" not in out.split("\n")[0]  # attention explains no class
    attributions = Attributions.load(saved)
    assert [a.words for a in attributions] == [
        ["A", "<i>gripping</i>", "film!"],
        ["Dull,", "don't", "bother."],
    ]
    html = open(page).read()
    assert html.count("<table>") == 2 and "&lt;i&gt;gripping&lt;/i&gt;" in html
    assert "explains class 0" in html  # the gradient baselines explain the class asked for
    assert explain.main(args + ["--raw", "--baselines", "integrated_gradients"]) == 0
    assert explain.main(["--workdir", run, "--aggregate", "word", "--html", page]) == 2
    assert "needs texts" in capsys.readouterr().err


def test_the_docs_explain_my_text_example_runs_as_written(smoke_sweep, tmp_path, monkeypatch):
    root, _ = smoke_sweep
    run = os.path.join(root, "cells", "n64", "smat", "seed0")
    with open(os.path.join(REPO, "docs", "explanations.md")) as f:
        page = f.read()
    snippet = page.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(snippet.strip().splitlines()) <= 6 and "runs/imdb/smat" in snippet
    monkeypatch.chdir(tmp_path)
    exec(snippet.replace("runs/imdb/smat", run), {})
    html = (tmp_path / "explanation.html").read_text()
    assert "beautifully" in html and "predicts" in html


def _eraser_folder(path, docs: list[tuple[str, str, list[tuple[int, int]]]]) -> str:
    """An ERASER-format folder: (text, NEG|POS, evidence spans as word ranges) per document."""
    os.makedirs(os.path.join(path, "docs"))
    with open(os.path.join(path, "test.jsonl"), "w") as f:
        for i, (text, label, spans) in enumerate(docs):
            docid = f"doc{i}.txt"
            with open(os.path.join(path, "docs", docid), "w") as d:
                d.write(text)
            evidences = [[{"docid": docid, "start_token": a, "end_token": b}] for a, b in spans]
            f.write(
                json.dumps(
                    {"annotation_id": docid, "classification": label, "evidences": evidences}
                )
                + "\n"
            )
    return str(path)


def test_report_adds_faithfulness_and_plausibility_of_every_teacher_explainer(
    smoke_sweep, tmp_path
):
    from smat.evaluation import faithfulness, sweep_explanations
    from smat.saved_explainers import load_teacher_explainer

    root, _ = smoke_sweep
    eraser = _eraser_folder(
        tmp_path / "eraser",
        [
            ("this film is a dull and boring mess with no plot .", "NEG", [(4, 7)]),
            ("a wonderful , moving story with brilliant acting .", "POS", [(1, 2), (6, 8)]),
            ("i hated every minute , the worst film of the year .", "NEG", [(1, 2), (6, 7)]),
        ],
    )
    code = report.main([root, "--explanations", "6", "--eraser", eraser, "--bootstrap", "50"])
    assert code == 0
    with open(os.path.join(root, sweep_explanations.RESULTS)) as f:
        results = json.load(f)
    rows = {r["explainer"]: r for r in results["rows"]}
    assert set(rows) == {"attention_last", "gradient_x_input", "smat", "random"}  # no 'none'
    assert rows["smat"]["num_examples"] == 64 and rows["attention_last"]["num_examples"] is None
    for r in rows.values():
        assert -1 <= r["comprehensiveness_aopc"] <= 1 and -1 <= r["sufficiency_aopc"] <= 1
        assert 0 <= r["plausibility_auc"] <= 1 and 0 < r["plausibility_ap"] <= 1
    # The learned row is that cell's explainer, evaluated afresh on the same test examples.
    (cell,) = [c for c in sweep.load_sweep(PAPER, "smoke").cells if c.labels["explainer"] == "smat"]
    learned = load_teacher_explainer(sweep.cell_dir(root, cell))
    config = sweep.cell_config(cell, root)
    batch = sweep_explanations._test_batch(config, learned.tokenizer_file, 6)
    direct = faithfulness.evaluate(
        learned.model.apply, learned.params, batch, learned.scores(batch)
    )
    assert rows["smat"]["comprehensiveness_aopc"] == pytest.approx(
        direct["comprehensiveness_aopc"], abs=1e-6
    )
    text = open(os.path.join(root, "report.md")).read()
    assert "comprehensiveness AOPC" in text and "rationale AUC" in text
    assert f"| smat | 64 | 1 | {rows['smat']['comprehensiveness_aopc']:.4f} |" in text


def test_annotation_study_of_the_smat_run_exports_serves_and_analyzes(
    smoke_sweep, tmp_path, capsys
):
    """The three `python -m smat.annotate` commands on a real SMAT run of the sweep."""
    from smat.annotate import load_study
    from smat.annotate.__main__ import main as annotate
    from smat.annotate.app import create_app

    root, _ = smoke_sweep
    cells = os.path.join(root, "cells", "n64")
    study_dir = str(tmp_path / "study")
    static_run = os.path.join(cells, "attention_last", "seed0")
    assert annotate(["export", "--workdir", static_run, "--out", study_dir]) == 2
    assert "needs a SMAT (learnable_teacher) run" in capsys.readouterr().err
    assert annotate(["export", "--workdir", static_run, "--explainers", "attention,lime",
                     "--out", study_dir]) == 2  # fmt: skip
    assert "unknown explainer 'lime'" in capsys.readouterr().err
    names = "learned,attention_all,gradient_x_input"
    assert annotate(["export", "--workdir", os.path.join(cells, "smat", "seed0"),
                     "--explainers", names, "--n", "3", "--out", study_dir]) == 0  # fmt: skip
    study = load_study(study_dir)
    assert study.kind == "text" and len(study.examples) == 3
    for example in study.examples:
        assert example.prediction.split(" (")[0] in ("negative", "positive")
        fragment = study.fragment(example, "learned")
        assert fragment.count('class="t"') > 5 and "[CLS]" not in fragment
    client = create_app(study_dir).test_client()
    key = client.post("/start", data={"name": "x"}).headers["Location"].split("?")[0]
    key = key.rstrip("/").split("/")[-1]
    for pos in (1, 2, 3):
        form = {"action": "rank", "revision": "0", "rank0": "1", "rank1": "1", "rank2": "3"}
        assert client.post(f"/a/{key}/{pos}", data=form).status_code == 303
    assert annotate(["analyze", study_dir, "--bootstrap", "20"]) == 0
    assert "3 rankings (0 skipped) of 3 examples by 1 annotators" in capsys.readouterr().out


def test_the_local_launcher_runs_cells_two_at_a_time_to_the_same_results(smoke_sweep, tmp_path):
    sequential, code = smoke_sweep
    assert code == 0
    root = str(tmp_path / "parallel")
    shutil.copytree(os.path.join(sequential, "teacher"), os.path.join(root, "teacher"))
    # The two cheapest cells (the slurm test below runs SMAT's through a launcher).
    args = [PAPER, "--root", root, "--variant", "smoke", "--launcher", "local", "--jobs", "2"]
    args += ["--only", "n64/none/*", "--only", "n64/attention_last/*"]
    assert sweep.main(args) == 0
    cells = [c for c in sweep.load_sweep(PAPER, "smoke").cells if "/smat/" not in c.name]
    for cell in cells[:2]:
        a, b = (np.load(os.path.join(sweep.cell_dir(r, cell), "test_predictions.npz"))
                for r in (sequential, root))  # fmt: skip
        np.testing.assert_array_equal(a["student_logits"], b["student_logits"])
    logs = os.listdir(os.path.join(root, "launcher"))
    assert len(logs) >= 2  # one folder per job
    rows = {r["explainer"]: r["per_seed"] for r in report.write(root, samples=50)["rows"]}
    inline = {r["explainer"]: r["per_seed"] for r in report.write(sequential, 50)["rows"]}
    assert rows == {k: inline[k] for k in ("none", "attention_last")}
    assert sweep.main(args) == 0  # finished: nothing submitted again


def test_the_slurm_launcher_trains_the_teacher_as_a_job_then_the_cells(
    smoke_sweep, tmp_path, monkeypatch, capsys
):
    """The slurm path end to end, its jobs run by submitit's debug executor (no Slurm here)."""
    import submitit

    from smat.sweeps import launchers

    clusters, auto = [], submitit.AutoExecutor

    def debug_executor(folder, cluster):
        clusters.append(cluster)
        return auto(folder=folder, cluster="debug")

    monkeypatch.setattr(launchers.submitit, "AutoExecutor", debug_executor)
    sequential, _ = smoke_sweep
    root = str(tmp_path / "slurm")
    args = [PAPER, "--root", root, "--variant", "smoke", "--only", "n64/smat/*"]
    more = ["--launcher", "slurm", "--jobs", "2", "--slurm", "partition=gpu"]
    assert sweep.main(args + more) == 0
    out = capsys.readouterr().out
    assert clusters == ["slurm"] and ": the teacher" in out  # its own job, first
    assert out.index(": the teacher") < out.index("n64/smat/seed0")
    (cell,) = [c for c in sweep.load_sweep(PAPER, "smoke").cells if "/smat/" in c.name]
    a, b = (np.load(os.path.join(sweep.cell_dir(r, cell), "test_predictions.npz"))
            for r in (sequential, root))  # fmt: skip
    np.testing.assert_array_equal(a["student_logits"], b["student_logits"])


def test_a_job_that_dies_leaves_its_error_for_the_report(tmp_path):
    from smat.sweeps import launchers

    cell = sweep.Cell(name="n64/x/seed0", config="c.py", overrides={}, labels={})

    class DeadJob:
        job_id = "42"

        def result(self):
            raise RuntimeError("Job 42 was killed\nsignal 9: out of memory")

    result = {"finished": [], "failed": [], "busy": [], "interrupted": None}
    launchers._collect(str(tmp_path), [cell], DeadJob(), result)
    error = "job 42 failed: signal 9: out of memory"
    assert result["failed"] == [{"cell": cell.name, "error": error}]
    with open(os.path.join(sweep.cell_dir(str(tmp_path), cell), sweep.FAILED)) as f:
        assert json.load(f) == {"error": error}


def test_the_slurm_launcher_shows_its_array_job(tmp_path, capsys):
    args = [PAPER, "--root", str(tmp_path), "--variant", "smoke", "--launcher", "slurm"]
    more = ["--jobs", "3", "--slurm", "partition=gpu", "--slurm", "gpus_per_node=1", "--dry-run"]
    assert sweep.main(args + more) == 0
    script = capsys.readouterr().out
    # The teacher (not trained yet) is a GPU job of its own, then the array of the 4 cells.
    teacher, cells = script.split("# 2. the cells, when it has finished")
    assert teacher.startswith("# 1. the teacher") and "--array" not in teacher
    for line in ("#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=1"):
        assert line in teacher and line in cells
    assert "#SBATCH --array=0-3%3" in cells and "submitit.core._submit" in cells
    assert sweep.main(args + ["--slurm", "partitio=gpu", "--dry-run"]) == 2
    assert "--slurm partitio: not a Slurm parameter" in capsys.readouterr().err


def test_the_power_line_also_counts_the_family_it_is_tested_in(tmp_path):
    """Beside the seeds 80% power needs at alpha = 0.05 alone, the report gives those that pass
    Holm over the family whatever the other tests give (alpha / 3 here): more."""
    root = str(tmp_path)
    noise = [0.006, 0.004, -0.004, 0.005, -0.001, 0.008, -0.003, 0.003, 0.004, 0.002]
    _fake_sweep(
        root,
        {
            "attention_all": [0.80 + 0.002 * s for s in range(10)],
            "layer1": [0.83 + 0.002 * s for s in range(10)],
            "smat": [0.83 + 0.002 * s + e for s, e in enumerate(noise)],
        },
        val_offsets={"attention_all": -0.05},
        n=1000,
    )
    result = report.write(root, samples=200)
    t = next(t for t in result["tests"] if (t["explainer"], t["baseline"]) == ("smat", "layer1"))
    c = t["comparison"]
    assert c.p == pytest.approx(104 / 1024) and t["family"] == 3
    assert t["seeds_needed_family"] == statistics.seeds_needed(c.difference, c.sd, None, 0.05 / 3)
    assert t["seeds_needed_family"] > c.seeds_needed
    text = open(os.path.join(root, "report.md")).read()
    assert f"| {c.seeds_needed} ({t['seeds_needed_family']}) |" in text
    assert (
        f"~{c.seeds_needed} seeds per arm alone, ~{t['seeds_needed_family']} to pass Holm over "
        "the 3 tests whatever the others give" in text
    )
    with open(os.path.join(root, "tests.csv")) as f:
        row = next(r for r in csv.DictReader(f) if r["explainer"] == "smat")
    assert int(row["seeds_for_80pct_power_in_family"]) == t["seeds_needed_family"]

"""The issue-16 study files: every cell of the IMDB study is a valid config whose references
name earlier cells, and the synthetic distractor study's splits are disjoint draws."""

import csv
import importlib.util
import io
import os

import numpy as np
import pytest

from smat import config as config_lib
from smat import report, sweep
from tests.conftest import REPO

STUDY = os.path.join(REPO, "experiments", "imdb_smat_study.py")


def test_imdb_smat_study_cells_are_valid_and_ordered(tmp_path):
    cells = sweep.load_sweep(STUDY, "cpu").cells
    names = [c.name for c in cells]
    for cell in cells:
        config_lib.validate(sweep.cell_config(cell, str(tmp_path)))
    # The main comparison runs first: SMAT (3 seeds) right after its uniform baseline.
    assert names.index("n500/smat/seed2") < names.index("n500/L0H0/seed0")
    transfer = next(c for c in cells if c.name == "n500/transfer_smat/seed10")
    source = sweep.resolved_overrides(transfer, str(tmp_path))["teacher_explainer.from_run"]
    assert source == sweep.cell_dir(str(tmp_path), "n500/smat/seed0")
    assert {c.labels["part"] for c in cells} == {"headroom", "smat", "transfer", "cost", "psi"}


def test_imdb_deep_study_cells_are_the_deep_configs(tmp_path):
    """The deep variant's cells are valid, and its chosen SMAT cell and static cells are
    exactly configs/imdb_{learnable,static}.py:deep, field by field (the configs users run
    are the ones the study measured)."""
    cells = {c.name: c for c in sweep.load_sweep(STUDY, "deep").cells}
    for cell in cells.values():
        config_lib.validate(sweep.cell_config(cell, str(tmp_path)))
    for name, spec in (
        ("n500/smat_lr2e-3/seed1", "imdb_learnable.py:deep"),
        ("n500/layer3/seed2", "imdb_static.py:deep"),
    ):
        cell = cells[name]
        mine = config_lib.from_file(os.path.join(REPO, "configs", spec))
        fields = {
            k: v for k, v in cell.overrides.items() if not k.startswith(("teacher.", "meta."))
        }
        config_lib.override(mine, {**fields, "teacher_workdir": sweep.teacher_dir(str(tmp_path))})
        study = config_lib.to_dict(sweep.cell_config(cell, str(tmp_path)))
        assert config_lib.diff(study, config_lib.to_dict(mine)) == [], name
    assert cells["n500/smat_lr2e-3/seed0"].overrides["teacher.model.num_layers"] == 0
    restart = sweep.resolved_overrides(cells["n500/smat_lr2e-3_restart/seed1"], str(tmp_path))
    assert restart["teacher_explainer.from_run"].endswith("n500/smat_lr2e-3/seed1")


def test_synthetic_distractor_splits_are_disjoint():
    spec = importlib.util.spec_from_file_location(
        "synthetic_distractors", os.path.join(REPO, "experiments", "synthetic_distractors.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    s = module.SIZES["smoke"]
    d = module.data(s)
    assert len(d["pool"]["label"]) == 2 * s["split"] and len(d["test"]["label"]) == s["split"]
    rows = {k: {r.tobytes() for r in d[k]["input_ids"]} for k in ("pool", "student_valid", "test")}
    assert not rows["pool"] & rows["test"] and not rows["student_valid"] & rows["test"]
    # Pretraining labels are the distractors' polarity, not the task's.
    pre = d["pretrain"]
    ids = pre["input_ids"]
    positive_distractor = ((ids >= 19) & (ids < 27)).any(1)  # 8 cues x 2, then 8 positive
    np.testing.assert_array_equal(positive_distractor, pre["label"] == 1)


def _study_module():
    spec = importlib.util.spec_from_file_location("imdb_smat_study", STUDY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_decisive_deep_cells_are_valid_paired_and_tested_as_registered(tmp_path):
    """deep_seeds / deep_k: valid configs, 10 seeds per arm, each frozen explainer teaching the
    fresh seed 10 + s, and every pre-registered test names arms the sweeps make."""
    study = _study_module()
    cells = [c for v in ("deep_seeds", "deep_k") for c in sweep.load_sweep(STUDY, v).cells]
    seeds: dict[str, set] = {}
    for cell in cells:
        config_lib.validate(sweep.cell_config(cell, str(tmp_path)))
        seeds.setdefault(cell.labels["explainer"], set()).add(cell.labels["seed"])
        source = cell.overrides.get("teacher_explainer.from_run", "")
        if cell.labels["explainer"].startswith("transfer_"):
            assert source.endswith(f"/seed{cell.labels['seed'] - 10}"), cell.name
    assert all(len(s) >= 10 for s in seeds.values()), seeds
    assert seeds["layer3"] == set(range(20))
    k4 = next(c for c in cells if c.name == "n500/smat_lr2e-3_k4/seed0")
    assert sweep.cell_config(k4, str(tmp_path)).meta.num_students == study.K_STUDENTS
    arms = set(seeds) | {f"search:{study.SEARCH}"}
    assert all(a in arms and b in arms for a, b in study.DECISIVE_TESTS)


def test_the_explanations_help_study_pairs_none_and_attention_seed_by_seed(tmp_path):
    """The pre-registered study of the README's first claim: the CPU default students, both
    arms at seeds 0-9, a whole pair before the next seed."""
    path = os.path.join(REPO, "experiments", "explanations_help_study.py")
    cells = sweep.load_sweep(path, "cpu").cells
    assert [(c.labels["seed"], c.labels["explainer"]) for c in cells] == [
        (s, arm) for s in range(10) for arm in ("none", "attention_all")
    ]
    for cell in cells:
        c = sweep.cell_config(cell, str(tmp_path))
        config_lib.validate(c)
        assert c.model.num_layers == c.teacher.model.num_layers == 2 and c.num_examples == 500
        assert (c.teacher_explainer.name, c.beta) == (
            ("none", 0.0) if cell.labels["explainer"] == "none" else ("attention", 5.0)
        )


def test_the_committed_decisive_report_recomputes_from_its_archive(tmp_path):
    """The deep study's committed report is what smat.report computes from the committed
    archive of its cells (the runs themselves are not in the repository)."""
    study = _study_module()
    committed = os.path.join(REPO, "experiments", "results", "imdb_smat_study_deep", "decisive")
    study.report(os.path.join(committed, "archive"), str(tmp_path))
    _assert_same_report(committed, str(tmp_path))


@pytest.mark.parametrize(
    "study, options",
    [
        # The README's first claim, with its pre-registered family of one test.
        ("explanations_help", ["--compare", "attention_all:none", "--no-default-tests"]),
        ("quick_start_study", []),
        ("quick_start_study/headroom", []),
    ],
)
def test_a_committed_report_recomputes_from_its_archive(study, options, tmp_path):
    """A committed report is what the command in FINDINGS.md computes from the committed
    archive of its cells."""
    committed = os.path.join(REPO, "experiments", "results", study)
    argv = [os.path.join(committed, "archive"), *options, "--out", str(tmp_path)]
    assert report.main(argv) == 0
    _assert_same_report(committed, str(tmp_path))


def _assert_same_report(committed: str, recomputed: str) -> None:
    """The report files agree after their first line (which names where they were read from):
    the text exactly, the CSVs' numbers to 1e-9 (their full-precision floats move in the last
    digits with the order another CPU's BLAS sums in)."""
    for name in ("report.md", "results.csv", "tests.csv"):
        want = open(os.path.join(committed, name)).read().split("\n", 1)[-1]
        got = open(os.path.join(recomputed, name)).read().split("\n", 1)[-1]
        if name == "report.md":
            assert got == want, name
            continue
        want_rows, got_rows = (
            list(csv.reader(io.StringIO(want))),
            list(csv.reader(io.StringIO(got))),
        )
        assert len(got_rows) == len(want_rows), name
        for w_row, g_row in zip(want_rows, got_rows, strict=True):
            assert len(g_row) == len(w_row), (name, w_row)
            for w_cell, g_cell in zip(w_row, g_row, strict=True):
                assert _same_cell(g_cell, w_cell), (name, w_row, g_row)


def _same_cell(got: str, want: str) -> bool:
    try:
        g, w = float(got), float(want)
    except ValueError:
        return got == want
    return bool(np.isclose(g, w, rtol=1e-9, atol=1e-12, equal_nan=True))


def test_the_accelerator_check_runs_at_smoke_size_on_cpu(tmp_path):
    import importlib.util

    path = os.path.join(REPO, "experiments", "accelerator_check.py")
    spec = importlib.util.spec_from_file_location("accelerator_check", path)
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    out = str(tmp_path / "check.md")
    assert check.main(["--smoke", "--root", str(tmp_path / "root"), "--out", out]) == 0
    text = open(out).read()
    for row in ("plain", "static", "smat (unroll, default)", "n64/smat/seed0", "teacher"):
        assert f"| {row} |" in text, row
    assert "MFU over a dense peak of (unknown)" in text  # a CPU has no entry
    assert check.peak_tflops("NVIDIA H100 80GB HBM3") == 494.7

"""Quality estimation as regression: MLQE-PE readers, sentence pairs, a regression teacher, and
the QE sweep with plausibility against BAD words, end to end on generated MLQE-PE files."""

import json
import os

import numpy as np
import pytest

from smat import config as config_lib
from smat import data as data_lib
from smat.data import mlqe
from smat.errors import ConfigError
from smat.evaluation.synthetic import write_qe_task

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_mlqe_reader_pools_tsv_files_and_names_bad_rows(tmp_path):
    header = "index\toriginal\ttranslation\tscores\tmean\tz_scores\tz_mean\tmodel_scores\n"
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "train.ende.df.short.tsv").write_text(
        header + '0\tA "quoted" source.\tEine Quelle.\t[70]\t70\t[0.1]\t0.25\t-0.3\n'
    )
    (tmp_path / "b.tsv").write_text(header + "1\tTwo\tZwei\t[9]\t9\t[-1]\t-1.5\t-0.9\n")
    texts, pairs, scores = mlqe.read_mlqe(str(tmp_path))
    assert texts == ['A "quoted" source.', "Two"] and pairs == ["Eine Quelle.", "Zwei"]
    np.testing.assert_allclose(scores, [0.25, -1.5])
    assert scores.dtype == np.float32
    (tmp_path / "c.tsv").write_text("index\toriginal\tz_mean\n0\tx\t1\n")
    with pytest.raises(ConfigError, match=r"c.tsv has no column\(s\) \['translation'\]"):
        mlqe.read_mlqe(str(tmp_path))
    (tmp_path / "c.tsv").write_text(header + "0\tx\ty\t[]\t1\t[]\tnan?\t0\n")
    with pytest.raises(ConfigError, match=r"c.tsv:2: z_mean='nan\?' is not a number"):
        mlqe.read_mlqe(str(tmp_path))
    with pytest.raises(ConfigError, match="does not exist"):
        mlqe.read_mlqe(str(tmp_path / "missing"))


def test_word_tags_with_and_without_gap_tags(tmp_path):
    (tmp_path / "t.src").write_text("a b\nc\n")
    (tmp_path / "t.mt").write_text("x y z\nw\n")
    # Line 1: gaps interleaved (2m + 1 tags), line 2: word tags only.
    (tmp_path / "t.tags").write_text("OK OK OK BAD OK OK OK\nBAD\n")
    (tmp_path / "t.source_tags").write_text("OK OK\nOK\n")
    pairs = mlqe.read_word_tags(str(tmp_path))
    assert [p.translation for p in pairs] == [["x", "y", "z"], ["w"]]
    np.testing.assert_array_equal(pairs[0].bad, [False, True, False])
    np.testing.assert_array_equal(pairs[1].bad, [True])
    (tmp_path / "t.tags").write_text("OK OK\nBAD\n")
    with pytest.raises(ConfigError, match="line 1: 2 tags for 3 MT words"):
        mlqe.read_word_tags(str(tmp_path))
    (tmp_path / "t.tags").write_text("OK OK OK\n")
    with pytest.raises(ConfigError, match="must align line by line"):
        mlqe.read_word_tags(str(tmp_path))


def test_sentence_pairs_are_tokenised_as_pairs_and_scores_stratified(tmp_path, cache_dir):
    tsv = write_qe_task(str(tmp_path), n=300, seed=3)
    c = config_lib.from_file(os.path.join(REPO, "configs", "mlqe_teacher.py:smoke"))
    with c.unlocked():
        c.data.source = tsv
        c.data.cache_dir = cache_dir
    task = data_lib.load(c)
    assert task.num_classes == 0
    test = task.splits["student_test"].arrays
    assert test["label"].dtype == np.float32
    # [CLS] source [SEP] translation [SEP]: two separators per (unpadded) example.
    sep = 102  # MiniLM's [SEP]
    assert np.all((test["input_ids"] == sep).sum(1) == 2)
    # Every split spans the score range (stratified by decile).
    full = np.concatenate([s.arrays["label"] for s in task.splits.values()])
    for split in task.splits.values():
        lo, hi = np.quantile(full, [0.2, 0.8])
        assert split.arrays["label"].min() < lo and split.arrays["label"].max() > hi
    from smat.trainers.no_teacher import NoTeacherTrainer

    c.task, c.train.monitor = "classification", "val/accuracy"
    with pytest.raises(ConfigError, match="has scores, not classes: use --config.task=regression"):
        NoTeacherTrainer(c, str(tmp_path / "t")).setup()


def test_qe_sweep_regression_teacher_students_and_bad_word_plausibility(tmp_path):
    """Regression teacher (Pearson), gradient x input / SMAT students simulating its score,
    and the report with faithfulness and plausibility against the generated BAD words."""
    from smat import report, sweep

    tsv = write_qe_task(str(tmp_path / "data"), n=400)
    root = str(tmp_path / "qe")
    args = [os.path.join(REPO, "experiments", "mlqe_paper.py"), "--root", root]
    assert sweep.main(args + ["--variant", "smoke", "--set", f"data.source={tsv}"]) == 0
    summary = json.load(open(os.path.join(root, "teacher", "summary.json")))
    assert summary["test/pearson"] > 0.8 and summary["test/rmse"] > 0
    words = str(tmp_path / "data" / "word-level")
    code = report.main([root, "--bootstrap", "50", "--explanations", "64", "--word-tags", words])
    assert code == 0
    rows = {
        r["explainer"]: r for r in json.load(open(os.path.join(root, "explanations.json")))["rows"]
    }
    assert set(rows) == {"gradient_x_input", "smat", "random"}
    # The teacher finds the wrong words: its attention points at them far above chance.
    assert rows["smat"]["plausibility_auc"] > rows["random"]["plausibility_auc"] + 0.1
    table = open(os.path.join(root, "report.md")).read()
    assert "Pearson r" in table and "rationale AUC" in table
    # A human study of the SMAT run: the teacher's score, both sentences in the heatmaps.
    from smat.annotate import load_study
    from smat.annotate.__main__ import main as annotate

    study_dir = str(tmp_path / "study")
    smat_run = os.path.join(root, "cells", "n64", "smat", "seed0")
    assert annotate(["export", "--workdir", smat_run, "--explainers", "learned,attention_all",
                     "--n", "2", "--out", study_dir]) == 0  # fmt: skip
    study = load_study(study_dir)
    for example in study.examples:
        float(example.prediction), float(example.gold)
        assert study.fragment(example, "learned").count('class="t"') > 4
    # A grid field cannot be overridden globally.
    assert sweep.main(args + ["--variant", "smoke", "--set", "beta=1.0"]) == 2

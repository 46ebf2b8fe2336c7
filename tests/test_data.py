"""IMDB readers, the teacher/student split, tokenisation cache and fixed-shape batching."""

import json
import os

import numpy as np
import pytest

from smat import config as config_lib
from smat import data as data_lib
from smat.data import imdb, splits, tokenization
from smat.data.pipeline import ArrayDataset, TrainBatches, eval_batches
from smat.errors import ConfigError

PAPER_SIZES = {
    "student_test": 2500,
    "student_valid": 1250,
    "student_train": 8750,
    "teacher_valid": 1250,
}


@pytest.fixture(scope="module")
def packaged():
    return imdb.read_imdb("packaged")


def test_packaged_imdb_is_the_balanced_train_split(packaged):
    texts, labels, num_classes = packaged
    assert len(texts) == 25000 and num_classes == 2
    assert labels.sum() == 12500
    assert not any("<br" in t for t in texts)


def test_paper_split_sizes_disjoint_stratified_and_deterministic(packaged):
    _, labels, _ = packaged
    a = splits.split_indices(labels, PAPER_SIZES, seed=0)
    b = splits.split_indices(labels, PAPER_SIZES, seed=0)
    c = splits.split_indices(labels, PAPER_SIZES, seed=1)
    sizes = {k: len(v) for k, v in a.items()}
    assert sizes == PAPER_SIZES | {"teacher_train": 25000 - 13750}
    everything = np.concatenate(list(a.values()))
    assert len(np.unique(everything)) == 25000  # disjoint and covering
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
        assert not np.array_equal(a[name], c[name])
        # Stratified: each split (and its first 100 examples) is balanced.
        assert abs(labels[a[name]].mean() - 0.5) < 0.002
        assert abs(labels[a[name][:100]].mean() - 0.5) <= 0.02


def test_split_stratifies_imbalanced_labels():
    labels = np.array([0] * 900 + [1] * 100)
    out = splits.split_indices(
        labels,
        {"student_test": 200, "student_valid": 100, "student_train": 300, "teacher_valid": 100},
        seed=3,
    )
    for idx in out.values():
        assert abs(labels[idx].mean() - 0.1) < 0.02


def test_split_too_large_is_a_config_error():
    with pytest.raises(ConfigError, match="add up to"):
        splits.split_indices(
            np.zeros(100, int),
            {"student_test": 50, "student_valid": 20, "student_train": 20, "teacher_valid": 10},
            0,
        )


def test_aclimdb_folder_and_table_files(tmp_path):
    root = tmp_path / "aclImdb"
    for split in ("train", "test"):
        for name in ("pos", "neg"):
            (root / split / name).mkdir(parents=True)
            for i in range(3):
                (root / split / name / f"{i}_7.txt").write_text(f"{name} review {i}<br /><br />end")
    texts, labels, _ = imdb.read_imdb(str(root))
    assert len(texts) == 12 and labels.sum() == 6
    assert texts[0] == "neg review 0 end"

    csv_path = tmp_path / "reviews.csv"
    csv_path.write_text('review,sentiment\n"good, fine",pos\nawful,neg\n')
    texts, labels, _ = imdb.read_imdb(str(csv_path), "review", "sentiment")
    assert texts == ["good, fine", "awful"] and labels.tolist() == [1, 0]

    jsonl = tmp_path / "reviews.jsonl"
    jsonl.write_text(
        "\n".join(json.dumps({"text": t, "label": y}) for t, y in [("a", 1), ("b", 0)])
    )
    texts, labels, _ = imdb.read_imdb(str(jsonl))
    assert labels.tolist() == [1, 0]

    with pytest.raises(ConfigError, match="no column"):
        imdb.read_imdb(str(csv_path))  # default columns text/label are absent
    with pytest.raises(ConfigError, match="neither 'packaged' nor an existing"):
        imdb.read_imdb(str(tmp_path / "missing.csv"))
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nx,maybe\n")
    with pytest.raises(ConfigError, match="maybe"):
        imdb.read_imdb(str(bad))


def test_tokenization_fixed_length_and_cached(tmp_path, minilm_folder):
    tok = tokenization.tokenizer_file(minilm_folder)
    texts = ["a short review", "word " * 500]
    a = tokenization.encode(texts, tok, 32, str(tmp_path))
    assert a["input_ids"].shape == (2, 32) and a["input_ids"].dtype == np.int32
    assert a["attention_mask"][0].sum() == 5  # [CLS] a short review [SEP]
    assert a["attention_mask"][1].sum() == 32  # truncated, not the packaged 128
    assert a["input_ids"][1, -1] == 102  # [SEP] kept after truncation
    cached = os.listdir(tmp_path)
    assert len(cached) == 1
    b = tokenization.encode(texts, tok, 32, str(tmp_path))
    np.testing.assert_array_equal(a["input_ids"], b["input_ids"])
    assert os.listdir(tmp_path) == cached


def test_train_batches_depend_only_on_seed_and_step():
    ds = ArrayDataset({"x": np.arange(50), "label": np.arange(50) % 2})
    a, b = TrainBatches(ds, 8, seed=1), TrainBatches(ds, 8, seed=1)
    assert a.steps_per_epoch == 6
    seen = np.concatenate([a.batch(s)["x"] for s in range(6)])
    assert len(np.unique(seen)) == 48  # one epoch: no repeats, remainder dropped
    np.testing.assert_array_equal(a.batch(13)["x"], b.batch(13)["x"])  # random access
    assert not np.array_equal(a.batch(0)["x"], a.batch(6)["x"])  # reshuffled per epoch


def test_eval_batches_pad_last_batch_with_zero_weight():
    ds = ArrayDataset({"x": np.arange(10)})
    batches = list(eval_batches(ds, 4))
    assert [b["x"].shape for b in batches] == [(4,)] * 3
    assert batches[-1]["weight"].tolist() == [1, 1, 0, 0]
    assert sum(b["weight"].sum() for b in batches) == 10


def test_load_gives_disjoint_tokenised_splits(tmp_path):
    c = config_lib.base()
    c.data.cache_dir = str(tmp_path)
    c.data.max_length = 16
    task = data_lib.load(c)
    assert task.num_classes == 2 and task.vocab_size == 30522
    assert len(task.splits["student_train"]) == 8750
    idx = [set(s.arrays["index"].tolist()) for s in task.splits.values()]
    assert sum(len(i) for i in idx) == len(set().union(*idx)) == 25000
    assert task.splits["teacher_train"].arrays["input_ids"].shape[1] == 16

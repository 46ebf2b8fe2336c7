"""Plausibility metrics, the ERASER reader, and faithfulness (comprehensiveness/sufficiency)."""

import itertools
import json

import jax.numpy as jnp
import numpy as np
import pytest

from smat.data.eraser import read_eraser
from smat.errors import ConfigError
from smat.evaluation import faithfulness, plausibility


def test_auc_matches_pairwise_counting_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        scores = rng.integers(0, 4, size=9).astype(float)  # many ties
        gold = rng.random(9) < 0.4
        if gold.all() or not gold.any():
            continue
        pairs = [
            1.0 if a > b else 0.5 if a == b else 0.0
            for a, b in itertools.product(scores[gold], scores[~gold])
        ]
        assert plausibility.roc_auc(scores, gold) == pytest.approx(np.mean(pairs))


def test_average_precision_and_recall_at_k_on_a_known_ranking():
    scores = np.array([0.9, 0.8, 0.7, 0.1])
    gold = np.array([True, False, True, False])
    assert plausibility.average_precision(scores, gold) == pytest.approx((1 + 2 / 3) / 2)
    assert plausibility.recall_at_k(scores, gold) == 0.5
    # A constant explanation is ranked pessimistically, not luckily.
    flat = np.zeros(4)
    assert plausibility.recall_at_k(flat, gold) == 0.0
    assert plausibility.roc_auc(flat, gold) == 0.5


def test_word_pieces_are_summed_into_words_and_specials_dropped():
    words, seen = plausibility.word_scores(
        np.array([0.1, 0.2, 0.3, 0.4, 0.0]), [None, 0, 0, 1, None], 3
    )
    np.testing.assert_allclose(words, [0.5, 0.4, 0.0])
    assert seen.tolist() == [True, True, False]  # word 2 was truncated away
    result = plausibility.evaluate(
        np.array([[0.0, 0.1, 0.1, 0.6, 0.0]]), [[None, 0, 0, 1, None]], [np.array([0, 1, 1])]
    )
    assert result == {
        "auc": 1.0,
        "ap": 1.0,
        "recall_at_k": 1.0,
        "mass": pytest.approx(0.6 / 0.8),  # word 1 (0.6) of words 0 and 1 (0.2 + 0.6)
        "examples": 1,
    }


def test_eraser_reader_takes_the_union_of_evidence_spans(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "negR_000.txt").write_text("a dull film .\nno plot at all .\n")
    ann = {
        "annotation_id": "negR_000.txt",
        "classification": "NEG",
        "evidences": [
            [{"docid": "negR_000.txt", "start_token": 1, "end_token": 2, "text": "dull"}],
            [{"docid": "negR_000.txt", "start_token": 4, "end_token": 6, "text": "no plot"}],
        ],
        "query": "What is the sentiment of this review?",
    }
    (tmp_path / "test.jsonl").write_text(json.dumps(ann) + "\n")
    (ex,) = read_eraser(str(tmp_path), "test")
    assert ex.words == ["a", "dull", "film", ".", "no", "plot", "at", "all", "."]
    assert ex.label == 0
    assert ex.rationale.nonzero()[0].tolist() == [1, 4, 5]
    with pytest.raises(ConfigError, match="ERASER-format folder"):
        read_eraser(str(tmp_path), "val")


def _additive_model(weights):
    """logit_1 = Σ over present tokens of weights[id]; logit_0 = 0."""
    w = jnp.asarray(weights)

    def apply_fn(variables, input_ids, attention_mask):
        class Out:
            logits = jnp.stack(
                [jnp.zeros(input_ids.shape[0]), jnp.sum(w[input_ids] * attention_mask, -1)], -1
            )

        return Out

    return apply_fn


def test_faithful_scores_are_more_comprehensive_and_sufficient_than_reversed_ones():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=50)
    ids = rng.integers(1, 50, size=(16, 20))
    mask = np.ones_like(ids)
    mask[:, 15:] = 0
    batch = {"input_ids": ids, "attention_mask": mask}
    apply_fn = _additive_model(weights)
    logits = np.asarray(apply_fn(None, ids, mask).logits)
    sign = np.where(logits.argmax(-1) == 1, 1.0, -1.0)[:, None]
    faithful = sign * weights[ids]  # each token's contribution to the predicted class
    good = faithfulness.evaluate(apply_fn, None, batch, faithful)
    bad = faithfulness.evaluate(apply_fn, None, batch, -faithful)
    assert good["comprehensiveness_aopc"] > bad["comprehensiveness_aopc"]
    assert good["sufficiency_aopc"] < bad["sufficiency_aopc"]
    assert set(good) >= {"comprehensiveness@0.1", "sufficiency@0.5"}


def test_first_and_last_real_tokens_are_never_removed():
    mask = np.array([[1, 1, 1, 1, 0, 0]])
    removable = faithfulness._removable(mask)
    assert removable.tolist() == [[False, True, True, False, False, False]]
    top = faithfulness._top_mask(np.array([[9.0, 1, 2, 9, 9, 9]]), removable, 0.5)
    assert top.tolist() == [[False, False, True, False, False, False]]


def test_synthetic_task_plants_the_cues_that_decide_the_label():
    from smat.evaluation import synthetic

    task = synthetic.make_task(200, length=16, seed=3, num_cues=4, num_fillers=50)
    ids, rationale = task["input_ids"], task["rationale"]
    assert ids.shape == (200, 16) and ids.max() < synthetic.vocab_size(4, 50)
    cues = (ids >= 3) & (ids < 3 + 2 * 4)
    np.testing.assert_array_equal(cues, rationale)  # cues appear only where planted
    positive = ((ids >= 3) & (ids < 7)).any(1)
    np.testing.assert_array_equal(positive, task["label"] == 1)
    assert 1 <= rationale.sum(1).min() and rationale.sum(1).max() <= 3
    word_ids, rationales = synthetic.plausibility_inputs(task)
    assert word_ids[0][0] is None  # [CLS]
    perfect = plausibility.evaluate(rationale.astype(float), word_ids, rationales)
    assert perfect["auc"] == 1.0 and perfect["recall_at_k"] == 1.0


def test_synthetic_distractors_agree_with_the_label_only_partly():
    from smat.evaluation import synthetic

    plain = synthetic.make_task(300, length=16, seed=3, num_cues=4, num_fillers=50)
    task = synthetic.make_task(
        300, length=16, seed=3, num_cues=4, num_fillers=50, num_distractors=2,
        distractor_agreement=0.75,
    )  # fmt: skip
    ids, distractor = task["input_ids"], task["distractor"]
    assert ids.max() < synthetic.vocab_size(4, 50, 2)
    np.testing.assert_array_equal(task["label"], plain["label"])
    cues = (ids >= 3) & (ids < 11)
    np.testing.assert_array_equal(cues, task["rationale"])
    in_range = (ids >= 11) & (ids < 15)  # after the 8 cue ids: 2 positive, 2 negative
    np.testing.assert_array_equal(in_range, distractor)
    assert not (distractor & task["rationale"]).any()
    assert 1 <= distractor.sum(1).min() and distractor.sum(1).max() <= 3
    positive = ((ids >= 11) & (ids < 13)).any(1)
    np.testing.assert_array_equal(positive, task["distractor_label"] == 1)
    agreement = (task["distractor_label"] == task["label"]).mean()
    assert 0.68 < agreement < 0.82, agreement
    # Without distractors the generator's stream is the one it always was.
    np.testing.assert_array_equal(plain["distractor_label"], plain["label"])
    assert not plain["distractor"].any()

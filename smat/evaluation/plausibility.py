"""Plausibility: how well token scores match a human (or planted) rationale.

Per example: ROC-AUC, average precision (AP), recall@k with k = the number of rationale
words, and the share of the explanation's mass on the rationale, computed over *words*:
word-piece scores are summed into their word first (a word's share of the distribution),
special tokens and words cut off by truncation are left out.
Averages are over examples that have at least one rationale word and one other word.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from smat.data.words import word_scores


def _ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties get their average rank."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    sorted_x = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def roc_auc(scores: np.ndarray, gold: np.ndarray) -> float:
    """P(score of a rationale word > score of another word), ties counting 1/2."""
    pos = int(gold.sum())
    neg = len(gold) - pos
    r = _ranks(scores)
    return float((r[gold].sum() - pos * (pos + 1) / 2) / (pos * neg))


def average_precision(scores: np.ndarray, gold: np.ndarray) -> float:
    """Mean of the precision at each rationale word, words sorted by decreasing score.

    Ties are ordered pessimistically (rationale words last), so a constant explanation gets
    the lowest AP, not a lucky one.
    """
    order = np.lexsort((gold, -scores))  # by score desc, then non-rationale first
    hits = gold[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


def recall_at_k(scores: np.ndarray, gold: np.ndarray) -> float:
    """Fraction of the rationale among the k top-scored words, k = rationale size."""
    k = int(gold.sum())
    top = np.lexsort((gold, -scores))[:k]
    return float(gold[top].sum() / k)


def rationale_mass(scores: np.ndarray, gold: np.ndarray) -> float:
    """Share of the explanation's (non-negative) mass on rationale words.

    Rank metrics saturate once every rationale word outranks the rest; the mass still shows
    how much of the explanation points at the rationale."""
    scores = np.maximum(scores, 0)
    total = scores.sum()
    return float(scores[gold].sum() / total) if total > 0 else 0.0


def evaluate(
    token_scores: np.ndarray,
    word_ids: Sequence[Sequence[int | None]],
    rationales: Sequence[np.ndarray],
) -> dict[str, float]:
    """Mean AUC / AP / recall@k over examples.

    Args:
      token_scores: [examples, tokens] explanation scores.
      word_ids: per example, the word index of every token (None: special or padding).
      rationales: per example, a boolean mask over its words.
    Returns:
      {"auc", "ap", "recall_at_k", "mass", "examples"}; examples = how many could be scored.
    """
    results = {"auc": [], "ap": [], "recall_at_k": [], "mass": []}
    for scores, ids, gold in zip(token_scores, word_ids, rationales, strict=True):
        gold = np.asarray(gold, bool)
        words, seen = word_scores(np.asarray(scores), ids, len(gold))
        words, gold = words[seen], gold[seen]
        if gold.sum() == 0 or gold.sum() == len(gold):
            continue
        results["auc"].append(roc_auc(words, gold))
        results["ap"].append(average_precision(words, gold))
        results["recall_at_k"].append(recall_at_k(words, gold))
        results["mass"].append(rationale_mass(words, gold))
    out = {k: float(np.mean(v)) if v else float("nan") for k, v in results.items()}
    out["examples"] = len(results["auc"])
    return out

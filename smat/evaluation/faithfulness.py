"""Faithfulness of token scores to the model (ERASER: DeYoung et al., 2020).

For each fraction q of an example's tokens, the top-scored ⌈q·n⌉ tokens are removed
(comprehensiveness: how much the predicted class' probability drops) or kept alone
(sufficiency: how much it drops when only they remain). AOPC averages over the fractions.
Tokens are removed through the attention mask (every batch keeps its shape); the first and
last real tokens ([CLS], [SEP]) are never removed (images: the [CLS] position only). High
comprehensiveness and low sufficiency mean faithful scores. For a regression model (one
output) the drop is the absolute change of the output value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from smat.data.pipeline import model_inputs

FRACTIONS = (0.01, 0.05, 0.1, 0.2, 0.5)


def _removable(mask: np.ndarray, keep_last: bool = True) -> np.ndarray:
    """Real tokens except the first and (text) the last of every example."""
    removable = mask.astype(bool).copy()
    removable[:, 0] = False
    if keep_last:
        removable[np.arange(len(mask)), np.maximum(mask.sum(1) - 1, 0)] = False
    return removable


def _top_mask(scores: np.ndarray, removable: np.ndarray, fraction: float) -> np.ndarray:
    """[batch, tokens] bool: the top ⌈fraction·n⌉ removable tokens of every example."""
    k = np.ceil(fraction * removable.sum(1)).astype(int)
    ranked = np.argsort(-np.where(removable, scores, -np.inf), axis=1, kind="stable")
    top = np.zeros_like(removable)
    for i in range(len(removable)):
        top[i, ranked[i, : k[i]]] = True
    return top & removable


def evaluate(
    apply_fn: Callable,
    params,
    batch: dict[str, np.ndarray],
    scores: np.ndarray,
    fractions: Sequence[float] = FRACTIONS,
) -> dict[str, float]:
    """Comprehensiveness and sufficiency per fraction and their AOPC, averaged over examples.

    Args:
      apply_fn: the model's apply (`(variables, input_ids, attention_mask) -> .logits`).
      params: its params.
      batch: input_ids and attention_mask [batch, tokens].
      scores: [batch, tokens] token scores of one explainer.
    """

    inputs, mask = model_inputs(batch)

    @jax.jit
    def outputs(mask):
        logits = apply_fn({"params": params}, inputs, mask).logits.astype(jnp.float32)
        if logits.ndim == 1 or logits.shape[-1] == 1:  # regression: the output value
            return logits.reshape(logits.shape[0], 1)
        return jax.nn.softmax(logits, -1)

    mask = np.asarray(mask)
    full = np.asarray(outputs(mask))
    regression = full.shape[-1] == 1
    pred = full.argmax(-1)
    rows = np.arange(len(pred))
    p_full = full[rows, pred]

    def drop(new_mask):
        p = np.asarray(outputs(new_mask))[rows, pred]
        return np.abs(p_full - p) if regression else p_full - p

    out: dict[str, float] = {}
    comps, suffs = [], []
    removable = _removable(mask, keep_last="pixels" not in batch)
    for q in fractions:
        top = _top_mask(np.asarray(scores), removable, q)
        comps.append(float(np.mean(drop(np.where(top, 0, mask)))))
        suffs.append(float(np.mean(drop(np.where(removable & ~top, 0, mask)))))
        out[f"comprehensiveness@{q:g}"] = comps[-1]
        out[f"sufficiency@{q:g}"] = suffs[-1]
    out["comprehensiveness_aopc"] = float(np.mean(comps))
    out["sufficiency_aopc"] = float(np.mean(suffs))
    return out

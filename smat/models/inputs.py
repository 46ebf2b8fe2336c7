"""What a model takes from a batch: the one fact about batches both data and models know."""

from __future__ import annotations


def input_key(arrays) -> str:
    """Where examples keep the model's main input: "pixels" (images) or "input_ids" (text)."""
    return "pixels" if "pixels" in arrays else "input_ids"


def model_inputs(batch) -> tuple:
    """A model's positional inputs from a batch: (token ids or pixels, attention_mask).

    `attention_mask` [batch, positions] marks the positions explanations are over: tokens, or
    for a ViT the [CLS] token and the image patches.
    """
    return batch[input_key(batch)], batch["attention_mask"]

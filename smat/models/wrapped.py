"""Models written for the original SMAT code: `WrappedModel` subclasses, adapted to smat.

The original repository's models are linen modules called as `model.apply(params, **inputs)`
that return `(logits, state)`, `state["attentions"]` holding one [batch, heads, query, key]
array of attention logits per layer, and build themselves with the class method
`initialize_new_model(key, inputs, num_classes, **kwargs) -> (model, params)`. `OriginalModel`
gives such a module smat's interface (`smat.models.protocol`), so it can be a teacher or a
student, and `smat.register_model` accepts a `WrappedModel` class as it is.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from smat.errors import ConfigError
from smat.models.protocol import ModelOutput


class WrappedModel(nn.Module):
    """Base class of the original code's models (its `smat.models.WrappedModel`).

    Subclasses define `__call__(self, **inputs) -> (logits, state)` with `state["attentions"]`
    (per layer, [batch, heads, query, key] attention logits), and the class method
    `initialize_new_model(cls, key, inputs, num_classes, **kwargs) -> (model, variables)`.
    """

    @classmethod
    def initialize_new_model(cls, key: jax.Array, inputs: dict[str, Any], num_classes: int, **kw):
        """A new model for `num_classes` outputs and its initial variables ({"params": ...})."""
        raise NotImplementedError(f"{cls.__name__} must define initialize_new_model")


class OriginalModel(nn.Module):
    """smat's model interface around a module of the original code (`inner`): its params live
    under "inner", its `state["attentions"]` become `attention_logits`."""

    inner: nn.Module

    def __call__(self, input_ids: jax.Array, attention_mask: jax.Array) -> ModelOutput:
        out = self.inner(input_ids=input_ids, attention_mask=attention_mask)
        if hasattr(out, "logits"):  # already smat's interface
            return out
        if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
            raise ConfigError(
                f"{type(self.inner).__name__} returned {type(out).__name__}; a model of the "
                "original code returns (logits, state) with state['attentions']"
            )
        logits, state = out
        attentions = state.get("attentions")
        return ModelOutput(
            logits=logits,
            attention_logits=None if attentions is None else tuple(attentions),
        )


def build_registered(cls: type[WrappedModel], num_classes: int, vocab_size: int, length: int):
    """A new `cls` model, as the original's registry built it, in smat's interface."""
    inputs = {
        "input_ids": jnp.ones((1, length), jnp.int32),
        "attention_mask": jnp.ones((1, length), jnp.int32),
    }
    module, _ = cls.initialize_new_model(
        key=jax.random.key(0),
        inputs=inputs,
        num_classes=num_classes,
        vocab_size=vocab_size,
        max_len=length,
    )
    return OriginalModel(inner=module)

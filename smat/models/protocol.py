"""What smat needs of a model, and the adapter that gets it from any Flax model (linen or nnx).

The protocol. A model is called as `model(input_ids, attention_mask, ...)` on int arrays
[batch, tokens] (image models: `model(pixels, attention_mask)`, pixels [batch, H, W, C] and the
mask over the positions they explain, e.g. [CLS] + patches; see `smat.models.vit`) and returns a
`ModelOutput` (or any object with the same attributes; a bare array is taken as the logits):

  logits            [batch, classes] (regression: [batch] or [batch, 1]); always required.
  attention_logits  pre-softmax attention scores with padding keys masked by a large negative
                    value, one [batch, heads, query, key] array per layer: a tuple of them (as
                    smat's encoders return, which saves a stacking copy of every layer's
                    scores) or one stacked [layers, batch, heads, query, key] array; needed by
                    the `attention` explainer (teacher, and the student whenever beta > 0).
  input_embeds      [batch, tokens, dim] the token embeddings the model looked up: needed by
                    the gradient explainers, together with an `inputs_embeds=` keyword argument
                    that makes the model use the given embeddings instead of looking them up.

Optional keyword arguments the adapter passes when `__call__` declares them:
`deterministic: bool` (linen; or `train: bool`) to switch dropout, and `inputs_embeds`.
nnx modules switch dropout with `.train()` / `.eval()` and get fresh dropout keys each step.
Only `params` are trained: models with other mutable state (batch statistics) are not supported.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import flax.struct
import jax
import numpy as np
from flax import nnx

from smat.errors import ConfigError
from smat.models.inputs import model_inputs


@flax.struct.dataclass
class ModelOutput:
    """What a model returns when smat calls it as `model(input_ids, attention_mask)`.

    Any object with these attributes will do (a bare array is taken as the logits).

    Attributes:
      logits: [batch, classes] (regression: [batch] or [batch, 1]); always required.
      attention_logits: pre-softmax attention scores with padding keys masked by a large
        negative value, one [batch, heads, query, key] array per layer: a tuple of them, or one
        stacked [layers, batch, heads, query, key] array. Needed by the `attention` explainer
        (the teacher's, and the student's whenever `beta > 0`).
      input_embeds: [batch, tokens, dim], the token embeddings the model looked up. Needed by
        the gradient explainers, together with an `inputs_embeds=` keyword argument that makes
        the model use the given embeddings instead.
    """

    logits: jax.Array
    attention_logits: jax.Array | Sequence[jax.Array] | None = None
    input_embeds: jax.Array | None = None


@dataclasses.dataclass(frozen=True)
class Adapted:
    """A model as pure functions over a params pytree.

    Attributes:
      apply: `(variables, input_ids, attention_mask, *, inputs_embeds=None,
        deterministic=True, rngs=None) -> output` with `variables = {"params": params}`.
      init: `(rng, input_ids, attention_mask) -> params`, or None for an nnx instance (its
        parameters are created by its constructor: `initial_params`).
      initial_params: the nnx instance's parameters (a nested dict), else None.
      accepts_embeds: whether the model takes `inputs_embeds=` (gradient explainers).
      kind: "linen" or "nnx".
    """

    apply: Callable[..., Any]
    init: Callable[..., Any] | None
    initial_params: Any
    accepts_embeds: bool
    kind: str


def attention_layers(attention_logits: jax.Array | Sequence[jax.Array]) -> Sequence[jax.Array]:
    """The per-layer [batch, heads, query, key] arrays of a model's `attention_logits`."""
    if isinstance(attention_logits, (tuple, list)):
        return attention_logits
    return [attention_logits[i] for i in range(attention_logits.shape[0])]


def attention_grid(out: Any) -> tuple[int, int]:
    """(layers, heads) of a model output's attention_logits; (0, 0) without them."""
    attn = getattr(out, "attention_logits", None)
    if attn is None:
        return 0, 0
    if isinstance(attn, (tuple, list)):
        return len(attn), attn[0].shape[1]
    return attn.shape[0], attn.shape[2]


def _as_output(out) -> Any:
    return out if hasattr(out, "logits") else ModelOutput(logits=out)


def _refuse_embeds(name: str):
    raise ConfigError(
        f"{name}.__call__ takes no `inputs_embeds` argument, which gradient explainers need to "
        "differentiate with respect to the input embeddings: add `inputs_embeds=None` (used "
        "instead of the embedding lookup) and return them as `input_embeds`, or pick the "
        "attention explainer"
    )


def _linen(module: nn.Module) -> Adapted:
    params = inspect.signature(module.__call__).parameters
    name = type(module).__name__
    accepts_embeds = "inputs_embeds" in params

    def apply(
        variables, input_ids, attention_mask, *, inputs_embeds=None, deterministic=True, rngs=None
    ):
        kwargs = {}
        if inputs_embeds is not None:
            if not accepts_embeds:
                _refuse_embeds(name)
            kwargs["inputs_embeds"] = inputs_embeds
        if "deterministic" in params:
            kwargs["deterministic"] = deterministic
        elif "train" in params:
            kwargs["train"] = not deterministic
        out = module.apply(
            variables,
            input_ids,
            attention_mask,
            rngs=None if deterministic else rngs,
            **kwargs,
        )
        return _as_output(out)

    def init(rng, input_ids, attention_mask):
        variables = module.init(rng, input_ids, attention_mask)
        extra = sorted(set(variables) - {"params"})
        if extra:
            raise ConfigError(
                f"{name} has variable collections {extra} besides params; smat trains params only "
                "(use LayerNorm instead of BatchNorm)"
            )
        return variables["params"]

    return Adapted(apply, init, None, accepts_embeds, "linen")


def _nnx(model: nnx.Module) -> Adapted:
    name = type(model).__name__
    accepts_embeds = "inputs_embeds" in inspect.signature(model.__call__).parameters
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)

    def apply(
        variables, input_ids, attention_mask, *, inputs_embeds=None, deterministic=True, rngs=None
    ):
        # Fresh Variable objects inside the trace: nnx refuses to mutate ones made outside it.
        p = jax.tree.map(lambda v: v, params)
        nnx.replace_by_pure_dict(p, variables["params"])
        m = nnx.merge(graphdef, p, jax.tree.map(lambda v: v, rest))
        if deterministic:
            m.eval()
        else:
            m.train()
            if rngs is not None:
                nnx.reseed(m, **rngs)
        kwargs = {}
        if inputs_embeds is not None:
            if not accepts_embeds:
                _refuse_embeds(name)
            kwargs["inputs_embeds"] = inputs_embeds
        return _as_output(m(input_ids, attention_mask, **kwargs))

    return Adapted(apply, None, nnx.to_pure_dict(params), accepts_embeds, "nnx")


def adapt(model: Any) -> Adapted:
    """The pure-function form of a linen module or an nnx module instance."""
    if isinstance(model, Adapted):
        return model
    if isinstance(model, nn.Module):
        return _linen(model)
    if isinstance(model, nnx.Module):
        return _nnx(model)
    raise ConfigError(
        f"cannot use a {type(model).__name__} as a model: give a flax.linen.Module, an "
        "nnx.Module instance, or the name of a registered model (smat.register_model)"
    )


def example_inputs(model: Any) -> dict[str, np.ndarray]:
    """A one-example batch the model accepts: its own `example_inputs()` if it has one (image
    models: pixels of the right size), else four token ids."""
    if hasattr(model, "example_inputs"):
        return model.example_inputs()
    return {"input_ids": np.zeros((1, 4), np.int32), "attention_mask": np.ones((1, 4), np.int32)}


def output_shapes(adapted: Adapted, params: Any, example: dict[str, Any]) -> Any:
    """The model's output on `example` (a batch: token ids or pixels, attention_mask) as shapes
    (jax.eval_shape: nothing is computed)."""

    return jax.eval_shape(lambda p: adapted.apply({"params": p}, *model_inputs(example)), params)


def check_output(out: Any, who: str) -> None:
    """Raises ConfigError unless `out` (e.g. from `output_shapes`) has usable logits."""
    logits = getattr(out, "logits", None)
    if logits is None or len(logits.shape) not in (1, 2):
        raise ConfigError(
            f"the {who} model must return logits of shape [batch, classes] (or [batch] for "
            f"regression), got {None if logits is None else tuple(logits.shape)}"
        )
    attn = getattr(out, "attention_logits", None)
    if isinstance(attn, (tuple, list)):
        shapes = {tuple(a.shape) for a in attn}
        if not attn or len(shapes) != 1 or len(next(iter(shapes))) != 4:
            raise ConfigError(
                f"the {who} model's attention_logits are per-layer arrays of shapes "
                f"{sorted(shapes)}; expected one or more of the same shape [batch, heads, query, "
                "key]"
            )
    elif attn is not None and len(attn.shape) != 5:
        raise ConfigError(
            f"the {who} model's attention_logits have shape {tuple(attn.shape)}; expected "
            "[layers, batch, heads, query, key], or a tuple of per-layer [batch, heads, q, k] "
            "arrays"
        )

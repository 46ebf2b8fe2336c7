"""Model registry: `config.model.name` -> a builder of a Flax module and its pretrained params."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import ml_collections
import numpy as np

from smat.errors import ConfigError
from smat.models import hf_checkpoint, wrapped
from smat.models.classifier import ClassifierOutput, TextClassifier
from smat.models.encoder import Encoder, EncoderConfig, EncoderOutput
from smat.models.protocol import (
    Adapted,
    ModelOutput,
    adapt,
    attention_grid,
    attention_layers,
    check_output,
    example_inputs,
    output_shapes,
)
from smat.models.vit import ViTClassifier, ViTConfig, patch_grid
from smat.models.wrapped import OriginalModel, WrappedModel
from smat.registry import Registry

__all__ = [
    "MODELS",
    "Adapted",
    "BuiltModel",
    "ModelOutput",
    "OriginalModel",
    "WrappedModel",
    "ClassifierOutput",
    "Encoder",
    "EncoderConfig",
    "EncoderOutput",
    "TextClassifier",
    "ViTClassifier",
    "ViTConfig",
    "adapt",
    "attention_grid",
    "attention_layers",
    "build_model",
    "check_output",
    "example_inputs",
    "output_shapes",
    "patch_grid",
    "register_model",
]


@dataclasses.dataclass
class BuiltModel:
    """A module plus the pretrained weights to overlay on its random initialisation.

    Attributes:
      module: a Flax linen module or nnx module instance (see `smat.models.protocol`).
      pretrained: nested params (numpy) replacing parts of the random init, or None.
      description: a dict that rebuilds the same module (written next to checkpoints), or {}.
    """

    module: Any
    pretrained: dict[str, Any] | None = None
    description: dict[str, Any] = dataclasses.field(default_factory=dict)

    @functools.cached_property
    def adapted(self) -> Adapted:
        return adapt(self.module)

    @property
    def apply(self) -> Callable[..., Any]:
        """`(variables, input_ids, attention_mask, *, inputs_embeds, deterministic, rngs)`."""
        return self.adapted.apply


MODELS: Registry = Registry("model")


def register_model(name: str):
    """Decorator registering `builder(cfg, num_classes, vocab_size)` under `name`.

    `cfg` is the config's `model` section; the builder returns a `BuiltModel`, a linen module or
    an nnx module instance (see `smat.models.protocol` for what the model must return). Configs
    then select it with `--config.model.name=<name>` and `smat.train_explainer(student=<name>)`.

    A `smat.models.wrapped.WrappedModel` subclass of the original SMAT code is accepted too
    (decorate the class, as there): it is built with its `initialize_new_model`.

    Args:
      name: the model's name; a name already registered is refused.

    Returns:
      The decorator; it returns the builder (or class) unchanged.

    Example::

        @smat.register_model("my_classifier")
        def build(cfg, num_classes, vocab_size):
            return MyClassifier(num_classes=num_classes, vocab_size=vocab_size)
    """
    register = MODELS.register(name)

    def decorator(builder):
        @functools.wraps(builder)
        def built(cfg, num_classes, vocab_size) -> BuiltModel:
            if isinstance(builder, type) and issubclass(builder, wrapped.WrappedModel):
                length = cfg.get("max_position_embeddings", 512)
                out = wrapped.build_registered(builder, num_classes, vocab_size, length)
            else:
                out = builder(cfg, num_classes, vocab_size)
            return out if isinstance(out, BuiltModel) else BuiltModel(out, None, {})

        register(built)
        return builder

    return decorator


def _num_layers(cfg: ml_collections.ConfigDict, available: int | None) -> int:
    """`model.num_layers`, checked: of a checkpoint with `available` layers (0 = all of them),
    or of a randomly initialised model (`available` None: must be > 0)."""
    if available is None:
        if not cfg.num_layers:
            raise ConfigError(
                "model.checkpoint is empty (random init) so model.num_layers must be > 0"
            )
        return cfg.num_layers
    if cfg.num_layers > available:
        raise ConfigError(
            f"model.num_layers={cfg.num_layers} but checkpoint {cfg.checkpoint!r} has "
            f"{available} layers; use --config.model.num_layers<={available}"
        )
    return cfg.num_layers or available


@register_model("text_classifier")
def build_text_classifier(
    cfg: ml_collections.ConfigDict, num_classes: int, vocab_size: int
) -> BuiltModel:
    """A BERT-family classifier, pretrained from `cfg.checkpoint` or randomly initialised."""
    overrides = dict(
        dropout_rate=cfg.dropout,
        attention_dropout_rate=cfg.attention_dropout,
        dtype=cfg.dtype,
    )
    pretrained = None
    if cfg.checkpoint:
        folder = hf_checkpoint.resolve(cfg.checkpoint)
        enc_cfg = hf_checkpoint.read_config(folder)
        overrides["num_layers"] = _num_layers(cfg, enc_cfg.num_layers)
        enc_cfg = dataclasses.replace(enc_cfg, **overrides)
        encoder, pooler = hf_checkpoint.load_params(folder, enc_cfg)
        pretrained = {"encoder": encoder}
        if cfg.pooling == "cls" and pooler is not None:
            pretrained["pooler"] = pooler
    else:
        enc_cfg = EncoderConfig(
            vocab_size=vocab_size,
            hidden_size=cfg.hidden_size,
            num_layers=_num_layers(cfg, None),
            num_heads=cfg.num_heads,
            intermediate_size=cfg.intermediate_size,
            max_position_embeddings=cfg.max_position_embeddings,
            **overrides,
        )
    if enc_cfg.vocab_size < vocab_size:
        raise ConfigError(
            f"the tokenizer has {vocab_size} tokens but the model's vocabulary has "
            f"{enc_cfg.vocab_size}; use the checkpoint's own tokenizer (data.tokenizer='')"
        )
    module = TextClassifier(
        encoder_cfg=enc_cfg,
        num_classes=num_classes,
        pooling=cfg.pooling,
        classifier_dropout=cfg.dropout,
    )
    description = {
        "name": "text_classifier",
        "encoder": dataclasses.asdict(enc_cfg),
        "num_classes": num_classes,
        "pooling": cfg.pooling,
        "classifier_dropout": cfg.dropout,
    }
    return BuiltModel(module=module, pretrained=pretrained, description=description)


@register_model("vit_classifier")
def build_vit_classifier(
    cfg: ml_collections.ConfigDict, num_classes: int, vocab_size: int
) -> BuiltModel:
    """A ViT classifier, pretrained from a HF ViT folder `cfg.checkpoint` or randomly
    initialised with `cfg.image_size`, `cfg.patch_size`, `cfg.num_channels` and the encoder
    sizes."""
    overrides = dict(
        dropout_rate=cfg.dropout, attention_dropout_rate=cfg.attention_dropout, dtype=cfg.dtype
    )
    pretrained = None
    vit_cfg = vit_config(cfg)
    if cfg.checkpoint:
        folder = hf_checkpoint.resolve(cfg.checkpoint)
        pretrained = hf_checkpoint.load_vit_params(folder, vit_cfg.num_layers)
    vit_cfg = dataclasses.replace(vit_cfg, **overrides)
    module = ViTClassifier(cfg=vit_cfg, num_classes=num_classes)
    description = {
        "name": "vit_classifier",
        "vit": dataclasses.asdict(vit_cfg),
        "num_classes": num_classes,
    }
    return BuiltModel(module=module, pretrained=pretrained, description=description)


def vit_config(cfg: ml_collections.ConfigDict) -> ViTConfig:
    """The ViT architecture of a `model` section: the checkpoint's (first `num_layers` blocks)
    or the config's sizes. Cheap: reads config.json only."""
    if cfg.checkpoint:
        vit_cfg = hf_checkpoint.read_vit_config(hf_checkpoint.resolve(cfg.checkpoint))
        return dataclasses.replace(vit_cfg, num_layers=_num_layers(cfg, vit_cfg.num_layers))
    try:
        return ViTConfig(
            hidden_size=cfg.hidden_size,
            num_layers=_num_layers(cfg, None),
            num_heads=cfg.num_heads,
            intermediate_size=cfg.intermediate_size,
            image_size=cfg.image_size,
            patch_size=cfg.patch_size,
            num_channels=cfg.num_channels,
            image_mean=tuple(cfg.image_mean),
            image_std=tuple(cfg.image_std),
        )
    except ValueError as e:
        raise ConfigError(f"model: {e}") from None


def check_max_length(cfg: ml_collections.ConfigDict, max_length: int) -> None:
    """Raises ConfigError unless the model of `cfg` (a `model` section) takes `max_length` tokens.

    Cheap (reads config.json only): call it before tokenising the data.
    """
    if cfg.name != "text_classifier":
        return  # other models check their own inputs
    if cfg.checkpoint:
        enc = hf_checkpoint.read_config(hf_checkpoint.resolve(cfg.checkpoint))
        positions = enc.max_position_embeddings - enc.position_offset
    else:
        positions = cfg.max_position_embeddings
    if max_length > positions:
        raise ConfigError(
            f"data.max_length={max_length} exceeds the model's {positions} positions; lower it"
        )


def build_model(cfg: ml_collections.ConfigDict, num_classes: int, vocab_size: int) -> BuiltModel:
    """Builds `cfg.name` from the registry; `cfg` is the config's `model` section."""
    try:
        builder = MODELS.get(cfg.name)
    except KeyError as e:
        raise ConfigError(f"model.name: {e.args[0]}") from None
    return builder(cfg, num_classes, vocab_size)


def module_from_description(description: dict[str, Any]) -> nn.Module:
    """Rebuilds the module a run saved (see `BuiltModel.description`), for inference."""
    if description["name"] == "vit_classifier":
        vit = dict(description["vit"])
        vit["image_mean"], vit["image_std"] = tuple(vit["image_mean"]), tuple(vit["image_std"])
        return ViTClassifier(cfg=ViTConfig(**vit), num_classes=description["num_classes"])
    if description["name"] != "text_classifier":
        raise ValueError(f"cannot rebuild model {description['name']!r}")
    return TextClassifier(
        encoder_cfg=EncoderConfig(**description["encoder"]),
        num_classes=description["num_classes"],
        pooling=description["pooling"],
        classifier_dropout=description["classifier_dropout"],
    )


def overlay_pretrained(params: dict[str, Any], built: BuiltModel) -> dict[str, Any]:
    """Returns `params` with the pretrained subtrees of `built` put in place (shapes checked)."""
    if not built.pretrained:
        return params
    out = dict(params)
    for name, sub in built.pretrained.items():
        if name not in params:
            raise ConfigError(f"the pretrained weights have {name!r}, which the model lacks")
        hf_checkpoint.check_params({name: sub}, {name: params[name]}, name)
        # A host copy: the train state is donated to each step, and a jax array given as
        # pretrained weights would be deleted with it (the next run from them would fail).
        out[name] = jax.tree.map(np.array, sub)
    return out

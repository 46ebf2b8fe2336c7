"""A Vision Transformer classifier (pre-LayerNorm blocks, [CLS] pooling) exposing every head's
raw attention over the [CLS] token and the image patches.

Positions are [CLS] followed by the patches in row-major order, so explanations (distributions
over positions) map back onto the image: `patch_grid` gives the grid. The parameter names follow
Hugging Face's `ViTForImageClassification` closely enough for `hf_checkpoint.load_vit_params`.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from smat.models.classifier import ClassifierOutput
from smat.models.encoder import (
    ACTIVATIONS,
    EncoderConfig,
    EncoderOutput,
    SelfAttention,
    _dense,
    _layer_norm,
    upcast,
)


@dataclasses.dataclass(frozen=True)
class ViTConfig(EncoderConfig):
    """A ViT's architecture: the encoder fields (vocabulary fields unused) plus the image ones.

    Pixels arrive as uint8 (or floats in [0, 255]); they are scaled to [0, 1] and normalised by
    `image_mean` / `image_std` per channel (HF ViT checkpoints use 0.5 / 0.5).
    """

    image_size: int = 28
    patch_size: int = 4
    num_channels: int = 1
    image_mean: tuple[float, ...] = (0.5,)
    image_std: tuple[float, ...] = (0.5,)

    def __post_init__(self):
        super().__post_init__()
        if self.image_size % self.patch_size:
            raise ValueError(
                f"image_size={self.image_size} is not divisible by patch_size={self.patch_size}"
            )
        for name in ("image_mean", "image_std"):
            if len(getattr(self, name)) not in (1, self.num_channels):
                raise ValueError(f"{name} needs 1 or num_channels={self.num_channels} values")

    @property
    def grid(self) -> int:
        """Patches per side."""
        return self.image_size // self.patch_size

    @property
    def num_positions(self) -> int:
        """[CLS] + patches: the length of attention rows and of explanations."""
        return 1 + self.grid**2


def patch_grid(num_positions: int) -> int:
    """Patches per side of a square image from the number of positions ([CLS] + patches)."""
    side = int(round((num_positions - 1) ** 0.5))
    if side * side != num_positions - 1:
        raise ValueError(f"{num_positions} positions are not [CLS] + a square grid of patches")
    return side


class PreNormLayer(nn.Module):
    """A pre-LayerNorm Transformer block (ViT), sharing the encoder's attention."""

    cfg: ViTConfig

    @nn.compact
    def __call__(self, x, key_mask, deterministic):
        cfg = self.cfg
        dropout = lambda h: nn.Dropout(cfg.dropout_rate)(h, deterministic=deterministic)  # noqa: E731
        h = _layer_norm(cfg, "layernorm_before")(x)
        context, logits, probs = SelfAttention(cfg, name="attention")(h, key_mask, deterministic)
        x = x + dropout(_dense(cfg, cfg.hidden_size, "attention_output")(context))
        h = _layer_norm(cfg, "layernorm_after")(x)
        h = ACTIVATIONS[cfg.hidden_act](_dense(cfg, cfg.intermediate_size, "intermediate")(h))
        x = x + dropout(_dense(cfg, cfg.hidden_size, "output")(h))
        return x, logits, probs


class ViTClassifier(nn.Module):
    """Patch embedding + [CLS] + position embeddings, pre-norm blocks, final LayerNorm, a linear
    classifier on [CLS].

    Called as `model(pixels, attention_mask)`: pixels [batch, H, W, C] (resized to
    `image_size` when they differ; one channel is repeated for RGB models); attention_mask
    [batch, 1 + patches] (ones; a zero hides a patch from attention, which faithfulness
    metrics use to remove patches). `inputs_embeds` [batch, 1 + patches, hidden] replaces the
    [CLS] + patch embeddings (before positions are added): gradient explainers differentiate
    with respect to them.
    """

    cfg: ViTConfig
    num_classes: int

    def example_inputs(self) -> dict[str, np.ndarray]:
        c = self.cfg
        return {
            "pixels": np.zeros((1, c.image_size, c.image_size, c.num_channels), np.uint8),
            "attention_mask": np.ones((1, c.num_positions), np.int32),
        }

    @nn.compact
    def __call__(
        self,
        pixels: jax.Array,
        attention_mask: jax.Array,
        inputs_embeds: jax.Array | None = None,
        deterministic: bool = True,
    ) -> ClassifierOutput:
        cfg = self.cfg
        dtype = jnp.dtype(cfg.dtype)
        if pixels.ndim != 4 or pixels.shape[-1] not in (1, cfg.num_channels):
            raise ValueError(
                f"pixels have shape {pixels.shape}; the ViT expects [batch, height, width, "
                f"{cfg.num_channels}] (or 1 channel, repeated)"
            )
        init = nn.initializers.normal(cfg.initializer_range)
        patches = nn.Conv(
            cfg.hidden_size,
            (cfg.patch_size, cfg.patch_size),
            strides=(cfg.patch_size, cfg.patch_size),
            padding="VALID",
            dtype=dtype,
            kernel_init=init,
            name="patch_embeddings",
        )
        cls = self.param("cls_token", init, (1, 1, cfg.hidden_size))
        positions = self.param("position_embeddings", init, (1, cfg.num_positions, cfg.hidden_size))
        if inputs_embeds is None:
            mean = jnp.asarray(cfg.image_mean, jnp.float32)
            std = jnp.asarray(cfg.image_std, jnp.float32)
            x = pixels.astype(jnp.float32) / 255.0
            size = (cfg.image_size, cfg.image_size)
            if x.shape[1:3] != size:  # e.g. 32x32 CIFAR images into a 224x224 pretrained ViT
                x = jax.image.resize(x, x.shape[:1] + size + x.shape[3:], "bilinear")
            x = (jnp.broadcast_to(x, x.shape[:3] + (cfg.num_channels,)) - mean) / std
            p = patches(x.astype(dtype))
            p = p.reshape(p.shape[0], -1, cfg.hidden_size)
            inputs_embeds = jnp.concatenate(
                [jnp.broadcast_to(cls, (p.shape[0], 1, cfg.hidden_size)).astype(p.dtype), p], 1
            )
        x = (inputs_embeds + positions).astype(dtype)
        x = nn.Dropout(cfg.dropout_rate)(x, deterministic=deterministic)
        key_mask = attention_mask.astype(bool)
        hidden, logits, probs = [x], [], []
        for i in range(cfg.num_layers):
            x, layer_logits, layer_probs = PreNormLayer(cfg, name=f"layer_{i}")(
                x, key_mask, deterministic
            )
            hidden.append(x)
            logits.append(layer_logits)
            probs.append(layer_probs)
        pooled = _layer_norm(cfg, "layernorm")(x)[:, 0]
        out = nn.Dense(self.num_classes, kernel_init=init, name="classifier")(upcast(pooled))
        return ClassifierOutput(
            logits=out,
            encoder=EncoderOutput(
                hidden_states=tuple(hidden),
                attention_logits=tuple(logits),
                attention_probs=tuple(probs),
                input_embeds=inputs_embeds,
            ),
        )

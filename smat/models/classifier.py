"""Sequence classifier: a BERT-family encoder plus a pooling head (ScalarMix or CLS)."""

from __future__ import annotations

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp

from smat.models.encoder import Encoder, EncoderConfig, EncoderOutput, upcast


@flax.struct.dataclass
class ClassifierOutput:
    """Logits plus everything the encoder exposes (a `smat.ModelOutput` and more)."""

    logits: jax.Array  # [batch, num_classes]
    encoder: EncoderOutput

    @property
    def attention_logits(self) -> tuple[jax.Array, ...]:
        return self.encoder.attention_logits

    @property
    def input_embeds(self) -> jax.Array:
        return self.encoder.input_embeds


class ScalarMix(nn.Module):
    """Softmax-weighted mix of the masked mean of every layer's hidden states, times a scale.

    The pooling of the original SMAT models: coefficients start at zero (uniform mix), the
    scale `gamma` at one.
    """

    @nn.compact
    def __call__(self, hidden_states: tuple[jax.Array, ...], mask: jax.Array) -> jax.Array:
        coeffs = self.param("coeffs", nn.initializers.zeros, (len(hidden_states),))
        gamma = self.param("gamma", nn.initializers.ones, ())
        m = mask.astype(jnp.float32)[..., None]
        means = jnp.stack([jnp.sum(h * m, 1) / jnp.sum(m, 1) for h in hidden_states])
        return gamma * jnp.einsum("l,lbd->bd", jax.nn.softmax(coeffs), means)


class TextClassifier(nn.Module):
    """Encoder + pooling + dropout + linear classifier.

    Attributes:
      encoder_cfg: the encoder architecture.
      num_classes: output size.
      pooling: "scalar_mix" (the original method's head) or "cls" (BERT pooler on [CLS]).
      classifier_dropout: dropout before the output layer.
    """

    encoder_cfg: EncoderConfig
    num_classes: int
    pooling: str = "scalar_mix"
    classifier_dropout: float = 0.1

    @nn.compact
    def __call__(
        self,
        input_ids: jax.Array,
        attention_mask: jax.Array,
        token_type_ids: jax.Array | None = None,
        inputs_embeds: jax.Array | None = None,
        deterministic: bool = True,
    ) -> ClassifierOutput:
        enc = Encoder(self.encoder_cfg, name="encoder")(
            input_ids, attention_mask, token_type_ids, inputs_embeds, deterministic
        )
        if self.pooling == "scalar_mix":
            pooled = ScalarMix(name="scalar_mix")(enc.hidden_states, attention_mask)
        elif self.pooling == "cls":
            dense = nn.Dense(
                self.encoder_cfg.hidden_size,
                kernel_init=nn.initializers.normal(self.encoder_cfg.initializer_range),
                name="pooler",
            )
            pooled = jnp.tanh(dense(enc.hidden_states[-1][:, 0]))
        else:
            raise ValueError(f"pooling {self.pooling!r} unknown; known: scalar_mix, cls")
        pooled = nn.Dropout(self.classifier_dropout)(pooled, deterministic=deterministic)
        logits = nn.Dense(
            self.num_classes,
            kernel_init=nn.initializers.normal(self.encoder_cfg.initializer_range),
            name="classifier",
        )(upcast(pooled))
        return ClassifierOutput(logits=logits, encoder=enc)

"""A BERT-family Transformer encoder that exposes every head's raw attention.

The original SMAT code forked Flax and Transformers only to read pre-softmax attention; owning the
encoder removes that need. Checkpoints in Hugging Face layout are converted by
`smat.models.hf_checkpoint` (BERT, MiniLM, ELECTRA and RoBERTa/XLM-R layouts differ only in
prefix, position offset and an embedding projection, which `EncoderConfig` covers).
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp

# Masked attention logits get a large *finite* value: explainers average and mix logits over
# positions and heads, and -inf or finfo.min would turn those sums into inf/NaN.
MASK_VALUE = -1e9


def upcast(x: jax.Array) -> jax.Array:
    """At least float32: bf16 activations are upcast for softmaxes and losses; float64 stays."""
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


ACTIVATIONS = {
    "gelu": lambda x: nn.gelu(x, approximate=False),
    "gelu_new": lambda x: nn.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: nn.gelu(x, approximate=True),
    "relu": nn.relu,
}


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """Architecture of a BERT-family encoder (names follow HF `config.json` where they can)."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_layers: int = 6
    num_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    # ELECTRA: embeddings of this size are projected to hidden_size (None: no projection).
    embedding_size: int | None = None
    # RoBERTa/XLM-R: position ids start at pad_token_id + 1 (padding: pad_token_id); any value
    # > 0 selects that numbering (the loader sets pad_token_id + 1).
    position_offset: int = 0
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"
    dropout_rate: float = 0.1
    attention_dropout_rate: float = 0.1
    pad_token_id: int = 0
    initializer_range: float = 0.02
    dtype: str = "float32"

    def __post_init__(self):
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size={self.hidden_size} is not divisible by num_heads={self.num_heads}"
            )
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(
                f"hidden_act {self.hidden_act!r} unknown; known: {sorted(ACTIVATIONS)}"
            )

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


@flax.struct.dataclass
class EncoderOutput:
    """What explainers need from an encoder.

    Attributes:
      hidden_states: tuple of num_layers + 1 arrays [batch, length, hidden] (embeddings first).
      attention_logits: per layer, [batch, heads, query, key] pre-softmax scores, scaled by
        1/sqrt(head_dim), padding keys set to MASK_VALUE. A tuple, not one stacked array:
        stacking copies every layer's scores (at 256 tokens, batch 32: 600 MB), while the
        explainers reduce each layer over queries first and stack only the small result.
      attention_probs: per layer, softmax of attention_logits over keys (before attention
        dropout).
      input_embeds: [batch, length, embedding] word embeddings fed to the encoder; gradient
        explainers differentiate with respect to these (see `inputs_embeds` in `__call__`).
    """

    hidden_states: tuple[jax.Array, ...]
    attention_logits: tuple[jax.Array, ...]
    attention_probs: tuple[jax.Array, ...]
    input_embeds: jax.Array


def _dense(cfg: EncoderConfig, features: int, name: str) -> nn.Dense:
    return nn.Dense(
        features,
        dtype=jnp.dtype(cfg.dtype),
        kernel_init=nn.initializers.normal(cfg.initializer_range),
        name=name,
    )


def _layer_norm(cfg: EncoderConfig, name: str) -> nn.LayerNorm:
    return nn.LayerNorm(epsilon=cfg.layer_norm_eps, dtype=jnp.dtype(cfg.dtype), name=name)


class Embeddings(nn.Module):
    cfg: EncoderConfig

    @nn.compact
    def __call__(self, input_ids, token_type_ids, inputs_embeds, deterministic):
        cfg = self.cfg
        size = cfg.embedding_size or cfg.hidden_size
        embed = lambda n, name: nn.Embed(  # noqa: E731
            n, size, embedding_init=nn.initializers.normal(cfg.initializer_range), name=name
        )
        word = embed(cfg.vocab_size, "word_embeddings")
        if inputs_embeds is None:
            inputs_embeds = word(input_ids)
        else:
            word.embedding  # noqa: B018 -- the table must exist even when embeddings are injected
        if cfg.position_offset:
            # RoBERTa/XLM-R number real tokens from pad_token_id + 1 and give padding the
            # position pad_token_id, like the reference implementation.
            real = (input_ids != cfg.pad_token_id).astype(jnp.int32)
            positions = jnp.cumsum(real, axis=1) * real + cfg.pad_token_id
        else:
            positions = jnp.arange(input_ids.shape[1])[None, :]
        x = inputs_embeds + embed(cfg.max_position_embeddings, "position_embeddings")(positions)
        x = x + embed(cfg.type_vocab_size, "token_type_embeddings")(token_type_ids)
        x = _layer_norm(cfg, "LayerNorm")(x)
        x = nn.Dropout(cfg.dropout_rate)(x, deterministic=deterministic)
        if cfg.embedding_size is not None and cfg.embedding_size != cfg.hidden_size:
            x = _dense(cfg, cfg.hidden_size, "embeddings_project")(x)
        return x.astype(jnp.dtype(cfg.dtype)), inputs_embeds


class SelfAttention(nn.Module):
    cfg: EncoderConfig

    @nn.compact
    def __call__(self, x, key_mask, deterministic):
        cfg = self.cfg

        # Heads before positions for the two attention matmuls: XLA's CPU dot then runs
        # batched GEMMs on contiguous [length, head_dim] blocks instead of strided ones (the
        # attention's forward + backward 12-20% faster at 128-256 tokens, the step ~4% at 256).
        def split(t):  # [batch, length, hidden] -> [batch, heads, length, head_dim]
            return t.reshape(t.shape[:2] + (cfg.num_heads, cfg.head_dim)).swapaxes(1, 2)

        q = split(_dense(cfg, cfg.hidden_size, "query")(x))
        k = split(_dense(cfg, cfg.hidden_size, "key")(x))
        v = split(_dense(cfg, cfg.hidden_size, "value")(x))
        # Scale the queries and mask by adding a [batch, 1, 1, key] bias: both then fuse into
        # the score matmul, where scaling and a `where` over [batch, heads, q, k] scores cost a
        # pass over them forward and backward (10% of the step's memory traffic at 256
        # tokens). MASK_VALUE + a score rounds to MASK_VALUE in float32 (|score| < 32).
        q = q / jnp.sqrt(cfg.head_dim).astype(q.dtype)
        bias = jnp.where(key_mask, 0.0, MASK_VALUE).astype(q.dtype)[:, None, None, :]
        logits = jnp.einsum("bhqd,bhkd->bhqk", q, k) + bias
        # Softmax in float32 for bf16 runs; dropout acts on probabilities only, never on logits,
        # so padding stays masked in training.
        probs = jax.nn.softmax(upcast(logits), axis=-1)
        dropped = nn.Dropout(cfg.attention_dropout_rate)(probs, deterministic=deterministic)
        context = jnp.einsum("bhqk,bhkd->bhqd", dropped.astype(v.dtype), v).swapaxes(1, 2)
        return context.reshape(x.shape), logits, probs


class Layer(nn.Module):
    """A post-LayerNorm Transformer block (BERT)."""

    cfg: EncoderConfig

    @nn.compact
    def __call__(self, x, key_mask, deterministic):
        cfg = self.cfg
        dropout = lambda h: nn.Dropout(cfg.dropout_rate)(h, deterministic=deterministic)  # noqa: E731
        context, logits, probs = SelfAttention(cfg, name="attention")(x, key_mask, deterministic)
        h = _dense(cfg, cfg.hidden_size, "attention_output")(context)
        x = _layer_norm(cfg, "attention_LayerNorm")(x + dropout(h))
        h = ACTIVATIONS[cfg.hidden_act](_dense(cfg, cfg.intermediate_size, "intermediate")(x))
        h = _dense(cfg, cfg.hidden_size, "output")(h)
        x = _layer_norm(cfg, "output_LayerNorm")(x + dropout(h))
        return x, logits, probs


class Encoder(nn.Module):
    """BERT-family encoder returning hidden states and per-head attention logits/probabilities."""

    cfg: EncoderConfig

    @nn.compact
    def __call__(
        self,
        input_ids: jax.Array,
        attention_mask: jax.Array,
        token_type_ids: jax.Array | None = None,
        inputs_embeds: jax.Array | None = None,
        deterministic: bool = True,
    ) -> EncoderOutput:
        """Encodes a batch.

        Args:
          input_ids: [batch, length] token ids.
          attention_mask: [batch, length], 1 for real tokens and 0 for padding.
          token_type_ids: [batch, length] segment ids (zeros when None).
          inputs_embeds: optional [batch, length, embedding] word embeddings that replace the
            lookup of `input_ids` (gradient explainers differentiate through them).
          deterministic: disables dropout.
        """
        if token_type_ids is None:
            token_type_ids = jnp.zeros_like(input_ids)
        key_mask = attention_mask.astype(bool)
        x, embeds = Embeddings(self.cfg, name="embeddings")(
            input_ids, token_type_ids, inputs_embeds, deterministic
        )
        hidden, logits, probs = [x], [], []
        for i in range(self.cfg.num_layers):
            x, layer_logits, layer_probs = Layer(self.cfg, name=f"layer_{i}")(
                x, key_mask, deterministic
            )
            hidden.append(x)
            logits.append(layer_logits)
            probs.append(layer_probs)
        return EncoderOutput(
            hidden_states=tuple(hidden),
            attention_logits=tuple(logits),
            attention_probs=tuple(probs),
            input_embeds=embeds,
        )

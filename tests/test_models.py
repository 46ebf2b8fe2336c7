"""Model registry, heads, dtypes, embedding injection and attention dropout semantics."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from smat import config as config_lib
from smat import models
from smat.errors import ConfigError
from smat.registry import Registry


def _build(**model_overrides):
    c = config_lib.base()
    for k, v in model_overrides.items():
        c.model[k] = v
    built = models.build_model(c.model, num_classes=2, vocab_size=30522)
    ids = np.random.default_rng(0).integers(1000, 30000, (2, 12)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[1, 7:] = 0
    params = built.module.init(jax.random.key(0), ids, mask)["params"]
    return built, models.overlay_pretrained(params, built), ids, mask


def test_registry_refuses_duplicates_and_lists_known_names():
    r = Registry("widget")
    r.register("a")(1)
    with pytest.raises(ValueError, match="already registered"):
        r.register("a")(2)
    with pytest.raises(KeyError, match="unknown widget 'b'; known: a"):
        r.get("b")
    with pytest.raises(ConfigError, match="model.name: unknown model 'gpt'"):
        c = config_lib.base()
        c.model.name = "gpt"
        models.build_model(c.model, 2, 100)


def test_outputs_shapes_and_scalar_mix_head():
    built, params, ids, mask = _build(num_layers=2)
    out = built.module.apply({"params": params}, ids, mask)
    chex.assert_shape(out.logits, (2, 2))
    assert len(out.encoder.hidden_states) == 3
    # One [batch, heads, q, k] array per layer (no stacking copy).
    chex.assert_shape(out.encoder.attention_logits, [(2, 12, 12, 12)] * 2)
    chex.assert_shape(out.encoder.input_embeds, (2, 12, 384))
    assert set(params["scalar_mix"]) == {"coeffs", "gamma"}


def test_cls_head_uses_the_checkpoint_pooler(minilm_folder):
    from safetensors.numpy import load_file

    built, params, _, _ = _build(num_layers=1, pooling="cls")
    hf = load_file(f"{minilm_folder}/model.safetensors")
    np.testing.assert_array_equal(params["pooler"]["kernel"], hf["pooler.dense.weight"].T)


def test_injected_embeddings_reproduce_the_token_lookup():
    built, params, ids, mask = _build(num_layers=1)
    plain = built.module.apply({"params": params}, ids, mask)
    again = built.module.apply(
        {"params": params}, ids, mask, inputs_embeds=plain.encoder.input_embeds
    )
    np.testing.assert_allclose(plain.logits, again.logits, atol=1e-6)
    # Gradients with respect to the injected embeddings exist (gradient explainers need them).
    grad = jax.grad(
        lambda e: (
            built.module.apply({"params": params}, ids, mask, inputs_embeds=e).logits[:, 1].sum()
        )
    )(plain.encoder.input_embeds)
    assert np.abs(np.asarray(grad)).sum() > 0


def test_attention_dropout_acts_on_probabilities_and_keeps_padding_masked():
    built, params, ids, mask = _build(num_layers=2, attention_dropout=0.5, dropout=0.5)
    eval_out = built.module.apply({"params": params}, ids, mask)
    train_out = built.module.apply(
        {"params": params}, ids, mask, deterministic=False, rngs={"dropout": jax.random.key(1)}
    )
    # Dropout on embeddings changes layer-0 inputs, but padded keys stay masked everywhere.
    pad = ~mask.astype(bool)[1]
    assert np.all(np.asarray(train_out.encoder.attention_logits)[:, 1][..., pad] <= -1e8)
    assert np.all(np.asarray(train_out.encoder.attention_probs)[:, 1][..., pad] == 0)
    assert not np.allclose(eval_out.logits, train_out.logits)


def test_bfloat16_computation_is_close_to_float32():
    built32, params, ids, mask = _build(num_layers=2)
    c = config_lib.base()
    c.model.num_layers = 2
    c.model.dtype = "bfloat16"
    built16 = models.build_model(c.model, 2, 30522)
    out32 = built32.module.apply({"params": params}, ids, mask)
    out16 = built16.module.apply({"params": params}, ids, mask)
    assert out16.encoder.hidden_states[-1].dtype == jnp.bfloat16
    assert out16.logits.dtype == jnp.float32
    np.testing.assert_allclose(out16.logits, out32.logits, atol=0.05)


def test_random_init_uses_the_config_architecture():
    built, params, ids, mask = _build(
        checkpoint="", num_layers=2, hidden_size=32, num_heads=4, intermediate_size=64
    )
    enc = built.module.encoder_cfg
    assert (enc.num_layers, enc.hidden_size, enc.num_heads) == (2, 32, 4)
    assert built.pretrained is None
    out = built.module.apply({"params": params}, ids, mask)
    chex.assert_tree_all_finite(out.logits)

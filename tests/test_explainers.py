"""Explainers give distributions over tokens; integrated gradients is complete."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from smat import config as config_lib
from smat import models
from smat.explainers import AttentionExplainer, SaliencyExplainer, integrated_gradients


def _random_mask(rng, batch, length):
    lengths = rng.integers(1, length + 1, size=batch)
    return (np.arange(length)[None] < lengths[:, None]).astype(np.int32)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("head_norm", ["sparsemax", "softmax", "entmax15", "none"])
@pytest.mark.parametrize("token_norm", ["softmax", "sparsemax", "entmax15"])
def test_attention_explanations_are_distributions_over_real_tokens(seed, head_norm, token_norm):
    rng = np.random.default_rng(seed)
    layers, batch, heads, length = (
        rng.integers(1, 4),
        rng.integers(1, 5),
        rng.integers(1, 5),
        rng.integers(2, 20),
    )
    mask = _random_mask(rng, batch, length)
    logits = rng.normal(size=(layers, batch, heads, length, length)).astype(np.float32) * 3
    logits = np.where(mask[None, :, None, None, :] > 0, logits, -1e9)  # as the encoder masks
    for layer, head, query in [(None, None, "mean"), (-1, None, "cls"), (0, 0, "mean")]:
        ex = AttentionExplainer(
            layer=layer, head=head, query=query, head_norm=head_norm, token_norm=token_norm
        )
        params = ex.init(layers, heads)
        params = {
            "head_logits": params["head_logits"] + rng.normal(size=params["head_logits"].shape)
        }
        feats = ex.features(jnp.asarray(logits), jnp.asarray(mask))
        # Per-layer arrays (smat's encoders: no stacking copy) give the same features.
        per_layer = ex.features(tuple(jnp.asarray(logits)), jnp.asarray(mask))
        np.testing.assert_allclose(per_layer, feats, rtol=1e-6)
        p = np.asarray(ex.explain(params, feats, jnp.asarray(mask)))
        assert p.shape == (batch, length)
        np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)
        assert np.all(p >= 0) and np.all(p[mask == 0] == 0)


def test_uniform_init_is_the_mean_of_heads():
    ex = AttentionExplainer(head_norm="sparsemax")
    w = ex.head_weights(ex.init(3, 4))
    np.testing.assert_allclose(w, 1 / 12, atol=1e-7)
    assert w.shape == (3, 4)
    ex = AttentionExplainer(layer=-1, head_norm="none")
    assert ex.init(3, 4)["head_logits"].shape == (1, 4)


@pytest.fixture(scope="module")
def tiny_model():
    c = config_lib.base()
    c.model.checkpoint = ""
    c.model.num_layers, c.model.hidden_size, c.model.num_heads = 2, 16, 2
    c.model.intermediate_size = 32
    built = models.build_model(c.model, num_classes=2, vocab_size=50)
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 50, (3, 10)).astype(np.int32)
    mask = _random_mask(rng, 3, 10)
    mask[:, :2] = 1
    params = built.module.init(jax.random.key(0), ids, mask)["params"]
    return built.module, params, {"input_ids": ids, "attention_mask": mask}


def test_integrated_gradients_is_complete(tiny_model):
    module, params, batch = tiny_model
    ids, mask = batch["input_ids"], batch["attention_mask"]
    embeds = module.apply({"params": params}, ids, mask).encoder.input_embeds

    def f(e):
        return module.apply({"params": params}, ids, mask, inputs_embeds=e).logits[:, 1]

    attributions = integrated_gradients(f, embeds, steps=64)
    total = np.asarray(jnp.sum(attributions, (1, 2)))
    expected = np.asarray(f(embeds) - f(jnp.zeros_like(embeds)))
    np.testing.assert_allclose(total, expected, rtol=1e-2, atol=1e-3)
    # Few steps are visibly worse: the quadrature, not luck, gives completeness.
    coarse = np.asarray(jnp.sum(integrated_gradients(f, embeds, steps=1), (1, 2)))
    assert np.max(np.abs(coarse - expected)) > np.max(np.abs(total - expected))


@pytest.mark.parametrize(
    "method", ["gradient_x_input", "gradient_norm", "integrated_gradients", "attention_x_value"]
)
def test_saliency_explainers_on_a_model_are_distributions(tiny_model, method):
    module, params, batch = tiny_model
    ex = SaliencyExplainer(method, temperature=0.1, steps=8)
    out = module.apply({"params": params}, batch["input_ids"], batch["attention_mask"])
    scores = ex.compute(module.apply, params, batch, out)
    assert scores.shape == (3, 10) and np.all(np.isfinite(np.asarray(scores)))
    p = np.asarray(ex.explain({}, scores, batch["attention_mask"]))
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)
    assert np.all(p[batch["attention_mask"] == 0] == 0)

"""train.frozen: named parameters keep their values, carry no optimiser state, and a pattern
that matches nothing is an error."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from smat import config as config_lib
from smat import optim
from smat.errors import ConfigError

PARAMS = {
    "encoder": {
        "embeddings": {"word_embeddings": {"embedding": jnp.ones((50, 4))}},
        "layer_0": {"query": {"kernel": jnp.ones((4, 4)), "bias": jnp.zeros(4)}},
    },
    "head": {"kernel": jnp.ones((4, 2))},
}


def test_frozen_parameters_keep_their_values_and_carry_no_state():
    tx = optim.freeze(optax.adamw(1e-2, weight_decay=0.1), "word_embeddings")
    state = tx.init(PARAMS)
    sizes = [x.size for x in jax.tree.leaves(state)]
    assert sum(sizes) < 2 * 50 * 4  # Adam's two moments of the table are not there
    grads = jax.tree.map(jnp.ones_like, PARAMS)
    updates, _ = jax.jit(tx.update)(grads, state, PARAMS)
    new = optax.apply_updates(PARAMS, updates)
    table = new["encoder"]["embeddings"]["word_embeddings"]["embedding"]
    np.testing.assert_array_equal(
        table, PARAMS["encoder"]["embeddings"]["word_embeddings"]["embedding"]
    )
    assert not np.allclose(new["head"]["kernel"], PARAMS["head"]["kernel"])
    assert not np.allclose(new["encoder"]["layer_0"]["query"]["bias"], 0.0)
    assert optim.freeze(tx, "") is tx and optim.freeze(tx, " , ") is tx


def test_a_frozen_pattern_that_matches_nothing_or_does_not_compile_is_refused():
    with pytest.raises(ConfigError, match="'word_embedings' matches no parameter"):
        optim.freeze(optax.sgd(0.1), "word_embedings").init(PARAMS)
    c = config_lib.base()
    c.train.frozen = "layer_(0"
    with pytest.raises(ConfigError, match="train.frozen: 'layer_\\(0' is not a regular"):
        config_lib.validate(c)

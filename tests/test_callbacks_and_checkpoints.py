"""Early stopping, best tracking and the Orbax checkpointer round trip."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import optax

from smat.callbacks import EarlyStopping, improved
from smat.checkpointing import Checkpointer


def test_improved_respects_mode():
    assert (
        improved(0.5, None, "max") and improved(0.6, 0.5, "max") and not improved(0.5, 0.5, "max")
    )
    assert improved(0.4, 0.5, "min") and not improved(0.6, 0.5, "min")


def test_early_stopping_after_patience_evaluations_and_state_round_trip():
    trainer = types.SimpleNamespace(should_stop=False, stop_reason="")
    es = EarlyStopping("val/accuracy", "max", patience=2)
    stopped = []
    for value in (0.6, 0.7, 0.69, 0.7):  # an equal value is no improvement
        es.on_eval_end(trainer, 0, {"val/accuracy": value})
        stopped.append(trainer.should_stop)
    assert stopped == [False, False, False, True]
    assert "did not improve for 2 evaluations" in trainer.stop_reason
    restored = EarlyStopping("val/accuracy", "max", patience=2)
    restored.load_state_dict(es.state_dict())
    assert restored.state_dict() == {"best": 0.7, "bad_evals": 2}


def test_checkpointer_round_trip_of_train_state_and_best(tmp_path):
    params = {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(3)}
    tx = optax.adamw(1e-3)
    opt_state = tx.update(params, tx.init(params), params)[1]
    state = {"step": jnp.int32(7), "params": params, "opt": opt_state, "rng": jax.random.PRNGKey(3)}
    ckpt = Checkpointer(str(tmp_path), keep=2, async_save=True)
    for step in (5, 7, 9):
        ckpt.save_latest(step, state, {"step": step, "callbacks": {"x": {"best": 0.5}}})
    ckpt.save_best(7, params, {"step": 7, "val/accuracy": 0.8})
    ckpt.wait()
    assert ckpt.latest.all_steps() == [7, 9]  # keep=2
    zeros = jax.tree.map(jnp.zeros_like, state)
    restored, meta, step = ckpt.restore_latest(zeros)
    assert step == 9 and meta["callbacks"] == {"x": {"best": 0.5}}
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state), strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    best, meta = ckpt.restore_best()
    np.testing.assert_array_equal(best["w"], params["w"])
    assert meta == {"step": 7, "val/accuracy": 0.8}
    ckpt.close()

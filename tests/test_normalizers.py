"""sparsemax / 1.5-entmax against float64 numpy references (values and Jacobians)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from smat.explainers.normalizers import entmax15, normalize, sparsemax


def _tau_bisect(z, power, scale):
    """τ with Σ max(scale·z − τ, 0)^power = 1, by bisection in float64."""
    lo, hi = scale * z.max() - 1.0, scale * z.max()
    for _ in range(200):
        mid = (lo + hi) / 2
        if np.sum(np.maximum(scale * z - mid, 0) ** power) > 1:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def ref_sparsemax(z):
    return np.maximum(z - _tau_bisect(z, 1, 1.0), 0)


def ref_entmax15(z):
    return np.maximum(z / 2 - _tau_bisect(z, 2, 0.5), 0) ** 2


def _fd_jacobian(f, z, eps=1e-6):
    return np.stack([(f(z + eps * e) - f(z - eps * e)) / (2 * eps) for e in np.eye(len(z))], 1)


CASES = [(sparsemax, ref_sparsemax), (entmax15, ref_entmax15)]


@pytest.mark.parametrize("fn, ref", CASES)
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("scale", [0.3, 3.0])
def test_values_and_jacobians_match_reference(fn, ref, seed, scale):
    z = np.random.default_rng(seed).normal(size=7) * scale
    p = np.asarray(fn(jnp.asarray(z, jnp.float32)))
    np.testing.assert_allclose(p, ref(z), atol=1e-5)
    assert p.min() >= 0 and abs(p.sum() - 1) < 1e-5
    want = _fd_jacobian(ref, z)
    for jac in (jax.jacfwd, jax.jacrev):
        got = np.asarray(jac(fn)(jnp.asarray(z, jnp.float32)))
        np.testing.assert_allclose(got, want, atol=2e-3)


def test_sparse_outputs_and_batching():
    z = jnp.array([[3.0, 1.0, -2.0, 0.5], [0.0, 0.0, 0.0, 0.0]])
    assert np.sum(np.asarray(sparsemax(z))[0] == 0) >= 2
    np.testing.assert_allclose(sparsemax(z)[1], 0.25, atol=1e-7)  # uniform stays uniform
    np.testing.assert_allclose(entmax15(z)[1], 0.25, atol=1e-6)
    assert np.asarray(entmax15(z))[0, 2] == 0


@pytest.mark.parametrize("name", ["softmax", "sparsemax", "entmax15"])
def test_masked_positions_get_zero_and_gradients_stay_finite(name):
    rng = np.random.default_rng(0)
    scores = jnp.asarray(rng.normal(size=(3, 9)), jnp.float32)
    mask = jnp.asarray(rng.random((3, 9)) > 0.4).at[:, 0].set(True)
    p = normalize(name, scores, mask)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)
    assert np.all(np.asarray(p)[~np.asarray(mask)] == 0)
    # Second-order derivatives (the meta-gradient needs them) are finite.
    hess = jax.hessian(lambda s: jnp.sum(normalize(name, s, mask) ** 2))(scores)
    assert np.all(np.isfinite(np.asarray(hess)))

"""The meta-gradient through the simulated student update, checked by finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from smat.explainers import AttentionExplainer
from smat.models import EncoderConfig, TextClassifier
from smat.simulation import Simulation
from smat.steps import hypergradients
from smat.steps import meta as meta_step
from smat.steps import student as student_steps

TEACHER_LAYERS, TEACHER_HEADS = 2, 3


def _optimizer(name):
    if name == "sgd":
        return optax.sgd(0.5)
    if name == "sgd_clipped":  # the clip threshold is far below the gradient norm: active
        return optax.chain(optax.clip_by_global_norm(1e-3), optax.sgd(50.0))
    if name == "sgd_clip_inactive":  # far above it: the identity, as far as gradients go
        return optax.chain(optax.clip_by_global_norm(1e3), optax.sgd(0.5))
    return optax.adamw(1e-2, eps_root=1e-12, weight_decay=0.01)


def _problem(beta, optimizer, head_norm="softmax", dtype="float64"):
    """A tiny student (float64, or params in float32 computing in `dtype`), random teacher
    predictions and attention features."""
    enc = EncoderConfig(
        vocab_size=40,
        hidden_size=8,
        num_layers=1,
        num_heads=2,
        intermediate_size=16,
        max_position_embeddings=16,
        dropout_rate=0.0,
        attention_dropout_rate=0.0,
        dtype=dtype,
    )
    module = TextClassifier(enc, num_classes=2, classifier_dropout=0.0)
    rng = np.random.default_rng(0)
    b, t = 4, 6
    mask = np.ones((b, t), np.int32)
    mask[1, 4:] = 0
    mask[3, 2:] = 0

    def batch(features):
        out = {
            "input_ids": rng.integers(1, 40, (b, t)).astype(np.int32),
            "attention_mask": mask,
            "weight": np.ones(b),
            "teacher_logits": rng.normal(size=(b, 2)),
        }
        if features:
            f = rng.normal(size=(b, TEACHER_LAYERS, TEACHER_HEADS, t)) * 2
            out["teacher_features"] = np.where(mask[:, None, None, :] > 0, f, -1e9)
        return out

    train, valid = batch(True), batch(False)
    teacher_ex = AttentionExplainer(head_norm=head_norm, learnable=True)
    student_ex = AttentionExplainer(head_norm="softmax")

    param_dtype = jnp.float64 if dtype == "float64" else jnp.float32

    def f64(tree):  # floating leaves to the params' dtype, ids stay integers
        return jax.tree.map(
            lambda x: (
                jnp.asarray(x, param_dtype)
                if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)
                else x
            ),
            tree,
        )

    params = f64(
        {
            "model": module.init(jax.random.key(0), train["input_ids"], mask)["params"],
            "explainer": student_ex.init(1, 2),
        }
    )
    phi = f64(teacher_ex.init(TEACHER_LAYERS, TEACHER_HEADS))
    phi = {"head_logits": phi["head_logits"] + 0.3 * rng.normal(size=phi["head_logits"].shape)}
    sim = Simulation(module.apply, teacher_ex, student_ex, beta)
    tx = _optimizer(optimizer)
    opt_state = tx.init(params)
    # Two real steps first, so optimizer state (Adam's moments) is not at its initial value.
    for i in range(2):
        params, opt_state, _ = student_steps.student_update(
            sim, tx, params, opt_state, phi, train, jax.random.key(i)
        )
    return sim, tx, params, opt_state, phi, f64(train), f64(valid)


@pytest.mark.parametrize(
    "optimizer, head_norm",
    [("sgd", "softmax"), ("sgd", "sparsemax"), ("sgd_clipped", "sparsemax"), ("adamw", "softmax")],
)
def test_meta_gradient_matches_finite_differences(optimizer, head_norm):
    with jax.enable_x64(True):
        sim, tx, params, opt_state, phi, train, valid = _problem(5.0, optimizer, head_norm)
        key = jax.random.key(7)
        grad_fn = jax.jit(
            lambda p: hypergradients.meta_gradient(sim, tx, params, opt_state, p, train, valid, key)
        )
        loss, grad = grad_fn(phi)
        grad = np.asarray(grad["head_logits"])
        base = np.asarray(phi["head_logits"])
        eps = 1e-6
        fd = np.zeros_like(base)
        for idx in np.ndindex(base.shape):
            step = np.zeros_like(base)
            step[idx] = eps
            up = grad_fn({"head_logits": jnp.asarray(base + step)})[0]
            down = grad_fn({"head_logits": jnp.asarray(base - step)})[0]
            fd[idx] = (float(up) - float(down)) / (2 * eps)
        assert np.abs(fd).max() > 1e-7, "the test problem must have a non-trivial meta-gradient"
        # Central differences in float64 carry ~1e-10 of rounding here (|grad| ~ 1e-5): a wrong
        # meta-gradient (e.g. first-order only) is off by O(100%), not 0.1%.
        np.testing.assert_allclose(grad, fd, rtol=1e-3, atol=1e-3 * np.abs(fd).max())


@pytest.mark.parametrize("optimizer", ["sgd", "sgd_clipped", "sgd_clip_inactive", "adamw"])
@pytest.mark.parametrize("head_norm", ["softmax", "sparsemax"])
def test_forward_mode_meta_gradient_equals_reverse_over_reverse(optimizer, head_norm):
    with jax.enable_x64(True):
        sim, tx, params, opt_state, phi, train, valid = _problem(5.0, optimizer, head_norm)
        key = jax.random.key(3)
        args = (sim, tx, params, opt_state, phi, train, valid, key)
        loss_r, grad_r = jax.jit(hypergradients.meta_gradient, static_argnums=(0, 1))(*args)
        loss_f, grad_f = jax.jit(hypergradients.forward_meta_gradient, static_argnums=(0, 1))(*args)
    grad_r, grad_f = np.asarray(grad_r["head_logits"]), np.asarray(grad_f["head_logits"])
    assert np.abs(grad_r).max() > 1e-7
    assert float(loss_f) == pytest.approx(float(loss_r), rel=1e-12)
    np.testing.assert_allclose(grad_f, grad_r, rtol=1e-5, atol=1e-5 * np.abs(grad_r).max())


def test_meta_gradient_is_zero_without_explanation_loss():
    with jax.enable_x64(True):
        sim, tx, params, opt_state, phi, train, valid = _problem(0.0, "sgd")
        _, grad = hypergradients.meta_gradient(
            sim, tx, params, opt_state, phi, train, valid, jax.random.key(0)
        )
    assert np.all(np.asarray(grad["head_logits"]) == 0)


def test_phi_reaches_the_student_only_through_the_explanation_loss():
    with jax.enable_x64(True):
        sim, tx, params, opt_state, phi, train, valid = _problem(5.0, "sgd")
        other = {"head_logits": phi["head_logits"] + 1.0 * np.arange(TEACHER_HEADS)}
        loss_a, aux_a = sim.loss(params, phi, train, jax.random.key(0))
        loss_b, aux_b = sim.loss(params, other, train, jax.random.key(0))
    assert aux_a["simulation_loss"] == aux_b["simulation_loss"]
    assert aux_a["explanation_kl"] != aux_b["explanation_kl"]
    np.testing.assert_allclose(
        float(loss_a) - 5.0 * float(aux_a["explanation_kl"]),
        float(aux_a["simulation_loss"]),
        rtol=1e-12,
    )


def test_neumann_hypergradient_matches_the_closed_form_on_a_quadratic():
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        n, m = 6, 3
        q = rng.normal(size=(n, n))
        a = q @ q.T / n + np.eye(n)  # symmetric positive definite Hessian
        b, c, phi = rng.normal(size=(n, m)), rng.normal(size=n), rng.normal(size=m)
        theta = np.linalg.solve(a, b @ phi)  # argmin of the inner loss

        def inner(t, f):
            return 0.5 * t @ a @ t - t @ b @ f

        def outer(t):
            return 0.5 * jnp.sum((t - c) ** 2)

        exact = b.T @ np.linalg.solve(a, theta - c)  # d outer(θ*(φ)) / dφ
        alpha = 0.9 / np.linalg.eigvalsh(a).max()
        _, approx = hypergradients.neumann_hypergradient(
            inner, outer, jnp.asarray(theta), jnp.asarray(phi), 400, alpha
        )
        np.testing.assert_allclose(approx, exact, rtol=1e-6)
        _, rough = hypergradients.neumann_hypergradient(
            inner, outer, jnp.asarray(theta), jnp.asarray(phi), 2, alpha
        )
        assert np.abs(rough - exact).max() > 1e-3  # the series, not luck, converges


def test_implicit_meta_gradient_on_the_student_problem():
    with jax.enable_x64(True):
        for beta, nonzero in ((5.0, True), (0.0, False)):
            sim, tx, params, opt_state, phi, train, valid = _problem(beta, "sgd")
            _, grad = hypergradients.implicit_meta_gradient(
                sim, params, phi, train, valid, jax.random.key(0), 5, 1e-2
            )
            g = np.asarray(grad["head_logits"])
            assert np.all(np.isfinite(g)) and (np.abs(g).max() > 0) == nonzero


@pytest.mark.parametrize("optimizer", ["sgd_clipped", "adamw"])
def test_online_meta_step_differentiates_the_update_just_taken(optimizer):
    with jax.enable_x64(True):
        sim, tx, params, opt_state, phi, train, valid = _problem(5.0, optimizer)
        state = _state(params, opt_state, phi)
        new_state, _ = jax.jit(
            lambda s: meta_step.learnable_step(
                s,
                train,
                valid,
                sim=sim,
                tx=tx,
                meta_tx=optax.sgd(1.0),  # φ₁ = φ - grad
                lr_schedule=lambda step: 0.0,
                interval=1,
                hypergradient="online",
            )
        )(state)
        inner_rng, _ = jax.random.split(jax.random.fold_in(state.rng, state.step))
        _, expected = hypergradients.meta_gradient(
            sim, tx, params, opt_state, phi, train, valid, inner_rng
        )
        # The student's own update is the plain one.
        plain, _, _ = student_steps.student_update(
            sim, tx, params, opt_state, phi, train, inner_rng
        )
    got = np.asarray(phi["head_logits"] - new_state.phi["head_logits"])
    expected = np.asarray(expected["head_logits"])
    assert np.abs(expected).max() > 1e-7
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12),
        new_state.params,
        plain,
    )


def _state(params, opt_state, phi, step=4):
    return student_steps.StudentState(
        step=jnp.asarray(step),
        params=params,
        opt_state=opt_state,
        rng=jax.random.key(11),
        phi=phi,
        meta_opt_state=optax.sgd(1.0).init(phi),
        last_meta_grad=jax.tree.map(jnp.zeros_like, phi),
    )


def test_meta_step_through_a_simulated_sgd_step_of_an_adam_student():
    """simulated_tx: the student updates with Adam, the meta-gradient goes through SGD."""
    with jax.enable_x64(True):
        sim, tx, params, opt_state, phi, train, valid = _problem(5.0, "adamw")
        state = _state(params, opt_state, phi)
        step = lambda s: meta_step.learnable_step(  # noqa: E731
            s,
            train,
            valid,
            sim=sim,
            tx=tx,
            meta_tx=optax.sgd(1.0),
            lr_schedule=lambda step: 0.0,
            interval=1,
            simulated_tx=optax.sgd(0.5),
        )
        new_state, metrics = jax.jit(step)(state)
        inner_rng, simulated_rng = jax.random.split(jax.random.fold_in(state.rng, state.step))
        plain, _, _ = student_steps.student_update(
            sim, tx, params, opt_state, phi, train, inner_rng
        )
        sgd = optax.sgd(0.5)
        _, expected = hypergradients.meta_gradient(
            sim, sgd, plain, sgd.init(plain), phi, train, valid, simulated_rng
        )
        # The next step compares its meta-gradient with this one.
        again, metrics2 = jax.jit(step)(new_state)
    got = np.asarray(phi["head_logits"] - new_state.phi["head_logits"])
    np.testing.assert_allclose(got, np.asarray(expected["head_logits"]), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(new_state.last_meta_grad["head_logits"], expected["head_logits"])
    assert int(metrics.meta_grad_cosine.count) == 0  # no previous meta-gradient yet
    first = np.asarray(expected["head_logits"]).ravel()
    second = np.asarray(again.last_meta_grad["head_logits"]).ravel()
    cosine = first @ second / np.linalg.norm(first) / np.linalg.norm(second)
    assert int(metrics2.meta_grad_cosine.count) == 1
    np.testing.assert_allclose(float(metrics2.meta_grad_cosine.compute()), cosine, rtol=1e-6)


def test_students_sharing_phi_follow_the_mean_of_their_meta_gradients():
    """meta.num_students = 2: each student takes its own plain update, and φ moves by the mean
    of the two students' meta-gradients on the same φ (each from its own batches and rng);
    one student alone is the K = 1 step."""
    with jax.enable_x64(True):
        sim, tx, params, opt_state, phi, train, valid = _problem(5.0, "adamw")
        # A second student elsewhere in training, with other batches.
        params2, opt2, _ = student_steps.student_update(
            sim, tx, params, opt_state, phi, valid | train, jax.random.key(5)
        )
        train2, valid2 = (jax.tree.map(lambda x: x[::-1], b) for b in (train, valid))
        students = [(params, opt_state, train, valid), (params2, opt2, train2, valid2)]
        rngs = [jax.random.key(11), jax.random.key(12)]

        def stack(*trees):
            return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)

        def step(state, batch, valid_batch, k):
            return jax.jit(
                lambda s, b, v: meta_step.learnable_step(
                    s,
                    b,
                    v,
                    sim=sim,
                    tx=tx,
                    meta_tx=optax.sgd(1.0),  # φ₁ = φ - grad
                    lr_schedule=lambda step: 0.0,
                    interval=1,
                    num_students=k,
                )
            )(state, batch, valid_batch)

        shared = student_steps.StudentState(
            step=jnp.asarray(4),
            params=stack(params, params2),
            opt_state=stack(opt_state, opt2),
            rng=jnp.stack(rngs),
            phi=phi,
            meta_opt_state=optax.sgd(1.0).init(phi),
            last_meta_grad=jax.tree.map(jnp.zeros_like, phi),
        )
        new, metrics = step(shared, stack(train, train2), stack(valid, valid2), 2)
        grads, plains = [], []
        for (p, o, b, v), rng in zip(students, rngs, strict=True):
            inner_rng, simulated_rng = jax.random.split(jax.random.fold_in(rng, 4))
            plain, plain_opt, _ = student_steps.student_update(sim, tx, p, o, phi, b, inner_rng)
            grads.append(
                hypergradients.meta_gradient(sim, tx, plain, plain_opt, phi, b, v, simulated_rng)[1]
            )
            plains.append(plain)
        alone, _ = step(_state(params, opt_state, phi).replace(rng=rngs[0]), train, valid, 1)
    expected = (grads[0]["head_logits"] + grads[1]["head_logits"]) / 2
    got = np.asarray(phi["head_logits"] - new.phi["head_logits"])
    assert np.abs(np.asarray(grads[0]["head_logits"] - grads[1]["head_logits"])).max() > 1e-7
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)
    for k, plain in enumerate(plains):
        jax.tree.map(
            lambda a, b, k=k: np.testing.assert_allclose(a[k], b, rtol=1e-9, atol=1e-12),
            new.params,
            plain,
        )
    np.testing.assert_allclose(
        np.asarray(phi["head_logits"] - alone.phi["head_logits"]),
        np.asarray(grads[0]["head_logits"]),
        rtol=1e-6,
        atol=1e-12,
    )
    assert np.isfinite(float(metrics.loss.compute()))


def test_distance_from_uniform():
    assert float(student_steps.distance_from_uniform(jnp.full((2, 3), 1 / 6))) == pytest.approx(0.0)
    one_hot = jnp.zeros((2, 3)).at[1, 2].set(1.0)
    assert float(student_steps.distance_from_uniform(one_hot)) == pytest.approx(5 / 6)


def test_bfloat16_meta_gradient_is_finite_close_to_float32_and_keeps_float32_state():
    """model.dtype=bfloat16 computes in bf16; params, optimizer state and φ stay float32."""
    grads, states = {}, {}
    for dtype in ("float32", "bfloat16"):
        sim, tx, params, opt_state, phi, train, valid = _problem(5.0, "adamw", "sparsemax", dtype)
        _, grad = jax.jit(hypergradients.meta_gradient, static_argnums=(0, 1))(
            sim, tx, params, opt_state, phi, train, valid, jax.random.key(7)
        )
        grads[dtype] = np.asarray(grad["head_logits"], np.float64)
        states[dtype] = (params, opt_state, grad)
    g32, g16 = grads["float32"], grads["bfloat16"]
    assert np.isfinite(g16).all() and np.abs(g32).max() > 1e-7
    # bf16 keeps 8 bits of mantissa: the meta-gradient's direction survives, its entries to
    # within 10% of the float32 norm (measured on CPU: cosine 0.9999995, 0.8% relative error).
    cosine = g16.ravel() @ g32.ravel() / (np.linalg.norm(g16) * np.linalg.norm(g32))
    assert cosine > 0.99, cosine
    assert np.linalg.norm(g16 - g32) < 0.1 * np.linalg.norm(g32)
    for leaf in jax.tree.leaves(states["bfloat16"]):
        if jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.floating):
            assert jnp.asarray(leaf).dtype == jnp.float32

"""A script written for the original SMAT code's compact API runs on smat: a `WrappedModel`
registered with `register_model`, a `dataloader(dataset, batch_size, shuffle)` and
`smat.compact.train_explainer(...)` with the original's arguments."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from smat.compact import train_explainer
from smat.errors import ConfigError
from smat.models import WrappedModel, register_model

VOCAB, LENGTH = 40, 12


@register_model("compact_test_model")
class TinyOriginalModel(WrappedModel):
    """A model as the original code wrote them: (logits, state) with state["attentions"]."""

    num_classes: int = 2
    vocab_size: int = VOCAB
    dim: int = 16
    heads: int = 2
    layers: int = 2

    @nn.compact
    def __call__(self, input_ids, attention_mask=None, **kwargs):
        b, t = input_ids.shape
        d = self.dim // self.heads
        x = nn.Embed(self.vocab_size, self.dim)(input_ids)
        attentions = []
        for _ in range(self.layers):
            q, k, v = (nn.Dense(self.dim)(x).reshape(b, t, self.heads, d) for _ in range(3))
            logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(d)
            logits = jnp.where(attention_mask[:, None, None, :] > 0, logits, -1e9)
            attentions.append(logits)
            mixed = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(logits, -1), v)
            x = nn.LayerNorm()(x + mixed.reshape(b, t, self.dim))
        m = attention_mask[..., None].astype(x.dtype)
        pooled = jnp.sum(x * m, 1) / jnp.sum(m, 1)
        return nn.Dense(self.num_classes)(pooled), {"attentions": attentions}

    @classmethod
    def initialize_new_model(cls, key, inputs, num_classes, vocab_size=None, **kwargs):
        model = cls(num_classes=num_classes, vocab_size=vocab_size or VOCAB)
        return model, model.init(key, **inputs)


def _dataset(n: int, seed: int) -> list[dict]:
    """A list of examples (the original took lists or HF datasets)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        length = int(rng.integers(6, LENGTH + 1))
        ids = np.zeros(LENGTH, np.int32)
        ids[:length] = rng.integers(2, VOCAB, size=length)
        mask = (np.arange(LENGTH) < length).astype(np.int32)
        out.append({"input_ids": ids, "attention_mask": mask, "label": int((ids == 5).sum() > 1)})
    return out


def dataloader(dataset, batch_size, shuffle=False, extra=False):
    order = np.random.default_rng(0).permutation(len(dataset)) if shuffle else range(len(dataset))
    order = list(order)
    for start in range(0, len(order), batch_size):
        rows = [dataset[i] for i in order[start : start + batch_size]]
        x = {
            k: jnp.asarray(np.stack([r[k] for r in rows])) for k in ("input_ids", "attention_mask")
        }
        if extra:
            x["token_type_ids"] = jnp.zeros_like(x["input_ids"])
        yield x, jnp.asarray([r["label"] for r in rows])


@pytest.fixture(scope="module")
def teacher():
    """A teacher trained on gold labels with a plain optax loop, as the original's example."""
    example = next(dataloader(_dataset(1, 0), batch_size=1))[0]
    model, params = TinyOriginalModel.initialize_new_model(jax.random.key(7), example, 2)
    tx = optax.adam(3e-3)
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, x, y):
        def loss(p):
            logits, _ = model.apply(p, **x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        grads = jax.grad(loss)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    for _ in range(3):
        for x, y in dataloader(_dataset(256, 11), batch_size=32, shuffle=True):
            params, opt_state = step(params, opt_state, x, y)
    x, y = next(dataloader(_dataset(256, 12), batch_size=256))
    accuracy = float((model.apply(params, **x)[0].argmax(-1) == y).mean())
    assert accuracy > 0.7, accuracy  # it learned the task (label: token 5 at least twice)
    return model, params


COMMON = dict(task_type="classification", batch_size=8, max_epochs=2, log=False)


def test_the_original_compact_call_learns_an_explainer(teacher, tmp_path):
    model, params = teacher
    explainer, phi = train_explainer(
        teacher_model=model,
        teacher_params=params,
        dataloader=dataloader,
        train_dataset=_dataset(160, 1),
        valid_dataset=_dataset(32, 2),
        num_examples=0.1,  # the original's documented call
        student_model="compact_test_model",
        explainer_args={"normalize_head_coeffs": "sparsemax", "aggregator_idx": "mean"},
        explanation_regularizer=5.0,
        explainer_lr=5e-2,
        workdir=str(tmp_path / "run"),
        **COMMON,
    )
    assert phi["head_logits"].shape == (2, 2)  # one coefficient per layer and head
    assert explainer.summary["setup"] == "learnable_teacher"
    assert explainer.summary["status"] == "finished"
    x, _ = next(dataloader(_dataset(3, 5), batch_size=3))
    scores = explainer.scores({k: np.asarray(v) for k, v in x.items()})
    np.testing.assert_allclose(scores.sum(1), 1.0, atol=1e-5)
    assert np.all(scores[np.asarray(x["attention_mask"]) == 0] == 0)


def test_a_student_module_with_params_comes_back_as_the_original_returned_it(teacher, tmp_path):
    model, params = teacher
    student, student_params = TinyOriginalModel.initialize_new_model(
        jax.random.key(3), next(dataloader(_dataset(1, 0), batch_size=1))[0], 2
    )
    (explainer, phi), (s_model, s_params), (s_explainer, psi) = train_explainer(
        teacher_model=model,
        teacher_params=params,
        dataloader=dataloader,
        train_dataset=_dataset(48, 1),
        valid_dataset=_dataset(16, 2),
        num_examples=24,
        student_model=student,
        student_params=student_params,
        num_classes=2,
        return_student=True,
        workdir=str(tmp_path / "run"),
        **COMMON,
    )
    assert s_model is student and s_explainer["name"] == "attention"
    assert jax.tree.structure(s_params) == jax.tree.structure(student_params)
    x, _ = next(dataloader(_dataset(2, 9), batch_size=2))
    logits, state = s_model.apply(s_params, **x)  # the original's call, with trained params
    assert logits.shape == (2, 2) and len(state["attentions"]) == 2
    assert psi is not None and phi["head_logits"].shape == (2, 2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"explainer_args": {"temperature": 2}}, "explainer_args temperature=2 has no smat"),
        ({"explainer_type": "lime"}, "explainer_type='lime'"),
        ({"num_classes": 3}, "num_classes=3, but the teacher has 2 outputs"),
        ({"num_examples": 500}, "num_examples=500 gives 500 of 64"),
        ({"task_type": "ranking"}, "task_type='ranking'"),
        ({"dataloader": lambda d, **kw: dataloader(d, extra=True, **kw)}, "token_type_ids"),
    ],
)
def test_arguments_smat_cannot_honour_are_refused_in_one_line(teacher, tmp_path, change, message):
    model, params = teacher
    args = dict(
        teacher_model=model,
        teacher_params=params,
        dataloader=dataloader,
        train_dataset=_dataset(64, 1),
        valid_dataset=_dataset(16, 2),
        student_model="compact_test_model",
        workdir=str(tmp_path / "run"),
        **COMMON,
    )
    args.update(change)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        train_explainer(**args)

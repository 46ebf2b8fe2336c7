"""`smat.train_explainer` with users' own linen and nnx models; save/load; clear errors."""

import importlib.util
import inspect
import os
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import smat
from smat import config as config_lib
from smat.errors import ConfigError
from tests.conftest import REPO

VOCAB, LENGTH = 40, 12


def _example_module():
    path = os.path.join(REPO, "experiments", "custom_model.py")
    spec = importlib.util.spec_from_file_location("smat_custom_model_example", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # importable by name, as an installed user module would be
    spec.loader.exec_module(module)
    return module


example = _example_module()


def _data(n: int, seed: int) -> dict[str, np.ndarray]:
    """Generated reviews: label 1 iff token 5 occurs more often than token 6."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(2, VOCAB, size=(n, LENGTH)).astype(np.int32)
    mask = np.ones_like(ids)
    lengths = rng.integers(6, LENGTH + 1, size=n)
    mask[np.arange(LENGTH)[None, :] >= lengths[:, None]] = 0
    ids[mask == 0] = 0
    label = ((ids == 5).sum(1) > (ids == 6).sum(1)).astype(np.int32)
    return {"input_ids": ids, "attention_mask": mask, "label": label}


TINY = {
    "train.batch_size": 8,
    "train.eval_batch_size": 16,
    "train.num_steps": 6,
    "train.eval_every_steps": 3,
    "train.log_every_steps": 3,
    "ckpt.every_steps": 3,
    "optim.learning_rate": 1e-3,
    "meta.optim.learning_rate": 5e-2,
    "progress": False,
}


def _linen_teacher():
    model = example.TinyTextClassifier(vocab_size=VOCAB, dim=16, heads=2, layers=2, max_length=12)
    d = _data(1, 0)
    params = model.init(jax.random.key(1), d["input_ids"], d["attention_mask"])["params"]
    return model, params


def test_linen_model_learns_an_explainer_that_saves_and_loads(tmp_path):
    model, params = _linen_teacher()
    explainer = smat.train_explainer(
        teacher=model,
        teacher_params=params,
        train_data=_data(64, 1),
        valid_data=_data(32, 2),
        test_data=_data(48, 3),
        num_examples=32,
        workdir=str(tmp_path / "run"),
        config=TINY,
    )
    s = explainer.summary
    assert s["status"] == "finished" and s["setup"] == "learnable_teacher"
    assert s["test/examples"] == 48 and 0.0 <= s["test/simulability"] <= 1.0
    weights = explainer.head_weights
    assert weights.shape == (2, 2)
    np.testing.assert_allclose(weights.sum(), 1.0, atol=1e-6)
    assert not np.allclose(weights, 0.25), "the meta-step did not move the head weights"
    batch = _data(5, 4)
    scores = explainer.scores(batch)
    assert scores.shape == (5, LENGTH)
    np.testing.assert_allclose(scores.sum(1), 1.0, atol=1e-5)
    assert np.all(scores[batch["attention_mask"] == 0] == 0)

    explainer.save(str(tmp_path / "saved"))
    again = smat.load_explainer(str(tmp_path / "saved"))  # rebuilt from the module's class
    np.testing.assert_array_equal(again.scores(batch), scores)
    np.testing.assert_array_equal(again.head_weights, weights)
    given = smat.load_explainer(str(tmp_path / "saved"), teacher=model)
    np.testing.assert_array_equal(given.scores(batch), scores)
    assert again.summary["test/simulability"] == s["test/simulability"]


def test_several_students_share_the_learned_explainer_through_the_api(tmp_path):
    model, params = _linen_teacher()
    explainer = smat.train_explainer(
        teacher=model,
        teacher_params=params,
        train_data=_data(64, 1),
        valid_data=_data(32, 2),
        num_examples=32,
        num_students=3,
        workdir=str(tmp_path / "run"),
        config=TINY,
    )
    s = explainer.summary
    per_student = [s[f"test/student{k}/simulability"] for k in range(3)]
    assert s["test/simulability"] == pytest.approx(np.mean(per_student))
    assert explainer.head_weights.shape == (2, 2)  # one explainer for the three
    with pytest.raises(ConfigError, match="num_students"):
        smat.train_explainer(
            teacher=model,
            teacher_params=params,
            train_data=_data(64, 1),
            valid_data=_data(32, 2),
            learn=False,
            num_students=2,
            config=TINY,
        )


class NnxClassifier(nnx.Module):
    """One self-attention layer in nnx, returning smat.ModelOutput."""

    def __init__(self, vocab: int, dim: int, heads: int, rngs: nnx.Rngs):
        self.heads = heads
        self.embed = nnx.Embed(vocab, dim, rngs=rngs)
        self.qkv = nnx.Linear(dim, 3 * dim, rngs=rngs)
        self.drop = nnx.Dropout(0.1, rngs=rngs)
        self.out = nnx.Linear(dim, 2, rngs=rngs)

    def __call__(self, input_ids, attention_mask, inputs_embeds=None):
        x = self.embed(input_ids) if inputs_embeds is None else inputs_embeds
        b, t, d = x.shape
        q, k, v = jnp.split(self.qkv(x).reshape(b, t, self.heads, -1), 3, axis=-1)
        logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(q.shape[-1])
        logits = jnp.where(attention_mask[:, None, None, :].astype(bool), logits, -1e9)
        h = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(logits, -1), v).reshape(b, t, -1)
        h = self.drop(h)
        m = attention_mask[..., None].astype(h.dtype)
        pooled = jnp.sum(h * m, 1) / jnp.sum(m, 1)
        return smat.ModelOutput(self.out(pooled), logits[None], x)


def test_nnx_model_goes_through_train_explainer(tmp_path):
    teacher = NnxClassifier(VOCAB, 12, 3, nnx.Rngs(0, dropout=1))
    with pytest.raises(ConfigError, match="nnx module is initialised by its constructor"):
        smat.train_explainer(
            teacher=teacher, train_data=_data(64, 1), valid_data=_data(32, 2), config=TINY
        )
    explainer = smat.train_explainer(
        teacher=teacher,  # nnx instances bring their params
        student=NnxClassifier(VOCAB, 12, 3, nnx.Rngs(5, dropout=6)),
        train_data=_data(64, 1),
        valid_data=_data(32, 2),
        num_examples=0.5,  # a fraction of train_data
        workdir=str(tmp_path / "run"),
        config=TINY,
    )
    assert explainer.summary["num_examples"] == 32
    assert explainer.head_weights.shape == (1, 3)
    batch = _data(4, 9)
    scores = explainer.scores(batch)
    np.testing.assert_allclose(scores.sum(1), 1.0, atol=1e-5)
    explainer.save(str(tmp_path / "saved"))
    with pytest.raises(ConfigError, match="teacher=<your module>"):
        smat.load_explainer(str(tmp_path / "saved"))
    again = smat.load_explainer(str(tmp_path / "saved"), teacher=teacher)
    np.testing.assert_array_equal(again.scores(batch), scores)


class LogitsOnly(nn.Module):
    """Returns bare logits: no attention, no embeddings."""

    @nn.compact
    def __call__(self, input_ids, attention_mask):
        x = nn.Embed(VOCAB, 8)(input_ids)
        return nn.Dense(2)(jnp.mean(x, 1))


def test_a_model_without_what_the_explainer_needs_is_refused_clearly(tmp_path):
    model = LogitsOnly()
    d = _data(1, 0)
    params = model.init(jax.random.key(0), d["input_ids"], d["attention_mask"])["params"]
    kwargs = dict(
        teacher=model,
        teacher_params=params,
        train_data=_data(64, 1),
        valid_data=_data(32, 2),
        num_examples=32,
        config=TINY,
    )
    with pytest.raises(ConfigError, match="needs attention logits, but the teacher model returns"):
        smat.train_explainer(**kwargs, workdir=str(tmp_path / "a"))
    with pytest.raises(ConfigError, match="must take `inputs_embeds=None`"):
        smat.train_explainer(**kwargs, explainer="gradient_x_input", workdir=str(tmp_path / "g"))
    # The student explains itself with attention whenever beta > 0.
    teacher, t_params = _linen_teacher()
    with pytest.raises(ConfigError, match="the student model returns none"):
        smat.train_explainer(
            **{**kwargs, "teacher": teacher, "teacher_params": t_params},
            student=model,
            workdir=str(tmp_path / "s"),
        )
    with pytest.raises(ConfigError, match="'train.nope': no such field"):
        smat.train_explainer(**{**kwargs, "config": {"train.nope": 1}})


@smat.register_model("tiny_test_classifier")
def _tiny_classifier(cfg, num_classes, vocab_size):
    return example.TinyTextClassifier(
        vocab_size=vocab_size, dim=16, heads=2, layers=1, max_length=12, num_outputs=num_classes
    )


def _word_level_tokenizer(size: int = VOCAB):
    """The tokenizer of `_data`'s ids: [PAD] = 0, [UNK] = 1, then words w2, w3, ..."""
    import tokenizers

    vocab = {"[PAD]": 0, "[UNK]": 1, **{f"w{i}": i for i in range(2, size)}}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    return tok


def test_gradient_explainer_and_a_registered_student_explain_raw_text(tmp_path):
    model, params = _linen_teacher()
    explainer = smat.train_explainer(
        teacher=model,
        teacher_params=params,
        student="tiny_test_classifier",  # built by name from the registry
        train_data=_data(64, 1),
        valid_data=_data(32, 2),
        num_examples=32,
        explainer="gradient_x_input",
        beta=0.2,
        workdir=str(tmp_path / "run"),
        config=TINY,
        tokenizer=_word_level_tokenizer(),
    )
    assert explainer.summary["setup"] == "static_teacher"
    assert explainer.head_weights is None
    batch = _data(3, 5)
    scores = explainer.scores(batch)
    np.testing.assert_allclose(scores.sum(1), 1.0, atol=1e-5)
    # The tokenizer given to train_explainer: raw text in, words and their scores out.
    text = " ".join(f"w{i}" for i in batch["input_ids"][0][batch["attention_mask"][0] == 1])
    a = explainer.explain(text, aggregate="word")
    assert a.words == text.split() and a.target == a.prediction
    np.testing.assert_allclose(a.word_scores, scores[0][: len(a.words)], rtol=1e-5, atol=1e-7)
    explainer.save(str(tmp_path / "saved"))
    loaded = smat.load_explainer(str(tmp_path / "saved"))
    np.testing.assert_array_equal(loaded.scores(batch), scores)
    np.testing.assert_array_equal(loaded.explain(text).token_scores, a.token_scores)


def test_a_tokenizer_that_cannot_have_made_the_data_is_refused_before_training(tmp_path):
    model, params = _linen_teacher()
    with pytest.raises(ConfigError, match="the data has token id 39 but the tokenizer only 10"):
        smat.train_explainer(
            teacher=model,
            teacher_params=params,
            train_data=_data(64, 1),
            valid_data=_data(32, 2),
            workdir=str(tmp_path / "run"),
            config=TINY,
            tokenizer=_word_level_tokenizer(10),
        )
    assert not os.path.exists(tmp_path / "run" / "checkpoints")
    assert "tokenizer" in inspect.signature(smat.train_explainer).parameters


def test_train_explainer_defaults_are_the_documented_config_defaults():
    c = config_lib.student_base(config_lib.base())
    defaults = dict(inspect.signature(smat.train_explainer).parameters)
    assert defaults.pop("tokenizer").default is None  # train_explainer's one argument more
    assert defaults == dict(inspect.signature(smat.student_trainer).parameters)
    assert defaults["num_examples"].default == c.num_examples
    assert defaults["beta"].default == c.beta
    assert defaults["seed"].default == c.seed
    assert defaults["explainer"].default == c.teacher_explainer.name
    assert c.optim.warmup_steps == 0  # no hidden warmup (the original added 1000 steps)


def test_custom_model_example_runs_in_smoke_size(tmp_path):
    result = example.run("smoke", str(tmp_path / "example"))
    assert 0.0 <= result["student_test_simulability"] <= 1.0
    assert len(result["head_weights"]) == 2 and len(result["top_tokens_of_first_test_review"]) == 8


def test_regression_teacher_is_simulated_with_pearson_r(tmp_path):
    model = example.TinyTextClassifier(
        vocab_size=VOCAB, dim=16, heads=2, layers=2, max_length=12, num_outputs=1
    )
    d = _data(1, 0)
    params = model.init(jax.random.key(2), d["input_ids"], d["attention_mask"])["params"]

    def scored(n, seed):
        data = _data(n, seed)
        data["label"] = (data["input_ids"] == 5).mean(1).astype(np.float32)  # a gold score
        return data

    explainer = smat.train_explainer(
        teacher=model,
        teacher_params=params,
        train_data=scored(64, 1),
        valid_data=scored(32, 2),
        test_data=scored(48, 3),
        num_examples=32,
        task="regression",
        workdir=str(tmp_path / "run"),
        config={**TINY, "optim.learning_rate": 3e-3},
    )
    s = explainer.summary
    assert -1.0 <= s["test/simulability"] <= 1.0 and s["test/rmse"] >= 0.0
    np.testing.assert_allclose(s["test/rmse"] ** 2, s["test/loss"], rtol=1e-5)
    # The summary's simulability is Pearson r of the saved per-example outputs.
    p = np.load(tmp_path / "run" / "test_predictions.npz")
    r = np.corrcoef(p["student_logits"][:, 0], p["teacher_logits"][:, 0])[0, 1]
    np.testing.assert_allclose(s["test/simulability"], r, atol=1e-4)
    assert -1.0 <= s["test/teacher_accuracy"] <= 1.0  # Pearson r with the gold scores


def test_pearson_metric_merges_over_batches_like_numpy():
    from smat import tasks

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    y = 0.6 * x + y
    w = np.ones(50)
    w[45:] = 0  # padding rows
    stats = sum(
        tasks.pearson_stats(
            jnp.asarray(x[i : i + 10]), jnp.asarray(y[i : i + 10]), jnp.asarray(w[i : i + 10])
        )
        for i in range(0, 50, 10)
    )
    np.testing.assert_allclose(
        tasks.pearson_from_stats(stats), np.corrcoef(x[:45], y[:45])[0, 1], rtol=1e-5
    )
    assert float(tasks.pearson_from_stats(tasks.pearson_stats(x, 0 * x, w))) == 0.0


def test_train_teacher_trains_on_in_memory_data_with_the_cli_trainer(tmp_path):
    model = example.TinyTextClassifier(vocab_size=VOCAB, dim=16, heads=2, layers=1, max_length=12)
    params, summary = smat.train_teacher(
        model,
        train_data=_data(256, 1),
        valid_data=_data(64, 2),
        workdir=str(tmp_path / "teacher"),
        config={
            **{k: v for k, v in TINY.items() if not k.startswith("meta.")},
            "train.num_steps": 40,
            "train.eval_every_steps": 20,
            "optim.learning_rate": 3e-3,
        },
    )
    assert summary["status"] == "finished" and summary["best_step"] in (20, 40)
    assert 0.0 <= summary["test/accuracy"] <= 1.0
    logits = model.apply(
        {"params": params}, _data(8, 3)["input_ids"], _data(8, 3)["attention_mask"]
    ).logits
    assert logits.shape == (8, 2)

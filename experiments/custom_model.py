"""Bring your own model: a small Flax text classifier written from scratch, trained on the
offline IMDB reviews, then a learned explainer for it with `smat.train_explainer`.

    python experiments/custom_model.py                 # a few minutes on a laptop CPU
    python experiments/custom_model.py --size smoke    # seconds (what the test suite runs)

What the model must give smat (see smat/models/protocol.py): logits, every layer's pre-softmax
attention logits [layers, batch, heads, query, key] for the attention explainer, and (for
gradient explainers) the looked-up embeddings plus an `inputs_embeds=` argument.
"""

from __future__ import annotations

import argparse
import json
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

import smat
from smat.data.imdb import read_imdb
from smat.data.tokenization import encode, tokenizer_file
from smat.models import hf_checkpoint

SIZES = {
    # teacher examples, teacher steps, student pool, valid, test, student examples, epochs
    "smoke": dict(teacher=256, teacher_steps=30, pool=128, valid=64, test=64, n=64, epochs=2),
    "default": dict(
        teacher=4000, teacher_steps=500, pool=2000, valid=500, test=1000, n=500, epochs=5
    ),
}


class SelfAttentionBlock(nn.Module):
    """Pre-norm multi-head self-attention + MLP that also returns its attention logits."""

    dim: int
    heads: int
    dropout: float = 0.1

    @nn.compact
    def __call__(self, x, mask, deterministic):
        h = nn.LayerNorm()(x)
        q, k, v = (
            nn.DenseGeneral((self.heads, self.dim // self.heads), name=n)(h)
            for n in ("query", "key", "value")
        )
        logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(q.shape[-1])
        logits = jnp.where(mask[:, None, None, :].astype(bool), logits, -1e9)
        probs = nn.Dropout(self.dropout)(jax.nn.softmax(logits, -1), deterministic=deterministic)
        att = jnp.einsum("bhqk,bkhd->bqhd", probs, v)
        x = x + nn.DenseGeneral(self.dim, axis=(-2, -1), name="out")(att)
        h = nn.Dense(self.dim)(nn.gelu(nn.Dense(2 * self.dim)(nn.LayerNorm()(x))))
        return x + nn.Dropout(self.dropout)(h, deterministic=deterministic), logits


class TinyTextClassifier(nn.Module):
    """Token + position embeddings, `layers` attention blocks, masked mean pooling, linear."""

    vocab_size: int
    dim: int = 64
    heads: int = 4
    layers: int = 2
    max_length: int = 128
    num_outputs: int = 2  # classes (1: a regression score)

    @nn.compact
    def __call__(self, input_ids, attention_mask, inputs_embeds=None, deterministic=True):
        if inputs_embeds is None:
            inputs_embeds = nn.Embed(self.vocab_size, self.dim, name="embed")(input_ids)
        positions = self.param(
            "positions", nn.initializers.normal(0.02), (self.max_length, self.dim)
        )
        x = inputs_embeds + positions[: input_ids.shape[1]]
        all_logits = []
        for i in range(self.layers):
            x, logits = SelfAttentionBlock(self.dim, self.heads, name=f"block_{i}")(
                x, attention_mask, deterministic
            )
            all_logits.append(logits)
        m = attention_mask[..., None].astype(x.dtype)
        pooled = jnp.sum(nn.LayerNorm()(x) * m, 1) / jnp.sum(m, 1)
        return smat.ModelOutput(
            logits=nn.Dense(self.num_outputs, name="classifier")(pooled),
            attention_logits=jnp.stack(all_logits),
            input_embeds=inputs_embeds,
        )


def imdb_arrays(size: dict, max_length: int = 128) -> dict[str, dict[str, np.ndarray]]:
    """Disjoint teacher / student-pool / valid / test parts of the offline IMDB reviews."""
    texts, labels, _ = read_imdb("packaged", "text", "label")
    order = np.random.default_rng(0).permutation(len(texts))
    tok = tokenizer_file(hf_checkpoint.resolve("minilm"))
    parts, start = {}, 0
    for name in ("teacher", "pool", "valid", "test"):
        idx = order[start : start + size[name]]
        start += size[name]
        arrays = encode([texts[i] for i in idx], tok, max_length, "~/.cache/smat")
        arrays["label"] = np.asarray(labels)[idx]
        parts[name] = arrays
    return parts


def train_teacher(model, data, steps: int, seed: int = 0, batch: int = 32):
    """A plain optax loop: this part is yours, smat does not need to know about it."""
    params = model.init(jax.random.key(seed), data["input_ids"][:1], data["attention_mask"][:1])
    tx = optax.adamw(1e-3)
    opt_state = tx.init(params["params"])

    @jax.jit
    def step(p, opt_state, ids, mask, y, rng):
        def loss_fn(p):
            out = model.apply({"params": p}, ids, mask, deterministic=False, rngs={"dropout": rng})
            return optax.softmax_cross_entropy_with_integer_labels(out.logits, y).mean()

        loss, grads = jax.value_and_grad(loss_fn)(p)
        updates, opt_state = tx.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), opt_state, loss

    p, n = params["params"], len(data["label"])
    rng = np.random.default_rng(seed)
    for i in range(steps):
        idx = rng.choice(n, batch, replace=False)
        p, opt_state, _ = step(
            p,
            opt_state,
            data["input_ids"][idx],
            data["attention_mask"][idx],
            data["label"][idx],
            jax.random.key(i),
        )
    return p


def accuracy(model, params, data) -> float:
    logits = jax.jit(lambda p, i, m: model.apply({"params": p}, i, m).logits)(
        params, data["input_ids"], data["attention_mask"]
    )
    return float(np.mean(np.argmax(logits, -1) == data["label"]))


def run(size: str = "default", workdir: str | None = None) -> dict:
    s = SIZES[size]
    start = time.time()
    parts = imdb_arrays(s)
    model = TinyTextClassifier(vocab_size=30522)
    params = train_teacher(model, parts["teacher"], s["teacher_steps"])
    teacher_acc = accuracy(model, params, parts["test"])
    print(f"teacher test accuracy: {teacher_acc:.4f} ({time.time() - start:.0f} s)")

    explainer = smat.train_explainer(
        teacher=model,
        teacher_params=params,
        train_data=parts["pool"],
        valid_data=parts["valid"],
        test_data=parts["test"],
        num_examples=s["n"],
        student="same",
        explainer="attention",
        workdir=workdir,
        tokenizer=tokenizer_file(hf_checkpoint.resolve("minilm")),  # explains text, not ids
        config={
            "train.num_epochs": float(s["epochs"]),
            "train.eval_every_steps": max(s["n"] // 16, 1),
            "optim.learning_rate": 1e-3,
            "optim.schedule": "constant",
        },
    )
    (first,) = explainer.explain({k: v[:1] for k, v in parts["test"].items()})
    result = {
        "teacher_test_accuracy": round(teacher_acc, 4),
        "student_test_simulability": round(explainer.summary["test/simulability"], 4),
        "head_weights": [[round(float(w), 3) for w in row] for row in explainer.head_weights],
        "top_tokens_of_first_test_review": [token for token, _ in first.top(8)],
        "wall_time_s": round(time.time() - start, 1),
    }
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="default")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    run(args.size, args.workdir)
